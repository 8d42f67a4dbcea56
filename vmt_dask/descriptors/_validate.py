"""Input checks of the descriptor kernels: a thin re-export of :mod:`vmt_dask.validation`.

Kept so the descriptor modules' imports (``as_mask``, ``check_axis``, ``check_voxel_size``)
keep working while they move to :mod:`vmt_dask.validation` directly.
"""
from __future__ import annotations

from ..errors import InputError
from ..validation import as_labels, as_mask, check_axis, check_positive, check_spacing

__all__ = ["as_mask", "as_labels", "check_axis", "check_positive", "check_spacing", "check_voxel_size"]


def check_voxel_size(voxel_size, name: str = "voxel_size") -> float:
    """Edge length of a cubic voxel in micrometres, for kernels that support only cubic voxels.

    Accepts what :func:`~vmt_dask.validation.check_spacing` accepts and returns the common
    edge length; three different edge lengths raise :class:`~vmt_dask.errors.InputError`.
    """
    dx, dy, dz = check_spacing(voxel_size, name)
    if not dx == dy == dz:
        raise InputError(f"{name} must be cubic (one edge length) here, got {(dx, dy, dz)!r}")
    return dx
