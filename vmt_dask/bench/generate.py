"""Generation: realizations vs float32 FFT round trips of the same grid, in one run.

``python -m vmt_dask.bench generate [--sizes 64,128,401] [--preset BM01] [--repeat 3]
[--generator lattice,point,fast,simd] [--threads 1,2] [--profile]``

For each size and thread count (``--threads``; default all cores: the FFT's workers and the
realization's threads), each measurement runs in a fresh process: a scipy.fft rfftn + irfftn round
trip of an n^3 float32 array (the physical reference: a spectral generator needs at least one
per field) and one realization.  Printed: wall and CPU seconds (the machine may be shared: CPU
seconds of the whole process, all its threads, are the steadier figure), voxels per second, peak
memory above the process's baseline (MiB and bytes per voxel), the realization in FFT round trips
(wall and CPU), and the
per-process start-up cost of a realization (imports and numba cache loads: the first call in a
fresh process minus a second call), which is what a small-volume task pays on a fresh worker.
Every size also times that second call (another seed) in CPU seconds and counts both calls'
minor page faults: the second call reuses the first one's work buffers
(``realize.BUFFER_POOL_BYTES``), as a study worker's later realizations do.
Beside each measurement: the CPU-time estimate of :mod:`vmt_dask.model.cost` (what ``vmt
generate`` uses to refuse runs of hours), so its error is visible.

``--profile`` adds, per size and per direct-convolution generator listed ("fast", "simd", "simd2"), one
realization taken apart field by field (fresh process, one thread): path (direct or spectral),
kernel half-widths, counted tap pairs and noise values, CPU seconds of the field (timed inside
that realization's own calls) and of its noise alone (a separate noise box), and so ns per tap
pair of the convolution and ns per noise value; then the two labelling passes, and the rest
(allocations, the zero-fill of the sums' buffer, Python) = the realization's CPU minus the parts.
Goals (issue 14): one 401^3 realization <= 3 s and about 2 round trips; <= 16 bytes/voxel.
"""
from __future__ import annotations

import os
import statistics
import time

from ._measure import format_table, measure_in_child


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _fft_roundtrip(n: int, threads: "int | None" = None):
    import numpy as np
    import scipy.fft

    from ..model.fields import default_threads

    a = np.random.default_rng(0).standard_normal((n, n, n), dtype=np.float32)
    base = _rss_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    w = threads or default_threads()
    b = scipy.fft.irfftn(scipy.fft.rfftn(a, workers=w), s=a.shape, workers=w)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall": wall, "cpu": cpu, "base": base - a.nbytes / 2**20, "dtype": str(b.dtype)}


def _realize(name: str, n: int, seed: int, generator: str, threads: "int | None" = None):
    t_start = time.perf_counter()
    import numpy as np

    from ..model import CALIBRATED, realize

    t_import = time.perf_counter() - t_start
    base = _rss_mib()
    f0 = _minor_faults()
    t0, c0 = time.perf_counter(), time.process_time()
    labels = realize(CALIBRATED[name], n, seed=seed, generator=generator, threads=threads)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    faults = _minor_faults() - f0
    # counted per label (a boolean temporary): bincount would copy the labels to int64, 8
    # bytes/voxel on top of the work buffers the process keeps (realize.BUFFER_POOL_BYTES)
    fr = np.array([np.count_nonzero(labels == k) for k in range(3)]) / labels.size
    del labels
    out = {"wall": wall, "cpu": cpu, "base": base, "SE": float(fr[1]), "AM": float(fr[2]), "pore": float(fr[0]),
           "import": t_import, "faults": faults}
    # a second call in the same process (another seed: no field-cache hit): what a worker pays
    # for its next realization (its work buffers kept, realize.BUFFER_POOL_BYTES), and for small
    # grids the start-up cost (imports, cache loads) by difference
    f0 = _minor_faults()
    t0, c0 = time.perf_counter(), time.process_time()
    realize(CALIBRATED[name], n, seed=seed + 1000, generator=generator, threads=threads)
    out["warm"], out["warm_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    out["warm_faults"] = _minor_faults() - f0
    return out


def _minor_faults() -> int:
    """Minor page faults of this process so far (first touches of fresh pages)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _profile(name: str, n: int, seed: int, generator: str = "fast"):
    """One realization field by field, one thread, "fast", "simd" or "simd2" (see the module docstring)."""
    import importlib

    from ..model import CALIBRATED, realize
    from ..model.cost import generation_work
    from ..model.covariance import generator_kernel
    from ..model.fast import fast_noise_region, numba_threads
    from ..model.simd import simd_noise_region
    from ..model.kernels import axis_alphas
    from ..model.realize import clear_field_cache, field_ids
    from ..model.spectral import uses_spectral

    th = CALIBRATED[name]
    if generator in ("simd", "simd2"):
        def noise_region(*a):
            return simd_noise_region(*a, generator=generator)
    else:
        noise_region = fast_noise_region
    realize(th, 24, seed=seed, threads=1, generator=generator)  # compile / load caches
    noise_region(seed, 0, (0, 0, 0), (4, 4, 4))
    clear_field_cache()
    shape = (n, n, n)
    ids = field_ids(2)
    fields = ([("X~", f, th.alpha_xt, True) for f in ids["xt"]] + [("X''", ids["x2"][0], th.alpha_x, False)]
              + [("Y~", f, th.alpha_yt, True) for f in ids["yt"]] + [("Y''", ids["y2"][0], th.alpha_y, False)])
    rows = []
    # the parts are timed inside the realization itself (its own calls, buffers and first
    # touches): timing the fields in separate calls afterwards left a "rest" that mixed
    # load drift and other allocations into the difference (0.29 s for simd at 401^3 in
    # session 6, while its realization spends 0.04 s outside fields and labels)
    mod = importlib.import_module("vmt_dask.model.realize")
    parts: list = []

    def timed(name, fn):
        def call(*a, **k):
            c0 = time.process_time()
            out = fn(*a, **k)
            parts.append((name, time.process_time() - c0))
            return out
        return call

    saved = {k: getattr(mod, k) for k in ("_one_field", "_label_se", "_label_am")}
    with numba_threads(1):
        for k, fn in saved.items():
            setattr(mod, k, timed(k, fn))
        try:
            c0 = time.process_time()
            realize(th, n, seed=seed, threads=1, generator=generator)
            total = time.process_time() - c0
        finally:
            for k, fn in saved.items():
                setattr(mod, k, fn)
        field_cpu = [c for k, c in parts if k == "_one_field"]
        if len(field_cpu) != len(fields):  # a field served by the cache, or another call order
            raise RuntimeError(f"profile: {len(field_cpu)} field calls in the realization, expected {len(fields)}")
        for (label, f, alpha, square), cpu in zip(fields, field_cpu):
            alphas = axis_alphas(alpha, th.a, 0.2)
            spectral = uses_spectral(generator, alphas)
            one = type(th)(alpha, alpha, alpha, alpha, th.a, th.lambda_x, th.lambda_y)
            w = generation_work(one, shape, chi2_dof=1)
            per = 1.0 / (w.direct_fields + w.spectral_fields)  # the work of one of them
            row = {"field": f"{label} {f}", "alpha/voxel": f"{max(alphas):.3f}",
                   "path": "spectral" if spectral else "direct", "CPU s": f"{cpu:.3f}"}
            if not spectral:
                h = [len(generator_kernel(a, generator)) // 2 for a in alphas]
                c0 = time.process_time()
                noise_region(seed, f, tuple(-x for x in h), tuple(n + x for x in h))
                noise = time.process_time() - c0
                pairs, values = w.tap_pairs * per, w.noise_values * per
                row.update({"H x,y,z": ",".join(map(str, h)), "tap pairs G": f"{pairs / 1e9:.2f}",
                            "noise M": f"{values / 1e6:.0f}", "noise CPU s": f"{noise:.3f}",
                            "ns/pair": f"{(cpu - noise) / pairs * 1e9:.3f}",
                            "ns/noise": f"{noise / values * 1e9:.2f}"})
            rows.append(row)
    labelling = sum(c for k, c in parts if k != "_one_field")
    rows.append({"field": "thresholds, labels (2 passes)", "CPU s": f"{labelling:.3f}"})
    rest = total - sum(c for _, c in parts)
    rows.append({"field": "rest (allocations, zero-fill, Python)", "CPU s": f"{rest:.3f}"})
    rows.append({"field": "realization (1 thread)", "CPU s": f"{total:.3f}"})
    return rows


def add_arguments(p) -> None:
    p.add_argument("--sizes", default="64,128,401", help="comma-separated cube edges (default 64,128,401)")
    p.add_argument("--size", type=int, help="a single cube edge (overrides --sizes)")
    p.add_argument("--preset", default="BM01", choices=["BM01", "BM03", "BM10"])
    p.add_argument("--generator", default="lattice,point,fast,simd",
                   help="comma-separated generators measured side by side (default lattice,point,fast,simd)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3, help="repetitions (median is reported)")
    p.add_argument("--threads", default=None,
                   help="comma-separated thread counts, each measured (default: all cores), e.g. 1,2")
    p.add_argument("--profile", action="store_true",
                   help="also take one realization apart per field (one thread; 'fast', 'simd', 'simd2' where listed)")


def run(args) -> int:
    sizes = [args.size] if args.size else [int(s) for s in str(args.sizes).split(",") if s.strip()]
    rows, summary = [], []
    gens = [g.strip() for g in str(args.generator).split(",") if g.strip()]
    from ..model import CALIBRATED
    from ..model.cost import estimate_cpu_seconds
    from ..model.covariance import DIRECT_GENERATORS
    from ..model.fields import default_threads

    threads = default_threads()
    counts = [int(t) for t in str(args.threads).split(",") if t.strip()] if args.threads else [threads]
    if any(t < 1 for t in counts):
        raise SystemExit(f"--threads {args.threads}: thread counts must be >= 1")
    profiles = []
    for n in sizes:
        voxels = n ** 3
        if args.profile:
            for g in [g for g in gens if g in DIRECT_GENERATORS] or ["fast"]:
                _, _, prof = measure_in_child(_profile, args.preset, n, args.seed, g)
                profiles.append((n, g, prof))
                print(f"  profile {n}^3 {g}: " + "; ".join(f"{r['field']} {r['CPU s']}" for r in prof), flush=True)
        for th in counts:
            fft_walls, gen_walls, startups = [], {g: [] for g in gens}, {g: [] for g in gens}
            fft_cpus, gen_cpus, second_cpus = [], {g: [] for g in gens}, {g: [] for g in gens}
            for i in range(args.repeat):
                _, peak, v = measure_in_child(_fft_roundtrip, n, th)
                fft_walls.append(v["wall"])
                fft_cpus.append(v["cpu"])
                rows.append({"what": f"scipy.fft rfftn+irfftn float32 {n}^3", "threads": th, "run": i + 1,
                             "wall s": f"{v['wall']:.3f}", "CPU s": f"{v['cpu']:.3f}",
                             "Mvoxel/s": f"{voxels / v['wall'] / 1e6:.1f}",
                             "peak MiB": f"{peak - v['base']:.0f}",
                             "bytes/voxel": f"{(peak - v['base']) * 2**20 / voxels:.1f}", "values": ""})
                for g in gens:  # interleaved, so every generator sees the same load
                    _, peak, v = measure_in_child(_realize, args.preset, n, args.seed + i, g, th)
                    gen_walls[g].append(v["wall"])
                    gen_cpus[g].append(v["cpu"])
                    extra = (f"; page faults {v['faults']}; second call {v['warm']:.3f} s wall, "
                             f"{v['warm_cpu']:.3f} s CPU, {v['warm_faults']} page faults")
                    second_cpus[g].append(v["warm_cpu"])
                    if n <= 128:
                        startups[g].append(v["wall"] - v["warm"])
                        extra += f", imports {v['import']:.2f} s"
                    rows.append({"what": f"vmt_dask realize {args.preset} {n}^3 ({g})", "threads": th, "run": i + 1,
                                 "wall s": f"{v['wall']:.3f}", "CPU s": f"{v['cpu']:.3f}",
                                 "Mvoxel/s": f"{voxels / v['wall'] / 1e6:.1f}",
                                 "peak MiB": f"{peak - v['base']:.0f}",
                                 "bytes/voxel": f"{(peak - v['base']) * 2**20 / voxels:.1f}",
                                 "values": f"SE {v['SE']:.4f} AM {v['AM']:.4f} pore {v['pore']:.4f}{extra}"})
                figs = "; ".join(f"{g} {gen_walls[g][-1]:.2f}/{gen_cpus[g][-1]:.2f}" for g in gens)
                print(f"  {n}^3, {th} thread(s), run {i + 1} (wall/CPU s): FFT {fft_walls[-1]:.2f}/{fft_cpus[-1]:.2f}; "
                      f"{figs} (load {os.getloadavg()[0]:.2f})", flush=True)
            fm, fc = statistics.median(fft_walls), statistics.median(fft_cpus)
            for g in gens:
                gm, gc = statistics.median(gen_walls[g]), statistics.median(gen_cpus[g])
                summary.append({"n": n, "generator": g, "threads": th, "realize s (median)": f"{gm:.3f}",
                                "realize CPU s": f"{gc:.3f}",
                                "second call CPU s": f"{statistics.median(second_cpus[g]):.3f}",
                                "realize Mvoxel/s": f"{voxels / gm / 1e6:.2f}",
                                "FFT round trip s": f"{fm:.3f}", "FFT CPU s": f"{fc:.3f}",
                                "FFT Mvoxel/s": f"{voxels / fm / 1e6:.1f}",
                                "round trips": f"{gm / fm:.2f}", "round trips (CPU)": f"{gc / fc:.2f}",
                                "estimate CPU s": f"{estimate_cpu_seconds(CALIBRATED[args.preset], (n, n, n), generator=g):.3f}",
                                "first-call start-up s": f"{statistics.median(startups[g]):.3f}" if startups[g] else "-"})
    print(format_table(rows, ["what", "threads", "run", "wall s", "CPU s", "Mvoxel/s", "peak MiB", "bytes/voxel", "values"]))
    print()
    print(format_table(summary, ["n", "generator", "threads", "realize s (median)", "realize CPU s", "second call CPU s",
                                 "realize Mvoxel/s",
                                 "FFT round trip s", "FFT CPU s", "FFT Mvoxel/s", "round trips",
                                 "round trips (CPU)", "estimate CPU s", "first-call start-up s"]))
    for n, g, prof in profiles:
        print(f"\nprofile {args.preset} {n}^3, {g!r}, one thread, field by field:")
        print(format_table(prof, ["field", "alpha/voxel", "path", "H x,y,z", "tap pairs G", "noise M", "CPU s",
                                  "noise CPU s", "ns/pair", "ns/noise"]))
    print(f"\nload: {os.getloadavg()[0]:.2f} (1-min average at the end), {threads} cores; goals (issue 14): 401^3 <= 3 s "
          "and ~2 round trips, <= 16 bytes/voxel")
    return 0
