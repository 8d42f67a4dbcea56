"""Checks of kernel inputs, shared by every public function.

Each function takes the value and the name of the parameter it came from, returns the value
normalised (an array of the expected dtype, an axis index, a spacing tuple, a float) and
otherwise raises with a one-line message that names the parameter and the offending value.
The exception contract is the one documented in :mod:`vmt_dask.errors`:

* :class:`TypeError` for a wrong Python type,
* :class:`~vmt_dask.errors.DTypeError` (a TypeError and an InputError) for an array of the
  wrong dtype,
* :class:`~vmt_dask.errors.InputError` (a ValueError) for a bad value.

Volumes are indexed ``(x, y, z)`` with z the default transport direction; lengths are in
micrometres (see ``docs/conventions.md``).  This module sits at the bottom of the layer stack
with :mod:`vmt_dask.domain` and :mod:`vmt_dask.errors`; it imports nothing else of the package.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .domain import AXES
from .errors import DTypeError, InputError

__all__ = ["as_mask", "as_labels", "check_axis", "check_spacing", "check_positive"]


def _check_volume(arr, name: str) -> None:
    """Type, dimension and size checks shared by :func:`as_mask` and :func:`as_labels`."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(arr).__name__}")
    if arr.ndim != 3:
        raise InputError(f"{name} must be 3-D (x, y, z), got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name} must not be empty, got shape {arr.shape}")


def as_mask(mask, name: str = "mask") -> np.ndarray:
    """Return ``mask`` as a 3-D boolean array.

    Parameters
    ----------
    mask : numpy.ndarray, shape (nx, ny, nz)
        Indicator of a phase: dtype bool, or an integer dtype holding only 0 and 1.
    name : str, optional
        Parameter name used in error messages.

    Returns
    -------
    numpy.ndarray of bool, shape (nx, ny, nz)
        ``mask`` itself if it is already boolean, otherwise a boolean copy.

    Raises
    ------
    TypeError
        ``mask`` is not a numpy array.
    DTypeError
        ``mask`` is neither boolean nor integer (a float mask, for example).
    InputError
        ``mask`` is not 3-D, is empty, or is an integer array holding values other than 0/1.
    """
    _check_volume(mask, name)
    if mask.dtype == bool:
        return mask
    if not np.issubdtype(mask.dtype, np.integer):
        raise DTypeError(f"{name} must be boolean (or 0/1 integers), got dtype {mask.dtype}")
    lo, hi = int(mask.min()), int(mask.max())
    if lo < 0 or hi > 1:
        raise InputError(f"{name} must hold only 0 and 1, got values in [{lo}, {hi}]")
    return mask.astype(bool)


def as_labels(labels, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as a 3-D ``uint8`` label volume.

    Parameters
    ----------
    labels : numpy.ndarray, shape (nx, ny, nz)
        Phase labels: a boolean or integer array with values in 0..255 (the model's codes are
        :data:`vmt_dask.domain.PHASES`; users' own files may use any codes).
    name : str, optional
        Parameter name used in error messages.

    Returns
    -------
    numpy.ndarray of uint8, shape (nx, ny, nz)
        ``labels`` itself if it is already ``uint8``, otherwise a ``uint8`` copy.

    Raises
    ------
    TypeError
        ``labels`` is not a numpy array.
    DTypeError
        ``labels`` is neither boolean nor integer (float labels are refused, not rounded).
    InputError
        ``labels`` is not 3-D, is empty, or holds values outside 0..255.
    """
    _check_volume(labels, name)
    if labels.dtype == np.uint8:
        return labels
    if labels.dtype == bool:
        return labels.astype(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer):
        raise DTypeError(f"{name} must hold integer labels (0..255), got dtype {labels.dtype}")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi > 255:
        raise InputError(f"{name} must hold labels in 0..255, got values in [{lo}, {hi}]")
    return labels.astype(np.uint8)


def check_axis(axis, name: str = "axis") -> int:
    """Return the index 0, 1 or 2 of a volume axis.

    Parameters
    ----------
    axis : int or str
        An index in -3..2 (negative counts from the end, as in NumPy) or an axis name "x",
        "y", "z" (any case; :data:`vmt_dask.domain.AXES`).
    name : str, optional
        Parameter name used in error messages.

    Returns
    -------
    int
        0, 1 or 2.

    Raises
    ------
    TypeError
        ``axis`` is neither an integer nor a string (bool and float are refused).
    InputError
        An integer outside -3..2 or an unknown name.
    """
    if isinstance(axis, str):
        key = axis.strip().lower()
        if key in AXES:
            return AXES.index(key)
        raise InputError(f"{name} must be x, y, z or 0, 1, 2, got {axis!r}")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{name} must be an integer or 'x', 'y', 'z', got {axis!r}")
    if not -3 <= int(axis) <= 2:
        raise InputError(f"{name} must be x, y, z or 0, 1, 2, got {axis!r}")
    return int(axis) % 3


def _real(value, name: str, shown) -> float:
    """``value`` as a float; TypeError naming ``name`` and ``shown`` if it is not a real number."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool) or isinstance(value, np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {shown!r}")
    return float(value)


def check_positive(value, name: str) -> float:
    """Return ``value`` as a positive finite float.

    Parameters
    ----------
    value : real number
        Any real scalar (Python or NumPy; a 0-d array is accepted).
    name : str
        Parameter name used in error messages.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        ``value`` is not a real number (bool and strings are refused).
    InputError
        ``value`` is zero, negative, infinite or NaN.
    """
    v = _real(value, name, value)
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return v


#: Accepted voxel edge lengths, micrometres (1 pm .. 1 m): far beyond any tomography, and
#: narrow enough that areas, volumes and their inverses stay well inside float64.
VOXEL_SIZE_RANGE_UM = (1e-6, 1e6)


def check_spacing(voxel_size, name: str = "voxel_size") -> tuple[float, float, float]:
    """Return the voxel edge lengths ``(dx, dy, dz)`` in micrometres.

    Parameters
    ----------
    voxel_size : real number or sequence of three real numbers
        Edge length of a cubic voxel, or the edge lengths along x, y and z (anisotropic
        voxels, e.g. a FIB-SEM stack whose slice spacing differs), in micrometres.
    name : str, optional
        Parameter name used in error messages.

    Returns
    -------
    tuple of three floats
        ``(dx, dy, dz)``, each positive and finite; a scalar gives three equal values.

    Raises
    ------
    TypeError
        ``voxel_size`` (or one of its entries) is not a real number, or it is neither a number
        nor a sequence (strings are refused).
    InputError
        A sequence whose length is not 3, or an entry that is zero, negative, not finite or
        outside :data:`VOXEL_SIZE_RANGE_UM`.
    """
    if isinstance(voxel_size, (str, bytes)) or voxel_size is None:
        raise TypeError(f"{name} must be a number or three numbers (dx, dy, dz), got {voxel_size!r}")
    if isinstance(voxel_size, np.ndarray) and voxel_size.ndim == 0:
        voxel_size = voxel_size[()]
    if isinstance(voxel_size, (numbers.Number, np.bool_)):
        v = _real(voxel_size, name, voxel_size)
        if not (math.isfinite(v) and v > 0):
            raise InputError(f"{name} must be a positive finite number of micrometres, got {voxel_size!r}")
        if not VOXEL_SIZE_RANGE_UM[0] <= v <= VOXEL_SIZE_RANGE_UM[1]:
            raise InputError(f"{name} must be between {VOXEL_SIZE_RANGE_UM[0]:g} and "
                             f"{VOXEL_SIZE_RANGE_UM[1]:g} micrometres, got {voxel_size!r}")
        return (v, v, v)
    try:
        entries = list(voxel_size)
    except TypeError:
        raise TypeError(
            f"{name} must be a number or three numbers (dx, dy, dz), got {voxel_size!r}") from None
    shown = tuple(e.item() if isinstance(e, np.generic) else e for e in entries)
    if len(entries) != 3:
        raise InputError(f"{name} must have three entries (dx, dy, dz), got {shown!r}")
    values = tuple(_real(e, name, shown) for e in entries)
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise InputError(f"{name} must be positive finite numbers of micrometres, got {shown!r}")
    if not all(VOXEL_SIZE_RANGE_UM[0] <= v <= VOXEL_SIZE_RANGE_UM[1] for v in values):
        raise InputError(f"{name} must be between {VOXEL_SIZE_RANGE_UM[0]:g} and "
                         f"{VOXEL_SIZE_RANGE_UM[1]:g} micrometres, got {shown!r}")
    return values
