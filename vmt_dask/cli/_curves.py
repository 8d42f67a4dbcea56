"""``vmt describe --curves FILE``: the CPSD and SMIP curves of each phase as JSON or CSV."""
from __future__ import annotations

import csv
import json
import os

from ..errors import InputError

__all__ = ["check_curves_path", "write_curves"]

_FORMATS = (".json", ".csv")


def check_curves_path(path: str, voxel_size) -> str:
    """The output format (``".json"`` or ``".csv"``); InputError before any work otherwise."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in _FORMATS:
        raise InputError(f"--curves must name a .json or .csv file, got {path!r}")
    sp = tuple(float(v) for v in voxel_size)
    if not sp[0] == sp[1] == sp[2]:
        raise InputError(f"--curves needs cubic voxels (the curves' radius grid), got voxel size {sp}")
    parent = os.path.dirname(os.path.abspath(str(path)))
    if not os.path.isdir(parent):
        raise InputError(f"--curves: directory {parent!r} does not exist")
    return ext


def write_curves(path: str, labels, phases, *, voxel_size, axes) -> None:
    """Write CPSD(r) and SMIP(r) of each phase (``(name, label value)`` pairs) along each axis.

    JSON: ``{"voxel_size_um", "phases": {name: {axis: {"radius_um": [...], "cpsd": [...],
    "smip": [...], "r_min_um", "r_max_um", "constrictivity"}}}}``.  CSV: one row per
    (phase, axis, radius) with columns ``phase, axis, radius_um, cpsd, smip``.  The curves
    are exact step functions: the value at ``radius_um[j]`` holds for radii in
    ``(radius_um[j-1], radius_um[j]]`` (volume fractions of the window; defaults of
    :func:`vmt_dask.descriptors.constrictivity`).  Written atomically (temporary sibling,
    then rename).
    """
    from ..descriptors import constrictivity
    from ..domain import AXES

    ext = check_curves_path(path, voxel_size)
    a = float(voxel_size[0])
    data: dict = {}
    for name, value in phases:
        mask = labels == value
        data[name] = {}
        for axis in axes:
            res = constrictivity(mask, voxel_size=a, axis=axis, curves=True)
            data[name][AXES[axis]] = {
                "radius_um": [float(r) for r in res.radii], "cpsd": [float(c) for c in res.cpsd],
                "smip": [float(s) for s in res.smip], "r_min_um": res.r_min, "r_max_um": res.r_max,
                "constrictivity": res.beta}
        del mask
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", newline="") as fh:
            if ext == ".json":
                json.dump({"voxel_size_um": a, "phases": data}, fh, indent=1)
                fh.write("\n")
            else:
                w = csv.writer(fh)
                w.writerow(["phase", "axis", "radius_um", "cpsd", "smip"])
                for name, per_axis in data.items():
                    for ax, cur in per_axis.items():
                        for r, c, s in zip(cur["radius_um"], cur["cpsd"], cur["smip"]):
                            w.writerow([name, ax, repr(r), repr(c), repr(s)])
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
