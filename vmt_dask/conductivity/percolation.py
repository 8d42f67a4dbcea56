"""Voxels of a phase that connect the two faces normal to the transport axis."""
from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

__all__ = ["percolating_mask", "face_components", "percolating_from_components"]

# Face connectivity: current flows between voxels that share a face, so only the
# 6-neighbourhood connects (edge or corner contact carries no current).
_FACE_STRUCTURE = ndi.generate_binary_structure(3, 1)


def face_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """6-connected components of a phase (independent of the transport axis).

    Returns ``(labels, n)``: int32 labels (0 outside the phase) and their number.
    Computed once and shared by every direction of :func:`m_factors`.
    """
    labels, n = ndi.label(mask, structure=_FACE_STRUCTURE)
    return labels, int(n)


def percolating_from_components(labels: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Percolating voxels along ``axis`` from the labels of :func:`face_components`."""
    if n == 0:
        return np.zeros(labels.shape, dtype=bool)
    first = np.unique(np.take(labels, 0, axis=axis))
    last = np.unique(np.take(labels, -1, axis=axis))
    keep = np.intersect1d(first, last)
    keep = keep[keep != 0]
    lut = np.zeros(n + 1, dtype=bool)
    lut[keep] = True
    return lut[labels]


def percolating_mask(mask: np.ndarray, *, axis: int = 2) -> np.ndarray:
    """Voxels connected, through face-adjacent phase voxels, to both end faces.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        The phase.
    axis : int
        Transport axis; the end faces are the first and last layer along it.

    Returns
    -------
    ndarray of bool, same shape
        True where the voxel's 6-connected component touches both the first and
        the last layer along ``axis``.  These are the voxels that can carry
        current between the two electrodes; all others are removed before solving.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"mask must be 3-D, got shape {mask.shape}")
    if axis not in (-3, -2, -1, 0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    labels, n = face_components(mask)
    return percolating_from_components(labels, n, axis)
