"""Task functions of the study, run on Dask workers.

Every task receives the store URL and volume keys, never arrays: volumes go from the
generator straight into the Zarr store and are read back from there by the worker that
describes or conducts them, so they never pass through the client or the scheduler.
A task returns a small JSON-able dict (its record).

Each task is idempotent: it first looks for its record and returns it if present; it
writes its record once, atomically (see :class:`~vmt_dask.study.layout.StoreFS`), after
its output is complete.  A task killed at any moment therefore leaves either nothing or
a complete result, and rerunning it gives the same record (the computations are
deterministic functions of theta, shape, voxel size and seed).
"""
from __future__ import annotations

import logging
import math
import time

import numpy as np

from .design import function_means, function_values, gradient_from_means
from .layout import StoreFS, record_path
from .spec import FUNCTIONS

__all__ = ["realize_task", "describe_task", "conduct_task", "gradient_task", "PHASE_CODES"]

logger = logging.getLogger(__name__)

#: Label codes of the phases the study describes (vmt_dask.model: SE = 1, AM = 2).
PHASE_CODES = {"SE": 1, "AM": 2}


def _clean(value):
    """JSON-able Python scalars from numpy ones."""
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    return value


def _existing(fs: StoreFS, rel: str) -> dict | None:
    if fs.exists(rel):
        try:
            return fs.read_json(rel)
        except (ValueError, OSError):  # unreadable record: recompute and overwrite
            logger.warning("record %s unreadable; recomputing", rel)
    return None


def realize_task(store: str, key: str, theta, seed: int, *, shape, voxel_size: float, chi2_dof: int,
                 chunks: int | None, stage: str, meta: dict | None = None, threads: int = 1) -> dict:
    """Generate one realization into the store (if not there yet) and record it.

    ``stage`` is ``"realize"`` (gradient evaluations) or ``"structure"`` (database
    structures); ``meta`` (provenance) is copied into the record.
    """
    from ..model import realize
    from ..store import volume_exists, write_volume

    fs = StoreFS(store)
    rel = record_path(stage, key)
    rec = _existing(fs, rel)
    if rec is not None:
        return rec
    t0 = time.perf_counter()
    theta = [float(x) for x in theta]
    generated = False
    if not volume_exists(store, key):
        labels = realize(theta, tuple(shape), seed=int(seed), voxel_size=voxel_size, chi2_dof=chi2_dof,
                         threads=threads)
        chunk_shape = None if chunks is None else tuple(min(int(chunks), int(n)) for n in shape)
        write_volume(store, key, labels, theta=theta, seed=int(seed), voxel_size=voxel_size,
                     chi2_dof=chi2_dof, overwrite=True, chunks=chunk_shape)
        generated = True
    rec = {"key": key, "theta": theta, "seed": int(seed), "shape": [int(s) for s in shape],
           "voxel_size": voxel_size, "chi2_dof": chi2_dof, "seconds": time.perf_counter() - t0,
           "generated": generated, **(meta or {})}
    fs.write_json(rel, rec)
    return rec


def describe_task(store: str, key: str, phase: str, *deps, voxel_size: float, axis: int, stage: str = "describe",
                  meta: dict | None = None) -> dict:
    """Descriptors of one phase of a stored volume (``deps``: upstream futures, for ordering only)."""
    from ..descriptors import describe
    from ..store import read_volume

    fs = StoreFS(store)
    rel = record_path(stage, f"{key}-{phase}")
    rec = _existing(fs, rel)
    if rec is not None:
        return rec
    t0 = time.perf_counter()
    labels, _ = read_volume(store, key)
    labels = np.asarray(labels)
    code = PHASE_CODES[phase]
    if not np.any(labels == code):
        # A phase absent from a (small) realization: eps = S = 0, the rest undefined.
        d = {"volume_fraction": 0.0, "specific_surface_area": 0.0, "tortuosity_mean": math.nan,
             "tortuosity_std": math.nan, "tortuosity_reached": 0.0, "constrictivity": math.nan,
             "r_min": 0.0, "r_max": 0.0}
    else:
        d = describe(labels, phase=code, voxel_size=voxel_size, axis=axis)
    rec = {"key": key, "phase": phase, "seconds": time.perf_counter() - t0,
           **{k: _clean(v) for k, v in d.items()}, **(meta or {})}
    fs.write_json(rel, rec)
    return rec


def conduct_task(store: str, key: str, phase: str, *deps, axis: int, rtol: float = 1e-6,
                 meta: dict | None = None) -> dict:
    """M-factor of one phase of a stored volume (paper Section 2.5)."""
    from ..conductivity import m_factor
    from ..store import read_volume

    fs = StoreFS(store)
    rel = record_path("conduct", f"{key}-{phase}")
    rec = _existing(fs, rel)
    if rec is not None:
        return rec
    t0 = time.perf_counter()
    labels, _ = read_volume(store, key)
    res = m_factor(np.asarray(labels) == PHASE_CODES[phase], axis=axis, rtol=rtol)
    rec = {"key": key, "phase": phase, "seconds": time.perf_counter() - t0, **(meta or {})}
    for name in ("m_factor", "tau_factor", "volume_fraction", "percolating_fraction", "iterations", "residual"):
        rec[name] = _clean(getattr(res, name, math.nan))
    fs.write_json(rel, rec)
    return rec


def gradient_task(store: str, point: int, theta, describe_keys: list[list[str]], *deps, delta: float) -> dict:
    """Means of the 8 functions at a point and its 7 perturbations, and the gradients.

    ``describe_keys[e][r]`` is the volume key of realization r of evaluation e (0 = base).
    The descriptor records are read from the store (so the gradient is the same whether
    they were computed in this run or an earlier one).

    Returns (and records) ``{"point", "theta", "base_mean" (8,), "perturbed_mean" (8, 7),
    "gradient" (8, 7), "functions"}``.
    """
    fs = StoreFS(store)
    rel = record_path("gradient", f"p{point:02d}")
    rec = _existing(fs, rel)
    if rec is not None:
        return rec
    values = np.empty((len(describe_keys), len(describe_keys[0]), len(FUNCTIONS)))
    for e, keys in enumerate(describe_keys):
        for r, key in enumerate(keys):
            d = {ph: fs.read_json(record_path("describe", f"{key}-{ph}")) for ph in PHASE_CODES}
            values[e, r] = function_values(d)
    means = function_means(values)           # (8 evaluations, 8 functions)
    base = means[0]
    perturbed = means[1:].T                  # (functions, parameters)
    grad = gradient_from_means(base, perturbed, delta)
    nan = lambda a: [[None if not math.isfinite(x) else float(x) for x in row] for row in a]  # noqa: E731
    rec = {"point": point, "theta": [float(x) for x in theta], "functions": list(FUNCTIONS),
           "base_mean": [None if not math.isfinite(x) else float(x) for x in base],
           "perturbed_mean": nan(perturbed), "gradient": nan(grad), "delta": delta}
    fs.write_json(rel, rec)
    return rec
