"""Task functions of the study, run on Dask workers (one per stage of :data:`~.stages.STAGE_TABLE`).

Every task receives the store URL and volume keys, never arrays: volumes go from the
generator straight into the Zarr store and are read back from there by the worker that
describes or conducts them, so they never pass through the client or the scheduler.
A task returns a small JSON-able dict (its record).

Each task is idempotent: it first looks for its intact record and returns it if present; it
writes its record once, sealed with a checksum and atomically (:func:`vmt_dask.storage.
write_record`), after its output is complete.  A task killed at any moment therefore leaves
either nothing or a complete result, and rerunning it gives the same record (the computations
are deterministic functions of theta, shape, voxel size and seed).  Before writing, a task
checks that the store still holds its study (``identity``), so a run that lost its lease to a
``--new`` run never mixes its records into the other study.

Repair: a volume is read only through the storage layer's verifying reader; a volume that is
missing or fails its checksum is regenerated **from its own generating record** (theta and
seed), never from another volume, and the task goes on with the regenerated data.
"""
from __future__ import annotations

import logging
import math
import time

import numpy as np

from ..domain import PHASES
from ..storage import DamagedError, check_volume, read_record, read_volume, write_record, write_volume
from .design import function_means, function_values, gradient_from_means
from .layout import STUDY_FILE, record_path
from .spec import FUNCTIONS
from .warm import WARM_PARTS, family_lock, warm_edge, warm_kernels, warm_plan

__all__ = ["realize_task", "describe_task", "conduct_task", "gradient_task", "group_task", "warm_task", "PHASE_CODES",
           "StoreChanged", "WARM_PARTS", "warm_plan", "STAGE_PART"]

logger = logging.getLogger(__name__)

#: Label codes of the phases the study describes (:data:`vmt_dask.domain.PHASES`).
PHASE_CODES = {name: PHASES[name] for name in ("SE", "AM")}
#: Key of the CPSD/SMIP curves in a database structure's describe record.
CURVES_KEY = "curves"
#: Volume attribute naming the generator of a study volume (``vmt generate`` writes the same key).
GENERATOR_ATTR = "generator"
#: Which stage generated the volume a reading stage reads (see stages.STAGE_TABLE inputs).
_SOURCE_STAGE = {"describe": "realize", "describe-structure": "structure", "conduct": "structure"}


class StoreChanged(RuntimeError):
    """The store no longer holds the study this task belongs to (replaced by another run)."""


def _guard(store: str, identity: str | None) -> None:
    """Refuse to write a record into a store that now holds another study (its lease was lost
    and a ``--new`` run replaced it): results of two studies are never mixed."""
    if identity is None:
        return
    meta = read_record(store, STUDY_FILE)
    if meta is None or meta.get("identity") != identity:
        raise StoreChanged(f"store {store!r} no longer holds study {identity}; result discarded")


def _write(store: str, rel: str, rec: dict, identity: str | None) -> None:
    _guard(store, identity)
    # not fsynced: a task record is recomputable and sealed (a lost or torn one reads as absent
    # and is recomputed); the fsyncs cost 1-20 ms per task, more than some 64^3 kernels' share
    write_record(store, rel, rec, durable=False)


def _clean(value):
    """JSON-able Python scalars from numpy ones."""
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    return value


def _rounded(timings: dict) -> dict:
    return {k: round(float(v), 6) for k, v in timings.items()}


def _generate(store: str, key: str, theta, seed: int, *, shape, voxel_size: float, chi2_dof: int,
              chunks: int | None, threads: int = 1, generator: str = "lattice",
              timings: dict | None = None) -> np.ndarray:
    """Generate and store one realization; ``timings`` (if given) gets ``kernel`` and ``write``
    seconds."""
    from ..model import realize

    t0 = time.perf_counter()
    # the generator is always named (never the model's default, which may change): a resumed
    # store regenerates exactly the realizations it was created with
    labels = realize([float(x) for x in theta], tuple(shape), seed=int(seed), voxel_size=voxel_size,
                     chi2_dof=chi2_dof, threads=threads, generator=generator)
    t1 = time.perf_counter()
    chunk_shape = None if chunks is None else tuple(min(int(chunks), int(n)) for n in shape)
    # the generator's name as a volume attribute, as `vmt generate` writes it (`vmt info` shows it)
    write_volume(store, key, labels, theta=[float(x) for x in theta], seed=int(seed), voxel_size=voxel_size,
                 chi2_dof=chi2_dof, overwrite=True, chunks=chunk_shape, durable=False,
                 extra_attrs={GENERATOR_ATTR: str(generator)})
    if timings is not None:
        timings.update(kernel=t1 - t0, write=time.perf_counter() - t1)
    return labels


def _volume_matches(store: str, key: str, theta, seed: int, shape, generator: str | None = None) -> bool:
    """True when an intact volume ``key`` with this theta, seed and shape (and ``generator``, where
    the volume names one: volumes written before the attribute existed do not) is stored (every
    chunk hashed: a task runs only when its record or its volume needs repair, and hashing one
    volume costs far less than generating it)."""
    chk = check_volume(store, key, deep=True)
    if not chk.ok or not chk.attrs:
        return False
    a = chk.attrs
    if generator is not None and a.get(GENERATOR_ATTR, generator) != generator:
        return False
    return (int(a.get("seed", -1)) == int(seed) and list(a.get("shape", [])) == [int(s) for s in shape]
            and np.array_equal(np.asarray(a.get("theta", []), dtype=float), np.asarray(theta, dtype=float)))


def realize_task(store: str, key: str, theta, seed: int, *deps, shape, voxel_size: float, chi2_dof: int,
                 chunks: int | None, stage: str, meta: dict | None = None, threads: int = 1,
                 identity: str | None = None, generator: str = "lattice") -> dict:
    """Generate one realization into the store (unless an intact copy is there) and record it.

    ``stage`` is ``"realize"`` (gradient evaluations) or ``"structure"`` (database
    structures); ``meta`` (provenance) is copied into the record.  A volume that is missing or
    damaged is regenerated from theta and seed even when its record is intact (repair).
    """
    return _realize(store, key, theta, seed, shape=shape, voxel_size=voxel_size, chi2_dof=chi2_dof, chunks=chunks,
                    stage=stage, meta=meta, threads=threads, identity=identity, generator=generator)[0]


def _realize(store: str, key: str, theta, seed: int, *, shape, voxel_size: float, chi2_dof: int,
             chunks: int | None, stage: str, meta: dict | None = None, threads: int = 1,
             identity: str | None = None, generator: str = "lattice") -> tuple[dict, "np.ndarray | None"]:
    """:func:`realize_task` returning ``(record, labels)``; labels None when nothing was generated."""
    rel = record_path(stage, key)
    rec = read_record(store, rel)
    if rec is not None and _volume_matches(store, key, theta, seed, shape, generator):
        return rec, None
    t0 = time.perf_counter()
    theta = [float(x) for x in theta]
    generated = False
    timings: dict = {}
    labels = None
    if not _volume_matches(store, key, theta, seed, shape, generator):
        _guard(store, identity)
        labels = _generate(store, key, theta, seed, shape=shape, voxel_size=voxel_size, chi2_dof=chi2_dof,
                           chunks=chunks, threads=threads, generator=generator, timings=timings)
        generated = True
    if rec is not None:
        return rec, labels  # the record was intact: only the volume needed repair
    rec = {"key": key, "theta": theta, "seed": int(seed), "shape": [int(s) for s in shape],
           "voxel_size": voxel_size, "chi2_dof": chi2_dof, "seconds": time.perf_counter() - t0,
           "generated": generated, "chunks": chunks, "timings": _rounded(timings),
           **({} if generator == "lattice" else {"generator": generator}),
           **(meta or {})}
    _write(store, rel, rec, identity)
    return rec, labels


def _labels(store: str, key: str, stage: str) -> np.ndarray:
    """The verified volume ``key``; regenerated from its generating record if missing or damaged."""
    try:
        labels, _ = read_volume(store, key)
        return np.asarray(labels)
    except KeyError as exc:  # DamagedError is a KeyError: a missing, truncated or altered piece
        source = record_path(_SOURCE_STAGE[stage], key)
        rec = read_record(store, source)
        if rec is None:
            raise DamagedError(f"volume {key!r} is unreadable ({exc}) and its record {source} is missing; "
                               "rerun the study to regenerate it") from None
        logger.warning("volume %s unreadable (%s): regenerating it from its seed", key, exc)
        return _generate(store, key, rec["theta"], rec["seed"], shape=rec["shape"], voxel_size=rec["voxel_size"],
                         chi2_dof=rec["chi2_dof"], chunks=rec.get("chunks"),
                         generator=rec.get("generator", "lattice"))


# The model keeps its realization buffers per process (vmt_dask.model.realize, ~8.6 B/voxel,
# 556 MB at 401^3) for the next realization; task_memory does not count them beside a describe or
# conduct task's own peak, so a worker drops them before those tasks on large grids (the first
# touch they save is ~0.3-0.8 s per 401^3 realization; a study's worker alternates task kinds).
POOL_RELEASE_VOXELS = 256 ** 3


def _release_model_buffers(labels: np.ndarray) -> None:
    if labels.size >= POOL_RELEASE_VOXELS:
        from ..model.realize import release_buffers

        release_buffers()


def describe_task(store: str, key: str, phase: str, *deps, voxel_size: float, axis: int, stage: str = "describe",
                  meta: dict | None = None, identity: str | None = None, labels: np.ndarray | None = None) -> dict:
    """Descriptors of one phase of a stored volume (``deps``: upstream futures, for ordering only).

    ``labels``: the volume itself when the caller just generated it (:func:`group_task`), so it
    is not read back from the store.  A database structure's record (``stage=
    "describe-structure"``) also holds the CPSD and SMIP curves of the same constrictivity
    computation (:data:`CURVES_KEY`: ``{"radius_um": [...], "cpsd": [...], "smip": [...]}``;
    read them with :func:`vmt_dask.study.read_curves`)."""
    from ..descriptors import describe

    rel = record_path(stage, f"{key}-{phase}")
    rec = read_record(store, rel)
    if rec is not None:
        return rec
    t0 = time.perf_counter()
    if labels is None:
        labels = _labels(store, key, stage)
    _release_model_buffers(labels)
    t1 = time.perf_counter()
    code = PHASE_CODES[phase]
    want_curves = stage == "describe-structure"
    curves = None
    if not np.any(labels == code):
        # A phase absent from a (small) realization: eps = S = 0, the rest undefined.
        d = {"volume_fraction": 0.0, "specific_surface_area": 0.0, "tortuosity_mean": math.nan,
             "tortuosity_std": math.nan, "tortuosity_reached": 0.0, "constrictivity": math.nan,
             "r_min": 0.0, "r_max": 0.0}
        curves = {"radius_um": [], "cpsd": [], "smip": []} if want_curves else None
    else:
        d = dict(describe(labels, phase=code, voxel_size=voxel_size, axis=axis, curves=want_curves))
        c = d.pop("curves", None)
        if c is not None:  # float64 -> JSON (repr: exact round trip)
            curves = {"radius_um": [float(x) for x in c["radius"]], "cpsd": [float(x) for x in c["cpsd"]],
                      "smip": [float(x) for x in c["smip"]]}
    t2 = time.perf_counter()
    rec = {"key": key, "phase": phase, "seconds": t2 - t0, "timings": _rounded({"read": t1 - t0, "kernel": t2 - t1}),
           **{k: _clean(v) for k, v in d.items()}, **(meta or {})}
    if curves is not None:
        rec[CURVES_KEY] = curves
    _write(store, rel, rec, identity)
    return rec


#: Fields of the solver's result copied into a conduct record (those the result has: the
#: criterion and its error estimate came with the energy criterion, session 8).
CONDUCT_FIELDS = ("m_factor", "tau_factor", "volume_fraction", "percolating_fraction", "iterations", "residual",
                  "criterion", "m_error_estimate", "m_factor_currents")


def conduct_task(store: str, key: str, phase: str, *deps, axis: int, rtol: float | None = None,
                 m_tol: float | None = None, meta: dict | None = None, identity: str | None = None,
                 labels: np.ndarray | None = None) -> dict:
    """M-factor of one phase of a stored volume (paper Section 2.5); ``labels`` as in
    :func:`describe_task`.

    The solver's default stopping criterion unless ``rtol`` (residual criterion) or ``m_tol``
    (energy criterion with that tolerance) is given; the record names the criterion the
    solver used.  A record already in the store is returned as it is (a store resumed after
    the default changed keeps its M-factors; see :class:`~vmt_dask.study.stages.StudyPlan`).
    """
    from ..conductivity import m_factor

    rel = record_path("conduct", f"{key}-{phase}")
    rec = read_record(store, rel)
    if rec is not None:
        return rec
    t0 = time.perf_counter()
    if labels is None:
        labels = _labels(store, key, "conduct")
    _release_model_buffers(labels)
    t1 = time.perf_counter()
    criterion = {k: v for k, v in (("rtol", rtol), ("m_tol", m_tol)) if v is not None}
    res = m_factor(labels == PHASE_CODES[phase], axis=axis, **criterion)
    t2 = time.perf_counter()
    rec = {"key": key, "phase": phase, "seconds": t2 - t0, "timings": _rounded({"read": t1 - t0, "kernel": t2 - t1}),
           **(meta or {})}
    for name in CONDUCT_FIELDS:
        if name in ("criterion", "m_error_estimate", "m_factor_currents") and not hasattr(res, name):
            continue
        value = getattr(res, name, math.nan)
        rec[name] = value if isinstance(value, str) else _clean(value)
    rec.update(criterion)
    _write(store, rel, rec, identity)
    return rec


def group_task(store: str, members, *deps) -> dict:
    """Run several study tasks in one Dask task: volume tasks and the tasks that read their volumes.

    ``members`` is ``[(task, volume, record, args, kwargs), ...]`` (built by the coordinator
    from the stage table, so this module does not import it): the name of the task function in
    this module, whether it writes a volume, its record path and its arguments, in dependency
    order: a ``realize``/``structure`` task comes before the ``describe``/``describe-structure``/
    ``conduct`` tasks of its volume.  A batch may hold several volumes (the coordinator's
    batching of small grids, :func:`vmt_dask.study.coordinator.run_study` ``batch``); only the
    latest volume is kept in memory.  A reader of the volume just generated gets it in memory
    instead of reading it back and verifying it from the store; a reader of any other volume
    (e.g. one generated by an earlier run) reads it as on its own.  Everything else is exactly
    what the member tasks do one by one: each writes its own sealed record as soon as it is
    computed, and a member whose record is intact returns it, so a batch interrupted halfway
    (a killed worker, a failed member) keeps its finished records and a rerun recomputes only
    the rest.  Returns ``{record path: record}``.

    For small grids this removes per volume 2-4 Dask tasks (and per batch of volumes many more),
    the volume reads and their scheduling round trips (``python -m vmt_dask.bench study``
    measures them).

    Raises
    ------
    ValueError
        A member names no task function of this module.
    """
    out: dict = {}
    current: tuple = (None, None)  # (volume key, labels) of the latest volume generated here
    for task, volume, rel, args, kwargs in members:
        if task not in _MEMBER_TASKS:
            raise ValueError(f"group_task: unknown member task {task!r}; expected one of {sorted(_MEMBER_TASKS)}")
        kw = dict(kwargs)
        if volume != (task == "realize_task"):
            raise ValueError(f"group_task: member {rel}: task {task!r} with volume={volume!r}")
        if volume:
            current = (None, None)  # free the previous volume before generating the next
            rec, labels = _realize(store, *args, **kw)
            current = (args[0], labels)
        else:
            labels = current[1] if current[0] == args[0] else None
            rec = _MEMBER_TASKS[task](store, *args, labels=labels, **kw)
        # the curves stay in the store: the coordinator needs the values, not the arrays
        out[rel] = {k: v for k, v in rec.items() if k != CURVES_KEY} if CURVES_KEY in rec else rec
    return out


def gradient_task(store: str, point: int, theta, describe_keys, *deps, delta: float,
                  identity: str | None = None) -> dict:
    """Means of the 8 functions at a point and its 7 perturbations, and the gradients.

    ``describe_keys[e][r]`` is the volume key of realization r of evaluation e (0 = base).
    The descriptor records are read from the store (so the gradient is the same whether
    they were computed in this run or an earlier one).

    Returns (and records) ``{"point", "theta", "base_mean" (8,), "perturbed_mean" (8, 7),
    "gradient" (8, 7), "functions"}``.

    Raises
    ------
    DamagedError
        A descriptor record is missing or damaged (rerun: it is recomputed first).
    """
    rel = record_path("gradient", f"p{point:02d}")
    rec = read_record(store, rel)
    if rec is not None:
        return rec
    values = np.empty((len(describe_keys), len(describe_keys[0]), len(FUNCTIONS)))
    for e, keys in enumerate(describe_keys):
        for r, key in enumerate(keys):
            d = {}
            for ph in PHASE_CODES:
                src = record_path("describe", f"{key}-{ph}")
                d[ph] = read_record(store, src)
                if d[ph] is None:
                    raise DamagedError(f"gradient p{point:02d}: record {src} is missing or damaged")
            values[e, r] = function_values(d)
    means = function_means(values)           # (8 evaluations, 8 functions)
    base = means[0]
    perturbed = means[1:].T                  # (functions, parameters)
    grad = gradient_from_means(base, perturbed, delta)
    nan = lambda a: [[None if not math.isfinite(x) else float(x) for x in row] for row in a]  # noqa: E731
    rec = {"point": point, "theta": [float(x) for x in theta], "functions": list(FUNCTIONS),
           "base_mean": [None if not math.isfinite(x) else float(x) for x in base],
           "perturbed_mean": nan(perturbed), "gradient": nan(grad), "delta": delta}
    _write(store, rel, rec, identity)
    return rec


#: Task functions a :func:`group_task` member may name (the stage table's ``task`` names).
_MEMBER_TASKS = {"realize_task": None, "describe_task": describe_task, "conduct_task": conduct_task}

#: The warm-up part whose kernels each stage's task calls (stages.STAGE_TABLE names).
STAGE_PART = {"realize": "realize", "structure": "realize", "describe": "describe",
              "describe-structure": "describe", "conduct": "conduct"}


def warm_task(parts, theta, *, shape, voxel_size: float, axis: int, chi2_dof: int,
              generator: str = "lattice", timed=None) -> dict:
    """Compile (or load from numba's on-disk cache) the kernels of ``parts`` in this worker.

    Each family runs under its machine-wide lock (:func:`vmt_dask.study.warm.family_lock`):
    numba's ``cache=True`` stores what is compiled, so workers (and ``make demo``'s install-time
    background compile, :mod:`vmt_dask.study.warm`) sharing the cache compile each family once;
    a worker whose family is being compiled elsewhere waits and then loads it.  The coordinator
    gives each worker different ``parts`` first.  Returns ``{"seconds": {part: s}, "waited":
    {part: s}, "cost": {part: s}, "edge": [n, n, n], "pid": ...}`` (``seconds`` includes the
    wait; ``cost`` is a second, timed pass of the loaded kernels on the warm-up's grid ``edge``
    (:func:`~vmt_dask.study.warm.warm_edge`): one realization, or both study phases described /
    conducted; the coordinator sizes its first batches by it, then by the records' own seconds).
    Only the parts in ``timed`` get that pass (default: all of ``parts``).  The coordinator's
    :func:`~vmt_dask.study.warm.warm_plan` gives each family to exactly one worker, so a study
    times each family once (~0.05-0.2 s each at 48^3), and :class:`~vmt_dask.study.coordinator.
    BatchCosts` keeps that one value per family; a family without it is priced by the prior
    until 3 of its records arrive (measured on the demo plan: describe's prior is 2x its timed
    cost at 48^3, and its first submission cuts into 105 batches instead of 90).  ``timed=()``
    only compiles (the bench's cache fill).  Kernels missed here compile on first use, as
    without a warm-up; results never depend on it.
    """
    import os

    parts = tuple(parts)
    timed = set(parts if timed is None else timed)
    out: dict = {}
    waited: dict = {}
    cost: dict = {}
    kw = dict(shape=shape, voxel_size=voxel_size, axis=axis, chi2_dof=chi2_dof, generator=generator)
    for part in parts:
        t0 = time.perf_counter()
        with family_lock(part) as w:
            warm_kernels((part,), theta, **kw)
        out[part] = time.perf_counter() - t0
        waited[part] = round(w, 3)
        if part in timed:
            cost[part] = warm_kernels((part,), theta, **kw)[part]  # compiled now: the steady-state cost
    return {"seconds": out, "waited": waited, "cost": cost, "edge": list(warm_edge(shape)), "pid": os.getpid()}
