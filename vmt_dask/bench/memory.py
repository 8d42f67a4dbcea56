"""Peak memory per voxel of each kernel, next to the estimates of vmt_dask.resources.

    python -m vmt_dask.bench memory [--sizes 64,128,192] [--kernels realize,describe,conduct]

Each (kernel, size) runs in a fresh process: a BM01 realization is made and the kernel
warmed up on a 24^3 volume first (numba compilation, FFT plans), the high-water mark of
the resident set is reset (``/proc/self/clear_refs``), the kernel runs, and the growth of
the high-water mark over the resident set before the call is its working memory.  The
slope between the two largest sizes is the figure :data:`vmt_dask.resources.BYTES_PER_VOXEL`
must cover; the table prints both and their ratio.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from ._measure import choices_list, positive_ints

_CHILD = r"""
import json, os, sys, time
import psutil
kernel, n = sys.argv[1], int(sys.argv[2])
from vmt_dask.model import CALIBRATED, realize
small = realize(CALIBRATED["BM01"], (24, 24, 24), seed=1)
if kernel == "describe":
    from vmt_dask.descriptors import describe
    describe(small, phase="SE")
elif kernel == "conduct":
    from vmt_dask.conductivity import m_factor
    m_factor(small == 1)
lab = realize(CALIBRATED["BM01"], (n, n, n), seed=2) if kernel != "realize" else None
rss0 = psutil.Process().memory_info().rss
with open(f"/proc/{os.getpid()}/clear_refs", "w") as f:
    f.write("5")
t = time.perf_counter()
if kernel == "realize":
    realize(CALIBRATED["BM01"], (n, n, n), seed=3)
elif kernel == "describe":
    describe(lab, phase="SE")
else:
    m_factor(lab == 1)
dt = time.perf_counter() - t
hwm = next(int(l.split()[1]) * 1024 for l in open(f"/proc/{os.getpid()}/status") if l.startswith("VmHWM"))
print(json.dumps({"kernel": kernel, "n": n, "bytes": hwm - rss0, "seconds": dt}))
"""


def add_arguments(p) -> None:
    p.add_argument("--sizes", default="64,128,192", type=positive_ints,
                   help="cube edges in voxels (default 64,128,192)")
    p.add_argument("--kernels", default="realize,describe,conduct",
                   type=choices_list("realize", "describe", "conduct"),
                   help="comma-separated kernels to measure, each in a fresh process: realize "
                        "(one BM01 realization), describe (descriptors of the SE phase), conduct "
                        "(M-factor of the SE phase) (default realize,describe,conduct)")


def run(args) -> int:
    from .. import resources

    if not os.path.exists("/proc/self/clear_refs"):
        print("bench memory: needs Linux /proc (clear_refs) to reset the high-water mark", file=sys.stderr)
        return 2
    sizes, kernels = args.sizes, args.kernels
    print(f"load: {os.getloadavg()}")
    rows = []
    for k in kernels:
        figures = []
        for n in sizes:
            r = subprocess.run([sys.executable, "-c", _CHILD, k, str(n)], capture_output=True,
                               text=True, check=False)
            if r.returncode != 0:
                print(r.stderr[-2000:], file=sys.stderr)
                return 1
            figures.append(json.loads(r.stdout.strip().splitlines()[-1]))
        for f in figures:
            est = resources.estimate_bytes(k, (f["n"],) * 3, include_input=False)
            rows.append((k, f["n"], f["bytes"] / 2**20, f["bytes"] / f["n"] ** 3, est / 2**20,
                         est / max(1, f["bytes"]), f["seconds"]))
        if len(figures) >= 2:
            a, b = figures[-2], figures[-1]
            slope = (b["bytes"] - a["bytes"]) / (b["n"] ** 3 - a["n"] ** 3)
            print(f"{k}: slope {slope:.1f} B/voxel between {a['n']}^3 and {b['n']}^3; "
                  f"resources.BYTES_PER_VOXEL = {resources.BYTES_PER_VOXEL[k]}")
    print(f"{'kernel':10} {'n':>5} {'peak MiB':>9} {'B/voxel':>8} {'est MiB':>8} {'est/peak':>8} {'s':>7}")
    for k, n, mib, bpv, est, ratio, sec in rows:
        print(f"{k:10} {n:5d} {mib:9.1f} {bpv:8.1f} {est:8.1f} {ratio:8.2f} {sec:7.2f}")
    return 0
