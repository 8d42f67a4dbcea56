"""Voxel sizes: parsing ``--voxel-size`` and reading them from file metadata.

All voxel sizes are ``(dx, dy, dz)`` in micrometres, in the (x, y, z) axis order of the volume.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError

__all__ = ["parse_voxel_size", "unit_factor", "from_attrs", "is_isotropic", "format_voxel_size"]

#: Length units as written by imaging software -> micrometres per unit.
_UNITS = {
    "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "micrometre": 1.0, "micrometers": 1.0, "micrometres": 1.0, "\\u00b5m": 1.0,
    "nm": 1e-3, "nanometer": 1e-3, "nanometre": 1e-3, "nanometers": 1e-3, "nanometres": 1e-3,
    "mm": 1e3, "millimeter": 1e3, "millimetre": 1e3, "millimeters": 1e3, "millimetres": 1e3,
    "cm": 1e4, "centimeter": 1e4, "centimetre": 1e4,
    "m": 1e6, "meter": 1e6, "metre": 1e6,
}

#: Attribute names that hold a voxel size in HDF5 / Zarr metadata, most specific first.
_KEYS = ("voxel_size_um", "element_size_um", "voxel_size", "spacing", "pixel_size",
         "resolution")
_UNIT_KEYS = ("voxel_size_unit", "spacing_unit", "unit", "units")


def unit_factor(unit: Any) -> float | None:
    """Micrometres per ``unit`` (e.g. "micron" -> 1, "nm" -> 0.001); None if unknown."""
    if unit is None:
        return None
    if isinstance(unit, bytes):
        unit = unit.decode("utf-8", "replace")
    return _UNITS.get(str(unit).strip().lower())


def parse_voxel_size(text: str | None, *, option: str = "--voxel-size") -> tuple[float, float, float] | None:
    """``"0.5"`` or ``"0.5,0.5,1.2"`` (dx, dy, dz in micrometres) -> three positive floats."""
    if text is None:
        return None
    parts = [p.strip() for p in str(text).split(",")]
    msg = (f"{option} {text!r}: expected a positive number of micrometres or three, dx,dy,dz "
           "(e.g. 0.5 or 0.5,0.5,1.2)")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(msg) from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise InputError(msg)
    return tuple(values)


def is_isotropic(voxel_size: Sequence[float]) -> bool:
    dx, dy, dz = voxel_size
    return dx == dy == dz


def format_voxel_size(voxel_size: Sequence[float]) -> str:
    if is_isotropic(voxel_size):
        return f"{voxel_size[0]:g} um"
    return " x ".join(f"{v:g}" for v in voxel_size) + " um"


def _as_values(value) -> list[float] | None:
    if isinstance(value, bytes):
        return None
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or arr.ndim > 1:
        return None
    vals = [float(v) for v in arr.ravel()]
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        return None
    return vals


def from_attrs(attrs: Mapping[str, Any], ndim: int = 3) -> tuple[tuple[float, ...], str] | None:
    """Voxel size in the *stored* axis order from HDF5/Zarr attributes, with the key used.

    Recognised keys: ``voxel_size_um``, ``element_size_um`` (micrometres), ``voxel_size``,
    ``spacing``, ``pixel_size``, ``resolution`` (micrometres unless ``voxel_size_unit`` /
    ``unit`` / ``units`` names another length unit); a scalar (cubic voxels) or one value
    per stored axis.  Returns None when none is usable.
    """
    unit = None
    for k in _UNIT_KEYS:
        if k in attrs:
            unit = attrs[k]
            break
    for key in _KEYS:
        if key not in attrs:
            continue
        vals = _as_values(attrs[key])
        if vals is None or len(vals) not in (1, ndim):
            continue
        factor = 1.0
        if not key.endswith("_um") and unit is not None:
            factor = unit_factor(unit)
            if factor is None:
                continue
        vals = [v * factor for v in vals]
        if len(vals) == 1:
            vals *= ndim
        return tuple(vals), key
    return None
