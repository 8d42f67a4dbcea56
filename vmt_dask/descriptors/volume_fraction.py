"""Volume fraction by point counting."""
from __future__ import annotations

import numpy as np

from ._validate import as_mask

__all__ = ["volume_fraction"]


def volume_fraction(mask: np.ndarray) -> float:
    """Fraction of voxels that belong to the phase.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        Phase indicator.

    Returns
    -------
    float
        ``eps = #phase voxels / #voxels`` in [0, 1] (paper Section 2.3, point
        count estimator of the volume fraction).
    """
    mask = as_mask(mask)
    return float(np.count_nonzero(mask)) / mask.size
