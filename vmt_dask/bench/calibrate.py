"""Calibration round trip: accuracy per parameter and cost, for BM01, BM03, BM10 and two more.

``python -m vmt_dask.bench calibrate [--size 32] [--voxel-size 0.6] [--realizations 6]
[--images 1] [--cases BM01,BM03,BM10,T4,T5]``

For each case and image seed: one realization of the true theta is the "image"; it is
calibrated (:func:`vmt_dask.calibrate.fit_theta`, in-process) and compared with the truth.
Printed per parameter: the error (log ratio for alphas and a, difference for thresholds),
the fit's standard error, their ratio (about Student-t with R - 1 degrees of freedom when the
error estimate is right), the wall time, the realizations and analytic model evaluations,
and the machine load (``uptime``).  The tests run the small grid; this runs larger or more
images (e.g. ``--size 64 --voxel-size 0.4 --images 3``).
"""
from __future__ import annotations

import math
import os
import time

__all__ = ["add_arguments", "run", "CASES"]

CASES = {
    "T4": (0.05, 0.4, 0.15, 0.3, 0.95, 2.1, -0.1),
    "T5": (0.04, 1.5, 0.2, 0.5, 0.9, 1.7, -0.4),
}


def add_arguments(p) -> None:
    from ..domain import TABLE1
    from ._measure import choices_list, positive_float, positive_int

    p.add_argument("--size", type=positive_int, default=32,
                   help="edge in voxels of each synthetic image to calibrate (default 32)")
    p.add_argument("--voxel-size", type=positive_float, default=0.6,
                   help="voxel edge of the images in um (default 0.6)")
    p.add_argument("--realizations", type=positive_int, default=6,
                   help="model realizations per cost evaluation of the fit (default 6)")
    p.add_argument("--images", type=positive_int, default=1,
                   help="image seeds per case (12345, 12346, ...; default 1)")
    p.add_argument("--cases", default="BM01,BM03,BM10,T4,T5", type=choices_list(*TABLE1, *CASES),
                   help="comma-separated true parameter sets: the presets of Table 1 and the far "
                        "test points T4, T5 (default all)")


def run(args) -> int:
    import numpy as np

    from ..calibrate import fit_theta
    from ..domain import PARAMETER_NAMES, TABLE1
    from ..model import realize

    cases = {**{k: tuple(v) for k, v in TABLE1.items()}, **CASES}
    names = args.cases
    print(f"load: {os.getloadavg()[0]:.2f} (1 min)  grid {args.size}^3 x {args.voxel_size} um, "
          f"R = {args.realizations}")
    print(f"{'case':<5} {'img':>3} " + " ".join(f"{n:>16}" for n in PARAMETER_NAMES) + "   wall_s  real  analytic  accepted")
    for name in names:
        truth = np.array(cases[name])
        for k in range(args.images):
            image = realize(truth, args.size, seed=12345 + k, voxel_size=args.voxel_size)
            t0 = time.perf_counter()
            res = fit_theta(image, voxel_size=args.voxel_size, realizations=args.realizations, seed=1)
            wall = time.perf_counter() - t0
            cells = []
            for j, pname in enumerate(PARAMETER_NAMES):
                est = res.theta[j]
                err = est - truth[j] if pname.startswith("lambda") else math.log(est / truth[j])
                se = res.std_errors[pname]
                ratio = err / se if math.isfinite(se) and se > 0 else float("nan")
                cells.append(f"{err:+.3f}/{se:.3f}({ratio:+.1f})")
            print(f"{name:<5} {k:>3} " + " ".join(f"{c:>16}" for c in cells)
                  + f"   {wall:6.1f}  {res.cost['evaluations_computed']:4d}  {res.cost['analytic_evaluations']:8d}"
                  + f"  {res.accepted}")
    print("cells: error / standard error (error in SE units); error = log(estimate / truth) for "
          "alphas and a, estimate - truth for lambdas")
    print(f"load: {os.getloadavg()[0]:.2f} (1 min)")
    return 0
