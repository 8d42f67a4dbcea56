"""M-factor of SE and AM on a BM01 realization: vmt-dask vs TauFactor (CPU) and PoreSpy.

    python -m vmt_dask.bench conduct --size N [--phases SE,AM] [--no-peers]
        [--peer-iter-limit K] [--tau-conv-crit C] [--porespy-max-size N] [--out FILE]

Every measurement runs in a fresh child process (wall time of the call, peak
resident memory of the child including its imports, CPU seconds of the child).
TauFactor (``taufactor.Solver``, device ``cpu``) uses the same boundary convention
(potential on the outer faces, half a voxel beyond the first and last layer);
it stops when the relative spread of the layer fluxes is below ``--tau-conv-crit``
and tau changed by less than 2e-3 over its last 100 iterations, or at
``--peer-iter-limit`` iterations (then reported as not converged).  PoreSpy's
``tortuosity_fd`` solves on voxel centres with its own boundary placement; its
M is ``1 / formation_factor``.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

from ._measure import format_table, measure_in_child
from ..domain import PHASES

_CODES = {ph: PHASES[ph] for ph in ("SE", "AM")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=200, help="edge length N of the N^3 volume")
    parser.add_argument("--seed", type=int, default=1, help="realization seed (default 1)")
    parser.add_argument("--phases", default="SE,AM", help="comma-separated subset of SE,AM")
    parser.add_argument("--rtol", type=float, default=1e-6, help="our solver's relative residual")
    parser.add_argument("--no-peers", action="store_true", help="measure vmt-dask only")
    parser.add_argument("--peer-iter-limit", type=int, default=20000,
                        help="TauFactor iteration cap (default 20000)")
    parser.add_argument("--tau-conv-crit", type=float, default=2e-3,
                        help="TauFactor flux-spread criterion (default 2e-3, i.e. 0.2 %%)")
    parser.add_argument("--porespy-max-size", type=int, default=256,
                        help="skip PoreSpy above this N (it needs > 20 GiB at 401)")
    parser.add_argument("--timeout", type=float, default=None, help="per-measurement timeout, s")
    parser.add_argument("--out", default=None, help="also write the rows as JSON to this file")


# ----------------------------------------------------------------------------- children
def _ours(path: str, code: int, rtol: float) -> dict:
    from vmt_dask.conductivity import m_factor

    mask = np.load(path) == code
    c0 = time.process_time()
    res = m_factor(mask, rtol=rtol)
    return {"M": res.m_factor, "iterations": res.iterations, "cpu_s": time.process_time() - c0,
            "note": (f"setup {res.setup_seconds:.2f} s + solve {res.solve_seconds:.2f} s, "
                     f"{res.levels} levels, residual {res.residual:.1e}, "
                     f"current spread {res.current_spread:.1e}, "
                     f"percolating {res.percolating_fraction:.4f}"),
            "converged": res.converged}


def _taufactor(path: str, code: int, conv_crit: float, iter_limit: int) -> dict:
    import torch
    import taufactor

    torch.set_num_threads(os.cpu_count() or 1)
    mask = np.load(path) == code
    img = np.ascontiguousarray(np.moveaxis(mask, 2, 0)).astype(np.uint8)  # TauFactor: axis 0
    c0 = time.process_time()
    solver = taufactor.Solver(img, device="cpu")
    solver.solve(iter_limit=iter_limit, verbose=False, conv_crit=conv_crit)
    m = float(np.ravel(solver.D_rel)[0])
    return {"M": m, "iterations": int(solver.iter), "cpu_s": time.process_time() - c0,
            "converged": bool(solver.converged),
            "note": f"conv_crit {conv_crit:g}" + ("" if solver.converged
                                                  else f", stopped at {iter_limit} iterations")}


def _porespy(path: str, code: int) -> dict:
    import porespy

    mask = np.load(path) == code
    c0 = time.process_time()
    res = porespy.simulations.tortuosity_fd(mask, axis=2)
    return {"M": 1.0 / float(res.formation_factor), "iterations": None,
            "cpu_s": time.process_time() - c0, "converged": bool(getattr(res, "converged", True)),
            "note": "pyamg inside OpenPNM, ftol 1e-3"}


# ----------------------------------------------------------------------------- driver
def run(args: argparse.Namespace) -> int:
    from vmt_dask.model import CALIBRATED, realize

    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    bad = [p for p in phases if p not in _CODES]
    if bad or not phases:
        raise SystemExit(f"--phases: expected a subset of SE,AM, got {args.phases!r}")
    n = args.size
    t0 = time.perf_counter()
    labels = realize(CALIBRATED["BM01"], (n, n, n), seed=args.seed)
    print(f"BM01 realization {n}^3 seed {args.seed}: {time.perf_counter() - t0:.1f} s; "
          + ", ".join(f"{p} eps {np.mean(labels == _CODES[p]):.4f}" for p in phases), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "labels.npy")
        np.save(path, labels)
        del labels
        for phase in phases:
            code = _CODES[phase]
            jobs = [("vmt-dask", _ours, (path, code, args.rtol))]
            if not args.no_peers:
                jobs.append(("taufactor-cpu", _taufactor,
                             (path, code, args.tau_conv_crit, args.peer_iter_limit)))
                if n <= args.porespy_max_size:
                    jobs.append(("porespy-fd", _porespy, (path, code)))
            ref = None
            for tool, func, fargs in jobs:
                row = {"N": n, "phase": phase, "tool": tool}
                try:
                    wall, peak, val = measure_in_child(func, *fargs, timeout=args.timeout)
                except (RuntimeError, TimeoutError) as exc:
                    row["note"] = f"failed: {str(exc).strip().splitlines()[-1]}"
                    rows.append(row)
                    print(format_table([row], list(row)), flush=True)
                    continue
                if tool == "vmt-dask":
                    ref = val["M"]
                row.update(wall_s=f"{wall:.2f}", cpu_s=f"{val['cpu_s']:.1f}",
                           peak_MiB=f"{peak:.0f}", iterations=val["iterations"],
                           M=f"{val['M']:.6f}",
                           rel_diff=("" if ref is None or tool == "vmt-dask" or ref == 0
                                     else f"{(val['M'] - ref) / ref:+.2e}"),
                           converged=val["converged"], note=val["note"])
                rows.append(row)
                print(f"  {tool} {phase}: {wall:.2f} s, {peak:.0f} MiB, M {val['M']:.6f}",
                      flush=True)
    columns = ["N", "phase", "tool", "wall_s", "cpu_s", "peak_MiB", "iterations", "M",
               "rel_diff", "converged", "note"]
    print()
    print(format_table(rows, columns))
    speed = {}
    for r in rows:
        if "wall_s" in r:
            speed.setdefault(r["phase"], {})[r["tool"]] = float(r["wall_s"])
    for phase, d in speed.items():
        if "vmt-dask" in d and "taufactor-cpu" in d:
            print(f"{phase}: TauFactor / vmt-dask wall time = {d['taufactor-cpu'] / d['vmt-dask']:.1f}x")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0
