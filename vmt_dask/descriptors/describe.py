"""All descriptors of one phase of a label volume."""
from __future__ import annotations

import numpy as np

from ..domain import DESCRIPTOR_KEYS, PHASES, phase_label
from ..errors import InputError
from ._validate import check_axis, check_spacing
from .constrictivity import constrictivity
from .surface_area import specific_surface_area
from .tortuosity import geodesic_tortuosity

__all__ = ["describe", "PHASE_LABELS", "DESCRIPTOR_KEYS", "phase_value"]

#: Label codes of the named phases (:data:`vmt_dask.domain.PHASES`; docs/conventions.md:
#: 0 = pore, 1 = SE, 2 = AM).
PHASE_LABELS = PHASES


def phase_value(phase) -> int:
    """Label value of ``phase`` ("SE", "AM", "pore" in any case, or an integer label)."""
    try:
        return phase_label(phase)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None


def describe(labels: np.ndarray, *, phase: str | int, voxel_size=0.2,
             axis: int = 2) -> dict[str, float]:
    """Volume fraction, surface area, tortuosity and constrictivity of one phase.

    Parameters
    ----------
    labels : ndarray of int, shape (nx, ny, nz)
        Label volume (0 = pore, 1 = SE, 2 = AM, or any integer labels).
    phase : {"SE", "AM", "pore"} or int
        The phase to describe.
    voxel_size : float or (dx, dy, dz)
        Voxel edge length(s) in micrometres (default 0.2); anisotropic voxels
        use physical distances in every descriptor.
    axis : int
        Transport direction for tortuosity and intrusion (default 2 = z).

    Returns
    -------
    dict
        ``volume_fraction`` (1), ``specific_surface_area`` (1/micrometre),
        ``tortuosity_mean``, ``tortuosity_std`` (population std; both NaN if
        the phase does not connect start and target plane),
        ``tortuosity_reached`` (fraction of start-plane phase voxels that reach
        the target plane), ``constrictivity`` (1), ``r_min`` and ``r_max``
        (micrometres).

    Raises
    ------
    InputError
        (a ``ValueError``) for a volume that is not 3-D, not integer, too thin, or a
        phase that does not occur in it.

    Notes
    -----
    Paper Section 2.3; see :func:`~vmt_dask.descriptors.volume_fraction`,
    :func:`~vmt_dask.descriptors.specific_surface_area`,
    :func:`~vmt_dask.descriptors.geodesic_tortuosity` and
    :func:`~vmt_dask.descriptors.constrictivity`.
    """
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"labels must be a numpy array, got {type(labels).__name__}")
    if labels.ndim != 3:
        raise InputError(f"labels must be a 3-D volume (x, y, z), got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise InputError(f"labels must hold integer labels, got dtype {labels.dtype}")
    if min(labels.shape) < 2:
        raise InputError(f"labels need at least 2 voxels along every axis, got shape {labels.shape}")
    value = phase_value(phase)
    try:
        spacing = check_spacing(voxel_size)
        axis = check_axis(axis)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    mask = labels == value
    n = int(np.count_nonzero(mask))
    if n == 0:
        present = ", ".join(str(v) for v in np.unique(labels)[:10])
        raise InputError(f"phase {phase!r} (label {value}) is empty in this volume (labels present: {present})")
    tau = geodesic_tortuosity(mask, axis=axis, voxel_size=spacing)
    con = constrictivity(mask, voxel_size=spacing, axis=axis)
    return {
        "volume_fraction": n / mask.size,
        "specific_surface_area": specific_surface_area(mask, voxel_size=spacing),
        "tortuosity_mean": tau.mean,
        "tortuosity_std": tau.std,
        "tortuosity_reached": tau.reached_fraction,
        "constrictivity": con.beta,
        "r_min": con.r_min,
        "r_max": con.r_max,
    }
