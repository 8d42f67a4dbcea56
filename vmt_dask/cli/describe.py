"""``vmt describe INPUT``: geometric descriptors of one or more phases of a label volume.

    vmt describe INPUT --phase NAME|VALUE|all [--labels pore=0,SE=85,AM=170]
                 [--voxel-size DX[,DY,DZ]] [--axis x|y|z|all] [--crop X0:X1,Y0:Y1,Z0:Z1]
                 [--key KEY] [--allow-absent] [--json]

INPUT is any label volume vmt reads: a TIFF stack, a folder of TIFF/PNG slices, .npy, .npz,
raw binary (--raw-shape), HDF5 (file.h5:/dataset), a Zarr array or group, or a vmt store.
Phases are named by the label map (--labels, the file's own, else pore=0, SE=1, AM=2) or
given as integer label values (e.g. --phase 255 for the solid of a 0/255 file).  A phase that
does not occur is an error unless --allow-absent (then its volume fraction and surface area
are 0 and the rest undefined).  --axis all reports the directional descriptors (tortuosity,
constrictivity) along x, y and z.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys

from ..domain import DESCRIPTOR_KEYS
import numpy as np

from ._args import (add_input_arguments, json_value, load_input, parse_axes_arg, print_table,
                    resolve_phases)

__all__ = ["register", "run", "UNITS"]

log = logging.getLogger(__name__)

#: Short units for the table (the long forms are vmt_dask.domain.UNITS).
UNITS = {
    "volume_fraction": "",
    "specific_surface_area": "1/um",
    "tortuosity_mean": "",
    "tortuosity_std": "",
    "tortuosity_reached": "",
    "constrictivity": "",
    "r_min": "um",
    "r_max": "um",
}
#: Descriptors that do not depend on the transport direction.
_ISOTROPIC = ("volume_fraction", "specific_surface_area")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "describe",
        help="volume fraction, surface area, tortuosity and constrictivity of a phase",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(p)
    p.add_argument("--axis", default="z",
                   help="transport / intrusion direction x, y, z or all (default z)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--curves", metavar="FILE", default=None,
                   help="also write the CPSD and SMIP curves (constrictivity's radius grid) "
                        "to FILE (.json or .csv; cubic voxels)")
    p.set_defaults(func=run)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    return f"{value:.6g}"


def absent_descriptors() -> dict[str, float]:
    """Descriptors of a phase that does not occur: eps = S = 0, the rest undefined."""
    out = {k: math.nan for k in DESCRIPTOR_KEYS}
    out["volume_fraction"] = 0.0
    out["specific_surface_area"] = 0.0
    out["tortuosity_reached"] = 0.0
    return out


def describe_phases(labels, phases, absent, *, voxel_size, axes, notes=None) -> dict[str, dict[int, dict]]:
    """{phase name: {axis: descriptors}} for each phase and axis.

    One axis with cubic voxels is :func:`vmt_dask.descriptors.describe` itself.  Several axes
    share what does not depend on the direction (volume fraction, surface area) and compute
    tortuosity and constrictivity per axis with the same kernels.  Anisotropic voxels
    (dx, dy, dz) go to the kernels as a tuple; a constrictivity option that needs cubic voxels
    (a radius step, a reservoir inlet) leaves its values undefined with a note.
    """
    from ..descriptors import constrictivity, describe, geodesic_tortuosity, specific_surface_area
    from ..errors import InputError

    notes = notes if notes is not None else []
    spacing = tuple(float(v) for v in voxel_size)
    cubic = spacing[0] == spacing[1] == spacing[2]
    results: dict[str, dict[int, dict]] = {}
    for ph in phases:
        results[ph.name] = {}
        if ph in absent:
            for axis in axes:
                results[ph.name][axis] = absent_descriptors()
            continue
        if cubic and len(axes) == 1:
            results[ph.name][axes[0]] = describe(labels, phase=ph.value, voxel_size=spacing[0],
                                                 axis=axes[0])
            continue
        mask = labels == ph.value
        shared = {
            "volume_fraction": int(np.count_nonzero(mask)) / mask.size,
            "specific_surface_area": specific_surface_area(
                mask, voxel_size=spacing[0] if cubic else spacing),
        }
        for axis in axes:
            tau = geodesic_tortuosity(mask, axis=axis, voxel_size=spacing)
            try:
                con = constrictivity(mask, voxel_size=spacing[0] if cubic else spacing, axis=axis)
                beta, r_min, r_max = con.beta, con.r_min, con.r_max
            except (InputError, TypeError) as exc:
                if cubic:
                    raise
                beta = r_min = r_max = math.nan
                msg = f"constrictivity undefined: {' '.join(str(exc).split())}"
                if msg not in notes:
                    notes.append(msg)
            results[ph.name][axis] = {
                **shared,
                "tortuosity_mean": tau.mean,
                "tortuosity_std": tau.std,
                "tortuosity_reached": tau.reached_fraction,
                "constrictivity": beta,
                "r_min": r_min,
                "r_max": r_max,
            }
        del mask
    return results


def run(args: argparse.Namespace) -> int:
    from ..domain import AXES

    axes = parse_axes_arg(args.axis)
    loaded = load_input(args, kernels=["describe"], what="vmt describe")
    phases, absent = resolve_phases(args.phase, loaded, allow_absent=args.allow_absent)
    labels = loaded.labels
    notes: list[str] = []
    kp = loaded.kernel_phases(phases)
    kabsent = [k for k, p in zip(kp, phases) if p in absent]
    if args.curves:
        from ._curves import check_curves_path
        check_curves_path(args.curves, loaded.voxel_size)
    results = describe_phases(labels, kp, kabsent, voxel_size=loaded.voxel_size, axes=axes,
                              notes=notes)
    if args.curves:
        from ._curves import write_curves
        write_curves(args.curves, labels, [(k.name, k.value) for k in kp if k not in kabsent],
                     voxel_size=loaded.voxel_size, axes=axes)
        notes.append(f"CPSD and SMIP curves written to {args.curves}")
    for ph in absent:
        notes.append(f"phase {ph.name} (label {ph.value}) is absent: volume fraction 0, "
                     "other descriptors undefined")
    for ph in phases:
        if ph in absent:
            continue
        for axis in axes:
            if results[ph.name][axis]["tortuosity_reached"] == 0.0:
                n = labels.shape[axis]
                notes.append(f"phase {ph.name} does not connect {AXES[axis]} = 0 to "
                             f"{AXES[axis]} = {n - 1}: tortuosity undefined (reached fraction 0)")

    def one(res):
        return {k: json_value(v) for k, v in res.items()}

    if args.json:
        out = {
            "input": str(args.input),
            "source": loaded.source,
            "key": args.key,
            "shape": list(labels.shape),
            "crop": None if loaded.crop is None else [[s.start, s.stop] for s in loaded.crop],
            "voxel_size_um": (loaded.voxel_size[0] if len(set(loaded.voxel_size)) == 1
                              else list(loaded.voxel_size)),
            "voxel_size_xyz_um": list(loaded.voxel_size),
            "voxel_size_origin": loaded.voxel_origin,
            "labels": {p.name: p.value for p in phases},
            "axis": args.axis.strip().lower(),
            "notes": notes,
        }
        if len(axes) == 1:
            out["phases"] = {name: one(r[axes[0]]) for name, r in results.items()}
        else:
            out["phases"] = {name: {AXES[a]: one(r[a]) for a in axes} for name, r in results.items()}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        along = ", ".join(AXES[a] for a in axes)
        print(f"{loaded.header()}, transport along {along}")
        cols = [(ph.name, a) for ph in phases for a in axes]
        head = [ph if len(axes) == 1 else f"{ph} {AXES[a]}" for ph, a in cols]
        rows = [["descriptor", "unit", *head]]
        for key in DESCRIPTOR_KEYS:
            rows.append([key, UNITS[key], *(_fmt(results[ph][a][key]) for ph, a in cols)])
        print_table(rows)
    for note in notes:
        print(f"vmt describe: note: {note}", file=sys.stderr)
    return 0
