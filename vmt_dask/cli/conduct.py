"""``vmt conduct INPUT``: M-factor (effective conductivity) of one or more phases.

    vmt conduct INPUT --phase NAME|VALUE|all [--labels pore=0,SE=85,AM=170]
                [--axis x|y|z|all] [--voxel-size DX[,DY,DZ]] [--crop X0:X1,Y0:Y1,Z0:Z1]
                [--m-tol MTOL | --rtol RTOL] [--allow-absent] [--json]

INPUT is any label volume vmt reads (TIFF stack, folder of slices, .npy, .npz, raw, HDF5,
Zarr, vmt store).  Unit conductivity in the phase, potential 1 and 0 on the two outer faces
normal to the axis, no flux elsewhere.  ``--phase all`` is SE and AM for the model's labels,
every named phase for a --labels map.  A phase that does not occur is an error unless
--allow-absent (then M = 0).  --axis all solves along x, y and z (the diagonal of the
tortuosity tensor).

By default the solve stops on the energy criterion: M comes from the dissipated power (an
upper bound on the exact discrete M) and iterating ends when its estimated relative error
(``m_error_estimate``) is below --m-tol (default 1e-6).  --rtol instead iterates to that
relative residual and takes M from the mean section current (the solver before session 8).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys

from ..errors import InputError
from ._args import (add_input_arguments, json_value, load_input, parse_axes_arg, print_table,
                    resolve_phases)

__all__ = ["register", "run", "FIELDS"]

log = logging.getLogger(__name__)

FIELDS = ("m_factor", "tau_factor", "volume_fraction", "percolating_fraction",
          "iterations", "residual", "m_error_estimate", "current_spread", "setup_seconds",
          "solve_seconds")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "conduct",
        help="M-factor (effective conductivity) of a phase",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(p, phase_help=(
        "phase name of the label map (SE, AM by default), an integer label value, or all"))
    p.add_argument("--axis", default="z", help="transport direction x, y, z or all (default z)")
    p.add_argument("--m-tol", default=None,
                   help="energy criterion: estimated relative error of M to reach "
                        "(default 1e-6; M from the dissipated power)")
    p.add_argument("--rtol", default=None,
                   help="residual criterion instead: relative residual of the linear solve "
                        "(M from the mean section current)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _tolerance(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{option} must be a number in (0, 1), got {text!r}") from None
    if not (0.0 < value < 1.0):
        raise InputError(f"{option} must be a number in (0, 1), got {text!r}")
    return value


def _rtol(text: str | None) -> float | None:
    return _tolerance(text, "--rtol")


def _criterion(args) -> tuple[float | None, float | None]:
    """``(rtol, m_tol)`` from the options: one of them set (the energy default if neither)."""
    from ..conductivity.solver import M_TOL

    rtol = _rtol(args.rtol)
    m_tol = _tolerance(args.m_tol, "--m-tol")
    if rtol is not None and m_tol is not None:
        raise InputError(f"give either --m-tol (energy criterion) or --rtol (residual "
                         f"criterion), not both: --m-tol {args.m_tol}, --rtol {args.rtol}")
    if rtol is None and m_tol is None:
        m_tol = M_TOL
    return rtol, m_tol


def absent_summary(eps: float = 0.0) -> dict:
    return {"m_factor": 0.0, "tau_factor": math.inf, "volume_fraction": eps,
            "percolating_fraction": 0.0, "iterations": 0, "residual": 0.0,
            "current_spread": 0.0, "setup_seconds": 0.0, "solve_seconds": 0.0,
            "converged": True, "levels": 0, "m_error_estimate": 0.0, "criterion": "none"}


def conduct_phases(labels, phases, absent, *, voxel_size, axes, rtol=None,
                   m_tol=None) -> dict[str, dict[int, dict]]:
    """{phase name: {axis: ConductivityResult.summary()}}.

    ``rtol`` / ``m_tol`` as in :func:`vmt_dask.conductivity.m_factor` (neither: the energy
    criterion with its default tolerance).  Several axes go through :func:`vmt_dask.conductivity.m_factors`, which labels the
    percolating voxels once for all directions; voxel sizes (dx, dy, dz) are passed as given.
    """
    from ..conductivity import m_factor, m_factors
    from ..conductivity.solver import M_TOL

    spacing = tuple(float(v) for v in voxel_size)
    results: dict[str, dict[int, dict]] = {}
    for ph in phases:
        results[ph.name] = {}
        if ph in absent:
            for axis in axes:
                results[ph.name][axis] = absent_summary()
            continue
        mask = labels == ph.value
        if len(axes) == 1:
            res = {axes[0]: m_factor(mask, axis=axes[0], rtol=rtol, m_tol=m_tol,
                                     voxel_size=spacing)}
        else:
            res = m_factors(mask, axes=axes, rtol=rtol, m_tol=m_tol, voxel_size=spacing)
        for axis in axes:
            if not res[axis].converged:
                if rtol is not None:
                    log.warning("phase %s, axis %d: solver stopped at relative residual %.2e "
                                "> rtol %.1e", ph.name, axis, res[axis].residual, rtol)
                else:
                    log.warning("phase %s, axis %d: solver stopped at an estimated relative "
                                "M error %.2e > m_tol %.1e", ph.name, axis,
                                res[axis].m_error_estimate, m_tol if m_tol else M_TOL)
            results[ph.name][axis] = res[axis].summary()
        del mask
    return results


def run(args: argparse.Namespace) -> int:
    from ..domain import AXES

    axes = parse_axes_arg(args.axis)
    rtol, m_tol = _criterion(args)
    loaded = load_input(args, kernels=["conduct"], what="vmt conduct")
    phases, absent = resolve_phases(args.phase, loaded, allow_absent=args.allow_absent,
                                    solids_only=True)
    labels = loaded.labels
    kp = loaded.kernel_phases(phases)
    kabsent = [k for k, p in zip(kp, phases) if p in absent]
    results = conduct_phases(labels, kp, kabsent, voxel_size=loaded.voxel_size, axes=axes,
                             rtol=rtol, m_tol=m_tol)
    notes = [f"phase {ph.name} (label {ph.value}) is absent: M = 0" for ph in absent]

    def one(v):
        return {f: json_value(v[f]) for f in (*FIELDS, "converged", "levels", "criterion")}

    if args.json:
        out = {
            "input": str(args.input),
            "source": loaded.source,
            "key": args.key,
            "shape": list(labels.shape),
            "crop": None if loaded.crop is None else [[s.start, s.stop] for s in loaded.crop],
            "voxel_size_xyz_um": list(loaded.voxel_size),
            "voxel_size_origin": loaded.voxel_origin,
            "labels": {p.name: p.value for p in phases},
            "axis": args.axis.strip().lower(),
            "criterion": "residual" if rtol is not None else "energy",
            "rtol": rtol,
            "m_tol": m_tol,
            "notes": notes,
        }
        if len(axes) == 1:
            out["phases"] = {k: one(v[axes[0]]) for k, v in results.items()}
        else:
            out["phases"] = {k: {AXES[a]: one(v[a]) for a in axes} for k, v in results.items()}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{loaded.header()}, transport along {', '.join(AXES[a] for a in axes)}")
        cols = [(ph.name, a) for ph in phases for a in axes]
        rows = [["quantity", *(p if len(axes) == 1 else f"{p} {AXES[a]}" for p, a in cols)]]
        for f in FIELDS:
            cells = []
            for p, a in cols:
                x = results[p][a][f]
                cells.append(str(x) if isinstance(x, int) else f"{x:.6g}")
            rows.append([f, *cells])
        print_table(rows)
    for note in notes:
        print(f"vmt conduct: note: {note}", file=sys.stderr)
    return 0
