"""Input checks shared by the descriptor kernels (public boundary only)."""
from __future__ import annotations

import numbers

import numpy as np


def as_mask(mask, name: str = "mask") -> np.ndarray:
    """Return ``mask`` as a 3-D boolean array (no copy if already one)."""
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(mask).__name__}")
    if mask.ndim != 3:
        raise ValueError(f"{name} must be 3-D (x, y, z), got shape {mask.shape}")
    if mask.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {mask.shape}")
    if mask.dtype != bool:
        if not (np.issubdtype(mask.dtype, np.integer) and mask.min() >= 0 and mask.max() <= 1):
            raise TypeError(
                f"{name} must be boolean (or 0/1 integers), got dtype {mask.dtype}"
            )
        mask = mask.astype(bool)
    return mask


def check_voxel_size(voxel_size) -> float:
    if isinstance(voxel_size, bool) or not isinstance(voxel_size, numbers.Real):
        raise TypeError(f"voxel_size must be a real number, got {voxel_size!r}")
    v = float(voxel_size)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"voxel_size must be a positive finite number of micrometres, got {voxel_size!r}")
    return v


def check_axis(axis) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or int(axis) not in (0, 1, 2, -1, -2, -3):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    return int(axis) % 3
