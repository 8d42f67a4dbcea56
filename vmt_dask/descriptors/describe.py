"""All descriptors of one phase of a label volume."""
from __future__ import annotations

import numpy as np

from ..domain import DESCRIPTOR_KEYS, PHASES, phase_label
from ..errors import InputError
from ._validate import check_axis, check_spacing
from .constrictivity import constrictivity
from .surface_area import specific_surface_area
from .thickness import shared_segment_budget
from .tortuosity import geodesic_tortuosity

__all__ = ["describe", "describe_all", "PHASE_LABELS", "DESCRIPTOR_KEYS", "phase_value"]

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
             axis: int = 2, curves: bool = False) -> dict:
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
    curves : bool
        Also return the CPSD and SMIP curves of the same constrictivity evaluation
        (key ``"curves"``; cubic voxels only).

    Returns
    -------
    dict
        ``volume_fraction`` (1), ``specific_surface_area`` (1/micrometre),
        ``tortuosity_mean``, ``tortuosity_std`` (population std; both NaN if
        the phase does not connect start and target plane),
        ``tortuosity_reached`` (fraction of start-plane phase voxels that reach
        the target plane), ``constrictivity`` (1), ``r_min`` and ``r_max``
        (micrometres).  With ``curves=True`` also ``"curves"``: ``{"radius": r,
        "cpsd": c, "smip": s}``, float64 arrays of one length: ``r`` ascending
        (micrometres, every radius at which a curve can step), ``c`` and ``s`` the
        volume fractions of the window (CPSD: covered by balls of radius ``>= r``;
        SMIP: intruded from the start plane), as
        :attr:`~vmt_dask.descriptors.ConstrictivityResult.radii` / ``cpsd`` / ``smip``.
        The other values are the same with or without curves.

    Raises
    ------
    InputError
        (a ``ValueError``) for a volume that is not 3-D, not integer, too thin, or a
        phase that does not occur in it; ``curves=True`` with anisotropic voxels.

    Notes
    -----
    Paper Section 2.3; see :func:`~vmt_dask.descriptors.volume_fraction`,
    :func:`~vmt_dask.descriptors.specific_surface_area`,
    :func:`~vmt_dask.descriptors.geodesic_tortuosity` and
    :func:`~vmt_dask.descriptors.constrictivity`.
    """
    spacing, axis = _check_labels(labels, voxel_size, axis)
    value = phase_value(phase)
    mask = labels == value
    n = int(np.count_nonzero(mask))
    if n == 0:
        present = ", ".join(str(v) for v in np.unique(labels)[:10])
        raise InputError(f"phase {phase!r} (label {value}) is empty in this volume (labels present: {present})")
    return _describe_mask(mask, n, spacing, axis, bool(curves))


def _check_labels(labels, voxel_size, axis):
    """Validated ``(spacing, axis)`` of a label volume; InputError/TypeError naming the problem."""
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"labels must be a numpy array, got {type(labels).__name__}")
    if labels.ndim != 3:
        raise InputError(f"labels must be a 3-D volume (x, y, z), got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise InputError(f"labels must hold integer labels, got dtype {labels.dtype}")
    if min(labels.shape) < 2:
        raise InputError(f"labels need at least 2 voxels along every axis, got shape {labels.shape}")
    try:
        return check_spacing(voxel_size), check_axis(axis)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _describe_mask(mask, n, spacing, axis, curves: bool = False, constrictivity_first: bool = False) -> dict:
    if curves and not spacing[0] == spacing[1] == spacing[2]:
        raise InputError(f"curves=True needs cubic voxels, got voxel_size {tuple(spacing)}")
    if constrictivity_first:
        con = constrictivity(mask, voxel_size=spacing, axis=axis, curves=curves)
        tau = geodesic_tortuosity(mask, axis=axis, voxel_size=spacing)
    else:
        tau = geodesic_tortuosity(mask, axis=axis, voxel_size=spacing)
        con = constrictivity(mask, voxel_size=spacing, axis=axis, curves=curves)
    out = {
        "volume_fraction": n / mask.size,
        "specific_surface_area": specific_surface_area(mask, voxel_size=spacing),
        "tortuosity_mean": tau.mean,
        "tortuosity_std": tau.std,
        "tortuosity_reached": tau.reached_fraction,
        "constrictivity": con.beta,
        "r_min": con.r_min,
        "r_max": con.r_max,
    }
    if curves:
        out["curves"] = {"radius": con.radii, "cpsd": con.cpsd, "smip": con.smip}
    return out


def describe_all(labels: np.ndarray, *, phases=("SE", "AM"), voxel_size=0.2, axis: int = 2,
                 workers: int = 1, curves: bool = False) -> dict[str, dict]:
    """:func:`describe` of several phases of one label volume.

    Parameters
    ----------
    labels : ndarray of int, shape (nx, ny, nz)
        Label volume, validated once.
    phases : sequence of str or int
        The phases (default SE and AM).
    voxel_size, axis, curves
        As for :func:`describe`.
    workers : int
        ``1``: the phases one after the other (peak memory of one phase: about 10
        bytes per voxel besides the labels).  ``2`` or more: that many phases at once
        in threads (the local thickness's template segments then get 1 byte per voxel
        per phase instead of 4, else the rows are evaluated: the same values, slower for
        coarse phases such as BM10's SE) (every kernel releases the GIL; the serial ones, the bottleneck
        flood and the tortuosity search, then overlap; each worker's threaded kernels
        get ``threads // workers`` threads), with the memory of that many phases; every
        other phase computes its constrictivity before its tortuosity, so that two
        tortuosity fields (float64, the largest arrays) do not coexist unless the
        phases' times differ a lot.  The
        kernels are serial numba functions run over chunks by Python threads
        (:mod:`._parallel`), so this works with any numba threading layer.

    Returns
    -------
    dict
        Phase (as given) -> the dict of :func:`describe`, equal to it key for key.

    Raises
    ------
    InputError
        As :func:`describe`, for the volume or any phase, before any phase is computed.
    """
    spacing, axis = _check_labels(labels, voxel_size, axis)
    values = [phase_value(p) for p in phases]
    for p, v in zip(phases, values):
        if not (labels == v).any():
            shown = ", ".join(str(x) for x in np.unique(labels)[:10])
            raise InputError(f"phase {p!r} (label {v}) is empty in this volume (labels present: {shown})")
    workers = int(workers)
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    curves = bool(curves)
    if curves and not spacing[0] == spacing[1] == spacing[2]:
        raise InputError(f"curves=True needs cubic voxels, got voxel_size {tuple(spacing)}")

    def one(value, threads=None, constrictivity_first=False):
        if threads is None:
            mask = labels == value
            return _describe_mask(mask, int(np.count_nonzero(mask)), spacing, axis, curves)
        import numba

        numba.set_num_threads(threads)  # per calling thread: no oversubscription
        # phases at once: the local thickness's template segments get the smaller budget
        # of phases described together (thickness.shared_segment_budget; the same values)
        with shared_segment_budget():
            mask = labels == value
            return _describe_mask(mask, int(np.count_nonzero(mask)), spacing, axis, curves,
                                  constrictivity_first)

    if workers == 1:
        return {p: one(v) for p, v in zip(phases, values)}
    import numba
    from concurrent.futures import ThreadPoolExecutor

    # the phases share the cores: each worker's parallel kernels get its share of threads
    share = max(1, numba.get_num_threads() // workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # every other phase computes its constrictivity first: the tortuosity's float64
        # field (8 bytes per voxel) of one phase then meets the other's constrictivity
        # (~6), not the other's tortuosity field
        futures = {p: pool.submit(one, v, share, q % 2 == 1) for q, (p, v) in enumerate(zip(phases, values))}
        return {p: f.result() for p, f in futures.items()}
