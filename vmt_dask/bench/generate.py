"""Generation: one realization vs float32 FFT round trips of the same grid, in one run.

``python -m vmt_dask.bench generate --size 401 [--preset BM01] [--repeat 3]``

Each measurement runs in a fresh process; peak memory is the process's maximum resident set
minus its resident set just before the call (interpreter and imports excluded), reported in
MiB and in bytes per voxel of the realization.  Goal (issue 2): at most 8 round trips of time
and at most 16 bytes per voxel.
"""
from __future__ import annotations

import os
import statistics

from ._measure import format_table, measure_in_child


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _fft_roundtrip(n: int):
    import numpy as np
    import scipy.fft

    from ..model.fields import default_threads

    a = np.random.default_rng(0).standard_normal((n, n, n), dtype=np.float32)
    base = _rss_mib()
    import time

    t0 = time.perf_counter()
    w = default_threads()
    b = scipy.fft.irfftn(scipy.fft.rfftn(a, workers=w), s=a.shape, workers=w)
    wall = time.perf_counter() - t0
    return {"wall": wall, "base": base - a.nbytes / 2**20, "dtype": str(b.dtype)}


def _realize(name: str, n: int, seed: int):
    import time

    import numpy as np

    from ..model import CALIBRATED, realize

    base = _rss_mib()
    t0 = time.perf_counter()
    labels = realize(CALIBRATED[name], n, seed=seed)
    wall = time.perf_counter() - t0
    fr = np.bincount(labels.ravel(), minlength=3) / labels.size
    return {"wall": wall, "base": base, "SE": float(fr[1]), "AM": float(fr[2]), "pore": float(fr[0])}


def add_arguments(p) -> None:
    p.add_argument("--size", type=int, default=401)
    p.add_argument("--preset", default="BM01", choices=["BM01", "BM03", "BM10"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3, help="repetitions (median is reported)")


def run(args) -> int:
    n = args.size
    voxels = n ** 3
    rows, fft_walls, gen_walls = [], [], []
    for i in range(args.repeat):
        wall_in, peak, v = measure_in_child(_fft_roundtrip, n)
        fft_walls.append(v["wall"])
        rows.append({"what": f"scipy.fft rfftn+irfftn float32 {n}^3", "run": i + 1,
                     "wall s": f"{v['wall']:.3f}", "peak MiB (above baseline)": f"{peak - v['base']:.0f}",
                     "bytes/voxel": f"{(peak - v['base']) * 2**20 / voxels:.1f}", "values": ""})
        wall_in, peak, v = measure_in_child(_realize, args.preset, n, args.seed + i)
        gen_walls.append(v["wall"])
        rows.append({"what": f"vmt_dask realize {args.preset} {n}^3", "run": i + 1,
                     "wall s": f"{v['wall']:.3f}", "peak MiB (above baseline)": f"{peak - v['base']:.0f}",
                     "bytes/voxel": f"{(peak - v['base']) * 2**20 / voxels:.1f}",
                     "values": f"SE {v['SE']:.4f} AM {v['AM']:.4f} pore {v['pore']:.4f}"})
    print(format_table(rows, ["what", "run", "wall s", "peak MiB (above baseline)", "bytes/voxel", "values"]))
    ratio = statistics.median(gen_walls) / statistics.median(fft_walls)
    print(f"\nmedian realize / median FFT round trip = {ratio:.2f} round trips (goal <= 8)")
    return 0
