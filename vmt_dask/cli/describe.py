"""``vmt describe INPUT``: geometric descriptors of one or all phases of a volume.

    vmt describe INPUT [--key KEY] --phase SE|AM|pore|all|LABEL [--voxel-size UM]
                 [--axis x|y|z] [--json]

INPUT is a study store or volume written by ``vmt generate``, a ``.npy`` file or a
TIFF stack of labels (0 = pore, 1 = SE, 2 = AM, or any integer labels).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys

from ..errors import InputError
from ._args import json_value

__all__ = ["register", "run"]

log = logging.getLogger(__name__)

_AXES = {"x": 0, "y": 1, "z": 2}
_ALL = ("SE", "AM", "pore")
_UNITS = {
    "volume_fraction": "",
    "specific_surface_area": "1/um",
    "tortuosity_mean": "",
    "tortuosity_std": "",
    "tortuosity_reached": "",
    "constrictivity": "",
    "r_min": "um",
    "r_max": "um",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "describe",
        help="volume fraction, surface area, tortuosity and constrictivity of a phase",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="study store / volume, .npy file or TIFF stack")
    p.add_argument("--key", default=None, help="volume key inside a study store")
    p.add_argument("--phase", required=True,
                   help="SE, AM, pore, all, or an integer label value")
    p.add_argument("--voxel-size", type=float, default=None,
                   help="voxel edge length in micrometres (default: from the store, else 0.2)")
    p.add_argument("--axis", choices=sorted(_AXES), default="z",
                   help="transport / intrusion direction (default z)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _phases(arg: str) -> list[str | int]:
    if arg == "all":
        return list(_ALL)
    if arg in _ALL:
        return [arg]
    try:
        return [int(arg)]
    except ValueError:
        raise InputError(f"--phase must be SE, AM, pore, all or an integer label, got {arg!r}") from None


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    return f"{value:.6g}"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..descriptors import DESCRIPTOR_KEYS, describe
    from ..volumes import load_labels

    phases = _phases(args.phase)
    if args.voxel_size is not None and not (math.isfinite(args.voxel_size) and args.voxel_size > 0):
        raise InputError(f"--voxel-size must be a positive number of micrometres, got {args.voxel_size!r}")
    labels, stored_voxel = load_labels(args.input, key=args.key)
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise InputError(f"{args.input}: expected a 3-D label volume, got shape {labels.shape}")
    voxel_size = args.voxel_size if args.voxel_size is not None else (stored_voxel or 0.2)
    axis = _AXES[args.axis]
    n = labels.shape[axis]

    results: dict[str, dict | None] = {}
    notes: list[str] = []
    for phase in phases:
        name = str(phase)
        try:
            results[name] = describe(labels, phase=phase, voxel_size=voxel_size, axis=axis)
        except InputError as exc:
            if len(phases) == 1:
                raise InputError(f"{args.input}: {exc}") from None
            results[name] = None
            notes.append(f"phase {name} is absent from the volume; skipped")
            continue
        if results[name]["tortuosity_reached"] == 0.0:
            notes.append(
                f"phase {name} does not connect {args.axis} = 0 to {args.axis} = {n - 1}: "
                "tortuosity undefined (reached fraction 0)"
            )

    if args.json:
        out = {
            "input": str(args.input),
            "key": args.key,
            "shape": list(labels.shape),
            "voxel_size_um": voxel_size,
            "axis": args.axis,
            "phases": {
                k: (None if v is None else {kk: json_value(vv) for kk, vv in v.items()})
                for k, v in results.items()
            },
            "notes": notes,
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        names = list(results)
        print(f"{args.input}" + (f" [{args.key}]" if args.key else "")
              + f": shape {tuple(labels.shape)}, voxel size {voxel_size:g} um, transport along {args.axis}")
        rows = [["descriptor", "unit", *names]]
        for key in DESCRIPTOR_KEYS:
            rows.append([key, _UNITS[key], *(
                "absent" if results[p] is None else _fmt(results[p][key]) for p in names)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for i, r in enumerate(rows):
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            if i == 0:
                print("  ".join("-" * w for w in widths))
    for note in notes:
        print(f"vmt describe: note: {note}", file=sys.stderr)
    return 0
