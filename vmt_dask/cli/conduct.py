"""``vmt conduct INPUT``: M-factor (effective conductivity) of the SE and/or AM phase.

    vmt conduct INPUT [--key KEY] --phase SE|AM|all [--axis x|y|z] [--rtol RTOL] [--json]

INPUT is a study store or volume written by ``vmt generate``, a ``.npy`` file or a
TIFF stack of labels (0 = pore, 1 = SE, 2 = AM).  Unit conductivity in the phase,
potential 1 and 0 on the two outer faces normal to the axis, no flux elsewhere.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from ..errors import InputError
from ._args import AXES, json_value, parse_axis

__all__ = ["register", "run"]

log = logging.getLogger(__name__)

_PHASES = {"SE": 1, "AM": 2}
_FIELDS = ("m_factor", "tau_factor", "volume_fraction", "percolating_fraction",
           "iterations", "residual", "current_spread", "setup_seconds", "solve_seconds")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "conduct",
        help="M-factor (effective conductivity) of a phase",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="study store / volume, .npy file or TIFF stack")
    p.add_argument("--key", default=None, help="volume key inside a study store")
    p.add_argument("--phase", required=True, help="SE, AM or all")
    p.add_argument("--axis", default="z", help="transport direction x, y or z (default z)")
    p.add_argument("--rtol", default="1e-6",
                   help="relative residual of the linear solve (default 1e-6)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _phases(arg: str) -> list[str]:
    if arg == "all":
        return list(_PHASES)
    if arg in _PHASES:
        return [arg]
    raise InputError(f"--phase must be SE, AM or all, got {arg!r}")


def _rtol(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--rtol must be a number in (0, 1), got {text!r}") from None
    if not (0.0 < value < 1.0):
        raise InputError(f"--rtol must be a number in (0, 1), got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..conductivity import m_factor
    from ..volumes import load_labels

    phases = _phases(args.phase)
    axis = parse_axis(args.axis)
    rtol = _rtol(args.rtol)
    labels, _ = load_labels(args.input, key=args.key)
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise InputError(f"{args.input}: expected a 3-D label volume, got shape {labels.shape}")
    results = {}
    for name in phases:
        res = m_factor(labels == _PHASES[name], axis=axis, rtol=rtol)
        if not res.converged:
            log.warning("phase %s: solver stopped at relative residual %.2e > rtol %.1e",
                        name, res.residual, rtol)
        results[name] = res.summary()
    if args.json:
        out = {
            "input": str(args.input),
            "key": args.key,
            "shape": list(labels.shape),
            "axis": args.axis,
            "rtol": rtol,
            "phases": {k: {f: json_value(v[f]) for f in (*_FIELDS, "converged", "levels")}
                       for k, v in results.items()},
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    inv = {v: k for k, v in AXES.items()}
    print(f"{args.input}" + (f" [{args.key}]" if args.key else "")
          + f": shape {tuple(labels.shape)}, transport along {inv[axis]}")
    rows = [["quantity", *results]]
    for f in _FIELDS:
        cells = []
        for v in results.values():
            x = v[f]
            cells.append(str(x) if isinstance(x, int) else f"{x:.6g}")
        rows.append([f, *cells])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 0
