"""Run a parameter study on ``dask.distributed`` (paper Section 2.4 at cluster scale).

The study is the stage table and the pure state machine of :mod:`vmt_dask.study.stages`;
this module only connects them to a cluster and a store:

1. **Before anything is created**: the spec is validated, the store named, the point
   selection checked, the store's identity read (read-only), and the memory one task needs
   (:func:`task_memory`) compared with the workers' memory limits.
2. **One writer**: the coordinator takes the store's lease (:func:`vmt_dask.storage.
   acquire_lease`, heartbeat in a thread); a second run refuses with a message naming the
   holder, and ``new=True`` replaces a store only while holding its lease (the lease file is
   kept), so it never touches a store another live run holds.
3. **State**: the intact (checksummed) records and intact volumes give the done set
   (:meth:`StudyPlan.settle`); damaged records read as absent and damaged volumes are
   regenerated from their seeds (repair).  The plan returns the tasks still to run; each
   completion is fed back (:meth:`StudyPlan.after`: a gradient unlocks its point's steps).
4. **End**: the expected records are read again and verified; the run is ``"finished"`` only
   when every one of them is intact.

Progress goes to a callback (the CLI's display) and to the scheduler's event log under
:data:`vmt_dask.events.TOPIC` (the dashboard's study page).  ``study_status`` derives a
study's state from its records and its lease, never from the run record alone.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .. import __version__
from ..errors import InputError
from ..events import STAGES, TOPIC, study_message
from ..storage import (DamagedError, LeaseBusy, acquire_lease, clean_store, complete_volumes, read_lease,
                       read_record, read_records, resolve, write_record)
from ..storage.lease import LEASE_FILE
from ..storage.records import read_record_checked
from .layout import RUN_FILE, STUDY_FILE, record_path
from .spec import StudySpec, load_spec, spec_from_dict
from .stages import STAGE_TABLE, StudyPlan, Task, parse_points, study_id

__all__ = ["run_study", "StudyRun", "check_store", "init_store", "stage_totals", "make_cluster", "read_spec",
           "read_spec_text", "spec_differences",
           "read_points", "study_status", "verify_study", "task_memory", "POINTS_FILE", "LEASE_OWNER",
           "BatchCosts", "BATCH_TARGET_S"]

logger = logging.getLogger(__name__)

#: Store-relative record of the point selection (``{"points": [..] | null}``; null = all).
POINTS_FILE = "vmt-points.json"
#: Owner name written into the store's lease by a run.
LEASE_OWNER = "vmt study run"


def stage_totals(spec: StudySpec, points: Sequence[int] | None = None) -> dict[str, int]:
    """Number of tasks per progress stage (events.STAGES) for the study (or the selected points)."""
    return StudyPlan(spec, points).totals()


# --------------------------------------------------------------------------------------
# batching of small tasks
# --------------------------------------------------------------------------------------
#: Seconds of work one batch (one Dask task) aims at.  The coordinator's process (client,
#: scheduler, nannies, this driver) spends ~50 ms of CPU per Dask task (measured on the demo,
#: session 4) on the same cores as the workers: at 1 s per task that is ~5 % of the work.
BATCH_TARGET_S = 1.0
#: A submission is cut into at least this many batches per worker (load balance, and the tail
#: of a point's evaluations before its gradient).
BATCH_MIN_PER_WORKER = 4
#: Prior cost of each stage's task in voxels per second on one core (``python -m vmt_dask.bench
#: study`` at 64^3, session 4: realize 1.8, describe 2.2-2.7, conduct 1.0-1.3 Mvoxel/s), used only
#: until the warm-up or the records measure it on this machine.
PRIOR_VOXELS_PER_S = {"realize": 1.8e6, "structure": 1.8e6, "describe": 2.4e6, "describe-structure": 2.4e6,
                      "conduct": 1.1e6}
#: How many of a stage's latest record seconds its measured cost is the median of.
COST_SAMPLES = 64


class BatchCosts:
    """Seconds per task of each stage on this study's grid, for sizing batches.

    In order of preference: the median of the latest :data:`COST_SAMPLES` records' own
    ``seconds`` (at least 3), the warm-up's timed pass (:func:`~vmt_dask.study.tasks.warm_task`
    ``cost``, scaled from its grid to the study's by the voxel count), the prior
    :data:`PRIOR_VOXELS_PER_S`.  The gradient costs nothing here (it is never batched).
    """

    def __init__(self, shape):
        self.voxels = float(np.prod([int(n) for n in shape]))
        self.samples: dict[str, deque] = {}
        self.warm: dict[str, float] = {}

    def warmed(self, result: dict) -> None:
        """Take a warm-up's timed pass (``{"cost": {part: s}, "edge": [..]}``)."""
        cost, edge = result.get("cost") or {}, result.get("edge")
        if not edge:
            return
        scale = self.voxels / float(np.prod([int(n) for n in edge]))
        for part, sec in cost.items():
            per = 2.0 if part in ("describe", "conduct") else 1.0  # the pass covers both study phases
            if isinstance(sec, (int, float)) and math.isfinite(sec) and sec >= 0:
                self.warm[part] = float(sec) / per * scale

    def measured(self, stage: str, seconds: float) -> None:
        """A record's own seconds for ``stage``."""
        if math.isfinite(seconds) and seconds >= 0:
            self.samples.setdefault(stage, deque(maxlen=COST_SAMPLES)).append(float(seconds))

    def stage(self, stage: str) -> float:
        """Estimated seconds of one task of ``stage``."""
        from .tasks import STAGE_PART

        got = self.samples.get(stage)
        if got is not None and len(got) >= 3:
            return float(np.median(got))
        part = STAGE_PART.get(stage)
        if part in self.warm:
            return self.warm[part]
        rate = PRIOR_VOXELS_PER_S.get(stage)
        return 0.0 if rate is None else self.voxels / rate

    def unit(self, tasks: Sequence[Task]) -> float:
        return sum(self.stage(t.stage) for t in tasks)

    @staticmethod
    def target(unit_costs: Sequence[float], workers: int) -> float:
        """Seconds per batch for a submission of units costing ``unit_costs``: at most
        :data:`BATCH_TARGET_S`, and small enough for :data:`BATCH_MIN_PER_WORKER` batches per
        worker."""
        return min(BATCH_TARGET_S, sum(unit_costs) / (BATCH_MIN_PER_WORKER * max(1, int(workers))))


# --------------------------------------------------------------------------------------
# store identity
# --------------------------------------------------------------------------------------
def _location(store):
    loc = resolve(store)  # InputError for '' or an unknown protocol
    return loc


def _study_meta(loc) -> tuple[dict | None, str | None]:
    """(intact study metadata, None) / (None, None) when absent / (None, reason) when damaged."""
    return read_record_checked(loc, STUDY_FILE)


def _entries(loc) -> list[str]:
    try:
        return [p.rstrip("/").rsplit("/", 1)[-1] for p in loc.fs.ls(loc.root, detail=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def check_store(spec: StudySpec, store: str, *, new: bool = False) -> str:
    """Decide what to do with a store, without modifying it.

    Returns ``"create"`` (empty or absent), ``"resume"`` (same spec identity) or
    ``"replace"`` (another study, or a damaged study file, and ``new=True``).

    Raises
    ------
    InputError
        A store made by another spec (without ``new``), a store whose study file is damaged
        (without ``new``), or a non-empty directory that is not a study store (never replaced).
    """
    loc = _location(store)
    if loc.local and os.path.exists(loc.root) and not os.path.isdir(loc.root):
        raise InputError(f"store {loc.display()!r} is a file, not a directory")
    entries = [e for e in _entries(loc) if e != LEASE_FILE]
    if not entries:
        return "create"
    meta, damaged = _study_meta(loc)
    if meta is None and damaged is None:
        raise InputError(f"store {loc.display()!r} exists, is not empty and holds no study ({STUDY_FILE} "
                         "missing); choose a new path")
    if meta is None:
        if new:
            return "replace"
        raise InputError(f"store {loc.display()!r}: its study file is damaged ({damaged}); pass --new to "
                         "replace the study or choose a new path")
    if meta.get("identity") == spec.identity():
        return "resume"
    if new:
        return "replace"
    shown = loc.display()
    raise InputError(f"store {shown!r} holds another study: {spec_differences(meta, spec)}; to "
                     f"resume it, run with the store's own spec (vmt study spec {shown} -o old.yaml, then "
                     f"vmt study run old.yaml --store {shown}); or pass --new to replace it (deletes its results)")


#: Fields of :meth:`StudySpec.to_dict` that are not part of the identity.
_NOT_IDENTITY = ("name", "retries")


def spec_differences(meta: dict, spec: StudySpec, limit: int = 3) -> str:
    """The fields in which a store's spec differs from ``spec``, for a one-line message.

    ``meta`` is the store's study file (its ``spec`` is the YAML text :func:`init_store` wrote).

    ``"generator: 'simd' in the store, 'simd2' in this spec"``; at most ``limit`` fields are
    named (then ``"and K more"``).  The stored text is read as the store's version wrote it:
    when it no longer validates (a field this version does not know), its raw mapping is
    compared; when it cannot be read at all, the two identities are named instead.
    """
    import yaml

    from .spec import _short

    stored_yaml = meta.get("spec")
    try:
        raw = yaml.safe_load(stored_yaml) if isinstance(stored_yaml, str) else None
    except yaml.YAMLError:
        raw = None
    if not isinstance(raw, dict):
        return f"its spec is unreadable (this spec's identity is {spec.identity()!r})"
    try:
        old = spec_from_dict(raw).to_dict()
    except (InputError, ValueError, TypeError):
        old = dict(raw)
    new = spec.to_dict()
    # to_dict leaves the generator out when it is the original one
    defaults = {"generator": "lattice"}
    keys = [k for k in dict.fromkeys([*new, *old]) if k not in _NOT_IDENTITY]
    diffs = []
    for k in keys:
        a, b = old.get(k, defaults.get(k)), new.get(k, defaults.get(k))
        if a != b:
            diffs.append(f"{k}: {_short(a, 40)} in the store, {_short(b, 40)} in this spec")
    if not diffs:
        return (f"the same fields but another identity (store {meta.get('identity')!r}, this spec "
                f"{spec.identity()!r}: made by another version)")
    more = f"; and {len(diffs) - limit} more field(s)" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more


def _remove_all_but_lease(loc) -> None:
    for entry in _entries(loc):
        if entry == LEASE_FILE:
            continue
        path = loc.path(entry)
        if loc.local:
            import shutil

            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        else:
            loc.fs.rm(path, recursive=True)


def init_store(spec: StudySpec, store: str, action: str) -> None:
    """Create (or replace) the study metadata according to :func:`check_store`'s answer.

    Call it holding the store's lease: ``"replace"`` deletes everything but the lease.
    """
    loc = _location(store)
    if action == "replace":
        logger.warning("replacing the study in %s", loc.display())
        _remove_all_but_lease(loc)
    if action in ("create", "replace"):
        loc.fs.makedirs(loc.root, exist_ok=True)
        write_record(loc, STUDY_FILE, {"identity": spec.identity(), "name": spec.name, "spec": spec.to_yaml(),
                                       "version": __version__, "created": time.time()})
    # the Zarr root and volumes groups exist before any task writes a volume: concurrent first
    # writers would otherwise race to create them (zarr's ContainsGroupError)
    from ..storage.volumes import VOLUMES, open_root

    open_root(loc, mode="a").require_group(VOLUMES)


def read_spec(store: str) -> StudySpec:
    """The spec a study store was created with.

    Raises
    ------
    InputError
        No such store, no study in it, or a damaged study file.
    """
    from .spec import parse_spec_text

    loc = _location(store)
    if not loc.fs.exists(loc.root):
        raise InputError(f"no such store: {loc.display()!r}")
    meta, damaged = _study_meta(loc)
    if meta is None:
        why = f"its study file is damaged ({damaged})" if damaged else f"{STUDY_FILE} missing"
        raise InputError(f"store {loc.display()!r} holds no readable study ({why})")
    return spec_from_dict(parse_spec_text(meta["spec"], "yaml", f"in store {loc.display()!r}"))


def read_spec_text(store: str) -> str:
    """The YAML text of the spec a study store was created with, as that run wrote it.

    Raises
    ------
    InputError
        No such store, no study in it, or a damaged study file.
    """
    loc = _location(store)
    if not loc.fs.exists(loc.root):
        raise InputError(f"no such store: {loc.display()!r}")
    meta, damaged = _study_meta(loc)
    if meta is None or not isinstance(meta.get("spec"), str):
        why = f"its study file is damaged ({damaged})" if damaged else f"{STUDY_FILE} missing"
        raise InputError(f"store {loc.display()!r} holds no readable study ({why})")
    return meta["spec"]


def read_points(store: str) -> tuple[int, ...] | None:
    """The point selection recorded in a store (None: every point)."""
    rec, _ = read_record_checked(_location(store), POINTS_FILE)
    if rec is None or rec.get("points") is None:
        return None
    return tuple(int(p) for p in rec["points"])


def _record_points(loc, previous: tuple[int, ...] | None, selected: tuple[int, ...] | None,
                   fresh: bool) -> tuple[int, ...] | None:
    """Record the store's point selection and return it.

    A run without a selection selects every point (None); a selection on a fresh store is
    recorded as is; on a resumed store it is added to the previous selection (a store already
    covering every point stays so).
    """
    if selected is None or (not fresh and previous is None):
        scope = None
    elif fresh:
        scope = tuple(selected)
    else:
        scope = tuple(sorted(set(previous) | set(selected)))
    write_record(loc, POINTS_FILE, {"points": None if scope is None else list(scope)})
    return scope


# --------------------------------------------------------------------------------------
# cluster and resources
# --------------------------------------------------------------------------------------
#: distributed's monitors, relaxed for the embedded study cluster (whose workers share the
#: cores with the coordinator's process): the system monitor every 2 s instead of 0.5 s, the
#: memory monitors every 1 s instead of 0.1 s, work stealing every 1 s instead of 0.1 s, and no
#: statistical profiler in the workers (a stack sample every 10 ms; the study's tasks are its own
#: numba kernels).  Measured on an idle 2-worker LocalCluster (session 5, load ~3-4): workers
#: 37-38 -> 18-20 ms CPU per second each, the coordinator's process 56-60 -> 50-54.  The event
#: loops' latency probe ("tick") every 1 s instead of 20 ms (it only feeds distributed's
#: unresponsive-loop warning and a metric): on an idle 2-worker LocalCluster (session 7, load
#: ~4) workers 22 -> 5 ms CPU per second each, the coordinator's process 64 -> 14; with two
#: workers on two cores that CPU is taken from the tasks (~4 % of the machine).  A key whose
#: ``DASK_...`` environment variable the user set keeps the user's value.
CLUSTER_CONFIG = {"distributed.admin.system-monitor.interval": "2s",
                  "distributed.worker.memory.monitor-interval": "1s",
                  "distributed.scheduler.work-stealing-interval": "1s",
                  "distributed.admin.tick.interval": "1s",
                  "distributed.worker.profile.enabled": False}


#: glibc allocator settings of the embedded cluster's workers (environment variables, read at
#: process start).  distributed's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536``
#: (``distributed.nanny.pre-spawn-environ``), which also freezes glibc's mmap threshold at
#: 128 KiB: every array above it (a 48^3 float32 field is 432 KiB) is a fresh mmap, so each task
#: page-faults and zero-fills its work arrays again (48^3 demo, minor faults per task: realize
#: 237, describe 358, conduct 936-1186; 1 -> 3, 2-8 and 587-748 with these settings, the rest
#: is the solver's own ``malloc_trim`` after each solve).  Arrays up to 32 MiB come from the
#: heap and are reused task after task; larger ones (every array of a 401^3 task: 64 MB and up)
#: are still mmapped and returned at once, and the heap's free top is returned above 64 MiB, so
#: a worker keeps at most ~64 MiB more than under distributed's setting.  They go into the
#: nanny's ``pre-spawn-environ`` (set before the worker process starts; the nanny's ``env`` is
#: applied inside the started process, too late for the allocator).
WORKER_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(64 << 20)}
_SPAWN_KEY = "distributed.nanny.pre-spawn-environ"


def _distributed_spawn_defaults() -> dict[str, str]:
    """distributed's own ``pre-spawn-environ`` defaults (its distributed.yaml), as strings."""
    import dask
    import distributed  # noqa: F401 - registers distributed's config defaults

    for d in dask.config.defaults:
        try:
            got = d["distributed"]["nanny"]["pre-spawn-environ"]
        except (KeyError, TypeError):
            continue
        if isinstance(got, dict):
            return {str(k): str(v) for k, v in got.items() if v is not None}
    return {}


def worker_spawn_env(environ: "dict[str, str] | None" = None) -> dict[str, str]:
    """The environment the embedded cluster's nannies set before starting a worker process.

    distributed's ``distributed.nanny.pre-spawn-environ`` (dask config, the user's included)
    with :data:`WORKER_MALLOC_ENV` over it, except where the user chose a value, read now (not
    at import): a ``MALLOC_*`` variable in ``environ`` (default ``os.environ``) or in the
    config's ``pre-spawn-environ`` wins; a config value ``None`` leaves the variable unset.  A
    value equal to distributed's own default (``MALLOC_TRIM_THRESHOLD_=65536``) is not taken
    for the user's: a nanny started earlier in this process leaves it in the environment, and
    the config holds it by default.
    """
    import dask

    environ = os.environ if environ is None else environ
    defaults = _distributed_spawn_defaults()
    config = dask.config.get(_SPAWN_KEY, default={}) or {}
    env = {str(k): str(v) for k, v in config.items() if v is not None}
    for key, ours in WORKER_MALLOC_ENV.items():
        if key in config and config[key] is None:
            env.pop(key, None)  # the user unset it in the config
            continue
        if key in environ and environ[key] != defaults.get(key):
            env[key] = environ[key]  # the user's environment
        elif key in env and env[key] != defaults.get(key):
            pass  # the user's config
        else:
            env[key] = ours
    return env


def _dask_env_name(key: str) -> str:
    return "DASK_" + "__".join(part.upper().replace("-", "_") for part in key.split("."))


def make_cluster(workers: int | None = None, *, memory_limit: str | int | None = None):
    """An embedded LocalCluster with worker processes, one thread each, sized to the machine.

    Kernels in the workers run single-threaded (NUMBA_NUM_THREADS=1), so the study's
    parallelism is across tasks and results do not depend on the number of workers.
    distributed's monitors run less often (:data:`CLUSTER_CONFIG`); the workers' allocator
    reuses the tasks' work arrays (:data:`WORKER_MALLOC_ENV`).
    """
    import dask
    from distributed import LocalCluster

    n = workers or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if memory_limit is None:
        memory_limit = "auto"
    from ..dashboard import local_kwargs

    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    spawn_env = worker_spawn_env()
    config = {_SPAWN_KEY: spawn_env}
    for key, value in CLUSTER_CONFIG.items():
        name = _dask_env_name(key)
        if name in os.environ:
            continue  # the user's choice (it reaches the workers and dask's config as it is)
        config[key] = value
        env[name] = str(value)
    # scheduler and dashboard on 127.0.0.1 with the study page preloaded (dashboard.local_kwargs);
    # the scheduler and the nannies (this process) read the intervals when they are created
    # the nanny reads its pre-spawn variables from this process's environment over its config,
    # and copies them into this environment before each spawn: ours are set for the start, and
    # the caller's environment is given back as it was once the cluster is up
    saved = dict(os.environ)
    for key in WORKER_MALLOC_ENV:
        if key in spawn_env:
            os.environ[key] = spawn_env[key]
        else:
            os.environ.pop(key, None)
    try:
        with dask.config.set(config):
            return LocalCluster(**local_kwargs(n_workers=n, threads_per_worker=1, processes=True,
                                               memory_limit=memory_limit, env=env))
    finally:
        _restore_environ(saved)


def _restore_environ(saved: dict[str, str]) -> None:
    """Make ``os.environ`` equal to ``saved`` again (added keys removed, changed ones restored)."""
    for key in [k for k in os.environ if k not in saved]:
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def task_memory(spec: StudySpec) -> dict[str, int]:
    """Peak memory of one task of each kind on the study's grid, bytes (vmt_dask.resources).

    ``{"realize": ..., "describe": ..., "conduct": ..., "max": ...}``; a task holds one volume
    and the working memory of one kernel (one phase at a time).
    """
    from ..resources import estimate_bytes

    out = {k: estimate_bytes(k, spec.shape) for k in ("realize", "describe", "conduct")}
    out["max"] = max(out.values())
    return out


def check_memory(spec: StudySpec, client) -> None:
    """Refuse (InputError) when one task needs more memory than the smallest worker's limit.

    Workers without a memory limit (``memory_limit=0``) are compared with the memory this
    machine can plan with when they run here, and not checked otherwise (their memory is not
    known to the scheduler).
    """
    from ..resources import available_bytes, format_bytes

    need = task_memory(spec)
    kind = max(("realize", "describe", "conduct"), key=lambda k: need[k])
    try:
        workers = client.scheduler_info().get("workers", {})
    except Exception as exc:  # noqa: BLE001 - information only
        logger.debug("no scheduler info: %s", exc)
        return
    limits = [int(w.get("memory_limit") or 0) for w in workers.values()]
    limited = [x for x in limits if x > 0]
    if limited:
        smallest, where = min(limited), "the smallest worker's memory limit"
    elif workers and all(str(a).startswith(("tcp://127.", "inproc://", "tls://127.")) for a in workers):
        smallest, where = available_bytes(), "the memory available on this machine"
    else:
        return
    if need["max"] > smallest:
        raise InputError(f"study spec field 'shape' {list(spec.shape)}: one {kind} task needs about "
                         f"{format_bytes(need['max'])} of memory, more than {where} ({format_bytes(smallest)}); "
                         "use a smaller grid or workers with more memory")


def _check_memory_store(loc, client, own_cluster) -> None:
    """A ``memory://`` store lives in one process: refuse it unless every worker is this process."""
    protocols = loc.fs.protocol if isinstance(loc.fs.protocol, (tuple, list)) else (loc.fs.protocol,)
    if "memory" not in protocols:
        return
    pids = set()
    if client is not None:
        try:
            pids = set(client.run(os.getpid).values())
        except Exception:  # noqa: BLE001
            pids = set()
    if pids and pids == {os.getpid()}:
        return
    raise InputError(f"store {loc.display()!r} lives in this process's memory, which the worker processes "
                     "cannot see (nothing would be kept); use a directory or an object-store URL")


# --------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------
@dataclass
class StudyRun:
    """What :func:`run_study` reports."""

    store: str
    spec: StudySpec
    state: str = "running"
    done: dict = field(default_factory=lambda: {s: 0 for s in STAGES})
    totals: dict = field(default_factory=dict)
    failed: dict = field(default_factory=lambda: {s: 0 for s in STAGES})
    submitted: dict = field(default_factory=lambda: {s: 0 for s in STAGES})
    errors: list = field(default_factory=list)
    wall_s: float = 0.0
    dashboard: str | None = None
    scheduler: str | None = None
    points: tuple[int, ...] | None = None
    repaired: list = field(default_factory=list)
    started: float = field(default_factory=time.time)
    warm: list = field(default_factory=list)  # warm-up results ({"seconds": {part: s}, "pid"})
    dask_tasks: int = 0  # Dask tasks submitted (a task, a group or a batch each; warm-ups not counted)

    @property
    def ok(self) -> bool:
        return self.state == "finished"


def run_study(spec: StudySpec | str, store: str, *, client=None, scheduler: str | None = None,
              workers: int | None = None, new: bool = False, points: "Sequence[int] | str | None" = None,
              progress: Callable[[StudyRun, dict], None] | None = None,
              on_start: Callable[[object], None] | None = None, rtol: float | None = None,
              m_tol: float | None = None,
              lease_ttl: float = 60.0, check: str = "deep", warm: bool = True, group: bool = True,
              batch: bool = True) -> StudyRun:
    """Run (or resume, or repair) a study until every selected structure is generated, described
    and conducted.

    Parameters
    ----------
    spec : StudySpec or str
        The design, or a preset name / spec file path (validated before anything else).
    store : str
        Local path or fsspec URL of the study store.
    client : distributed.Client, optional
        Use this client. Otherwise connect to ``scheduler`` or ``DASK_SCHEDULER_ADDRESS``,
        or start an embedded LocalCluster with ``workers`` worker processes.
    workers : int, optional
        Worker processes of the embedded cluster (default: the machine's cores).
    new : bool
        Replace a store holding another study instead of refusing it (only while holding its
        lease: a store another live run holds is never touched).
    points : sequence of int or str, optional
        Run only these interpolation points (``"0,7"``, ``"0-3"``; their gradients and their
        structures).  Recorded in the store (the union of the selections run so far; a run
        without ``points`` selects all) so that status and results know.
    progress : callable(run, latest), optional
        Called after every state change.
    on_start : callable(client), optional
        Called once the client is connected (tests use it to find worker processes).
    rtol, m_tol : float, optional
        Stopping criterion of the M-factor solver (see :class:`StudyPlan`); default: the
        solver's own (the energy criterion since session 8).
    lease_ttl : float
        Seconds after its last heartbeat when this run's lease counts as stale.
    check : {"deep", "quick"}
        How stored volumes are checked before the run: ``"deep"`` hashes every chunk (finds
        bytes altered in place; reads the compressed volumes once, ~1 GB/s), ``"quick"``
        checks manifests and chunk sizes (finds missing and truncated chunks).  Either way a
        volume that fails on read is regenerated by the task reading it.
    warm : bool
        Compile the numba kernels first, each kernel family on one worker (they share numba's
        on-disk cache on one machine), holding back the tasks of a family until its kernels
        are compiled (:func:`vmt_dask.study.tasks.warm_task`): in a clean install each worker
        would otherwise compile every kernel itself, at the same time.  Results do not depend
        on it.
    group : bool
        Run each realization and the descriptor / M-factor tasks of its volume that are
        submitted with it as one Dask task (:func:`vmt_dask.study.tasks.group_task`): the volume
        is handed over in memory instead of being read back, and there are 2-4 fewer tasks to
        schedule per volume.  Records, results and resumption are the same either way.
    batch : bool
        On small grids, run several such groups of one point in one Dask task, as many as make
        about :data:`BATCH_TARGET_S` seconds of work by the measured cost of each stage (the
        warm-up's timed pass on the study's grid, then the records' own seconds as they arrive;
        :class:`BatchCosts`); a volume whose tasks alone take longer stays one Dask task (the
        paper's 401^3).  Each member still writes its own record when it is done, so a batch
        interrupted halfway keeps what it finished, and progress, ETA and the dashboard's
        events stay per record.  Needs ``group``.  Records, volumes and results are the same
        either way.

    Returns
    -------
    StudyRun
        ``state`` is ``"finished"`` when every expected record of the selection is intact at
        the end, else ``"failed"`` (the store then holds what did complete; rerun to retry).

    Raises
    ------
    InputError
        Bad spec, store, points, a store holding another study, a task too large for the
        workers' memory, or a store in use by another live run (:class:`LeaseBusy`).  Raised
        before anything is written.
    """
    import dask
    from distributed import Client

    if not isinstance(spec, StudySpec):
        spec = load_spec(spec)
    if check not in ("deep", "quick"):
        raise InputError(f"check must be 'deep' or 'quick', got {check!r}")
    store = os.fspath(store)
    loc = _location(store)
    plan = StudyPlan(spec, parse_points(points, spec.n_points), rtol=rtol, m_tol=m_tol)
    check_store(spec, store, new=new)  # read-only: nothing touched on error
    _check_writable_target(loc)
    _refuse_if_held(loc)               # before starting a cluster (checked again when acquiring)

    own_cluster = own_client = None
    if client is None:
        _check_memory_store(loc, None, None)  # an embedded or external cluster never shares our memory
        address = scheduler or dask.config.get("scheduler-address", None)
        if address:
            own_client = client = Client(address)
        else:
            own_cluster = make_cluster(workers)
            own_client = client = Client(own_cluster)
    try:
        _check_memory_store(loc, client, own_cluster)
        check_memory(spec, client)
        _study_page(client)
        if on_start is not None:
            on_start(client)
        with acquire_lease(loc, owner=LEASE_OWNER, ttl_s=lease_ttl) as lease:
            action = check_store(spec, store, new=new)  # again, now that no other writer can change it
            previous = None if action != "resume" else read_points(store)
            init_store(spec, store, action)
            for line in clean_store(loc, lease):
                logger.info("store cleanup: %s", line)
            scope = _record_points(loc, previous, plan.selection, fresh=action != "resume")
            return _Driver(spec, store, loc, client, plan, lease, progress=progress, scope=scope,
                           deep=check == "deep", warm=warm, group=group, batch=batch and group).run()
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()


def _check_writable_target(loc) -> None:
    """A local store must be (or be creatable in) a writable directory; checked without creating it."""
    if not loc.local:
        return
    p = loc.root
    while not os.path.lexists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    if not os.path.isdir(p):
        raise InputError(f"store {loc.display()!r}: {p!r} is a file, not a directory")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(f"store {loc.display()!r}: {p!r} is not writable (read-only or no permission)")


def _refuse_if_held(loc) -> None:
    holder = read_lease(loc)
    if holder is not None and not holder.stale():
        raise LeaseBusy(f"store {loc.display()!r} is in use by {holder.describe()}; wait for it to finish or "
                        f"stop it (its lease goes stale {holder.ttl_s:g} s after its last heartbeat)", holder)


def _study_page(client) -> None:
    """Make the scheduler serve the study page (idempotent; preloaded schedulers keep theirs)."""
    from ..dashboard import ensure_study_page

    try:
        url = ensure_study_page(client)
    except Exception as exc:  # e.g. a scheduler that cannot import vmt_dask: the study still runs
        logger.warning("study page not available on %s: %s", client.scheduler.address, exc)
    else:
        logger.info("study page: %s", url)


def _log_events(topic: str, msgs: list, dask_scheduler=None) -> None:
    """Run on the scheduler (:meth:`_Driver.flush`): log each message as its own event."""
    for msg in msgs:
        dask_scheduler.log_event(topic, msg)


def _seed_group(unit: Sequence[Task]):
    """``(point, realization)`` of an evaluation unit (its realize task and readers), else None."""
    first = unit[0]
    if first.stage != "realize":
        return None
    meta = dict(first.kwargs).get("meta")
    if not isinstance(meta, dict) or "realization" not in meta:
        return None
    return (first.point, meta["realization"])


class _Driver:
    """Submits what the plan returns, feeds completions back, publishes progress."""

    def __init__(self, spec: StudySpec, store: str, loc, client, plan: StudyPlan, lease, *, progress, scope,
                 deep: bool = True, warm: bool = True, group: bool = True, batch: bool = True):
        self.spec, self.store, self.loc, self.client, self.plan, self.lease = spec, store, loc, client, plan, lease
        self.deep = deep
        self.warm = warm
        self.group = group
        self.batch = batch
        self.costs = BatchCosts(spec.shape)
        try:
            self.n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        except Exception:  # noqa: BLE001 - only sizes the batches
            self.n_workers = 1
        self.warm_futures: dict[str, tuple[Any, tuple[str, ...]]] = {}  # dask key -> (future, parts)
        self.pending_parts: set[str] = set()   # warm-up parts not compiled yet
        self.held: list[list[Task]] = []        # units waiting for their part's warm-up, in order
        self.held_records: set[str] = set()
        self.progress = progress
        self.id = study_id(spec)
        self.token = lease.token[:8]
        self.run_ = StudyRun(store=store, spec=spec, totals=plan.totals(), dashboard=client.dashboard_link,
                             scheduler=client.scheduler.address, points=plan.selection)
        self.record = {"scheduler": self.run_.scheduler, "dashboard": self.run_.dashboard, "pid": os.getpid(),
                       "host": socket.gethostname(), "started": self.run_.started, "state": "running",
                       "identity": spec.identity(), "study": self.id, "points": scope,
                       "lease": lease.token, "version": __version__}
        self.futures: dict[str, Any] = {}   # record path -> future (this run's tasks)
        self.tasks: dict[str, list[Task]] = {}  # dask key -> the tasks it runs (one, or a group)
        self.done: set[str] = set()
        self._last: dict = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._outbox: list[dict] = []      # events not sent yet (publish(defer=True))
        self._batched_events = True

    # -- progress -----------------------------------------------------------------------
    def publish(self, state: str, latest: dict | None = None, *, defer: bool = False) -> None:
        """One progress event (and the progress callback); ``defer`` keeps the event for the next
        :meth:`flush`, which sends all kept events in one call (a batch's records)."""
        run = self.run_
        stages = {s: {"done": run.done[s], "total": run.totals[s], "failed": run.failed[s]} for s in STAGES}
        msg = study_message(self.id, self.loc.display(), state, stages, latest,
                            expires=None if state != "running" else time.time() + self.lease.info.ttl_s)
        with self._lock:
            self._last = msg
            self._outbox.append(msg)
        if not defer:
            self.flush()
        if self.progress is not None and latest is not None:
            self.progress(run, latest)

    def flush(self) -> None:
        """Send the kept events to the scheduler's event log, in order: one ``log_event`` call for
        one event, one ``run_on_scheduler`` call for several (each still logged as its own event:
        the study page sees every record); falls back to one call per event where the scheduler
        does not run functions.  Best effort: progress never stops the study."""
        with self._lock:
            msgs, self._outbox = self._outbox, []
            if not msgs:
                return
            try:
                if len(msgs) > 1 and self._batched_events:
                    try:
                        self.client.run_on_scheduler(_log_events, TOPIC, msgs)
                        return
                    except Exception as exc:  # noqa: BLE001 - e.g. a scheduler refusing pickled functions
                        logger.debug("batched events refused (%s): one call per event", exc)
                        self._batched_events = False
                for msg in msgs:
                    self.client.log_event(TOPIC, msg)
            except Exception as exc:  # progress is best effort; never stop the study for it
                logger.debug("log_event failed: %s", exc)

    def _heartbeat(self) -> None:
        """Re-publish the latest message with a fresh expiry so the page can tell a dead run."""
        interval = max(0.5, self.lease.info.ttl_s / 3)
        while not self._stop.wait(interval):
            with self._lock:
                msg = dict(self._last)
            if msg.get("state") == "running":
                msg.update(time=time.time(), expires=time.time() + self.lease.info.ttl_s,
                           latest={"event": "heartbeat"})
                try:
                    self.client.log_event(TOPIC, msg)
                except Exception as exc:  # noqa: BLE001
                    logger.debug("heartbeat event failed: %s", exc)

    # -- submission -----------------------------------------------------------------------
    def units(self, tasks: Sequence[Task]) -> list[list[Task]]:
        """Group each volume task with the tasks in ``tasks`` that read only its volume (in
        order; see ``group`` of :func:`run_study`); every other task is a unit of its own."""
        if not self.group:
            return [[t] for t in tasks]
        units: list[list[Task]] = []
        by_volume: dict[str, list[Task]] = {}
        for t in tasks:
            if STAGE_TABLE[t.stage].volume:
                unit = [t]
                by_volume[t.record] = unit
                units.append(unit)
            elif t.stage != "gradient" and len(t.deps) == 1 and t.deps[0] in by_volume:
                by_volume[t.deps[0]].append(t)
            else:
                units.append([t])
        return units

    def batches(self, units: Sequence[list[Task]]) -> list[list[Task]]:
        """Join consecutive units (of one point, with the same outside dependencies) into batches
        of about :meth:`BatchCosts.target` seconds by the measured stage costs; the gradient and
        units costing more than the target alone stay on their own.  Order is kept."""
        if not getattr(self, "batch", False):
            return [list(u) for u in units]
        costs = [self.costs.unit(u) for u in units]
        target = self.costs.target(costs, getattr(self, "n_workers", 1))
        out: list[list[Task]] = []
        cur: list[Task] = []
        cur_sig = None
        cur_cost = 0.0
        done = getattr(self, "done", set())
        cur_seed = None
        for unit, cost in zip(units, costs):
            own = {t.record for t in unit}
            # what the unit still waits for outside itself (a done dependency waits for nothing:
            # on a resume, describes of volumes made earlier batch together)
            sig = (unit[0].point, frozenset(d for t in unit for d in t.deps if d not in own and d not in done))
            if unit[0].stage == "gradient":
                sig = None
            seed = _seed_group(unit)
            # a full batch is cut between two seeds' evaluations, and inside a seed only at twice
            # the target: a seed's evaluations share summed fields in the model's per-process
            # cache, so splitting them across batches (two workers) made the second worker
            # compute them again; expensive units (large grids) stay one per batch
            full = cur_cost >= target and (seed is None or seed != cur_seed or cur_cost + cost > 2 * target)
            if cur and (sig is None or sig != cur_sig or full):
                out.append(cur)
                cur, cur_cost = [], 0.0
            cur_seed = seed
            if sig is None:
                out.append(list(unit))
                continue
            cur = cur + list(unit)
            cur_sig = sig
            cur_cost += cost
        if cur:
            out.append(cur)
        return out

    def submit(self, unit: "Task | list[Task]", ac) -> None:
        """Submit one task, or a group/batch (volume tasks and readers of their volumes) as one
        Dask task."""
        from .tasks import group_task

        unit = [unit] if isinstance(unit, Task) else list(unit)
        own = {t.record for t in unit}
        deps, seen = [], set()
        for t in unit:
            for rel in t.deps:
                if rel in own or rel in self.done:
                    continue
                fut = self.futures.get(rel)
                if fut is None:  # the plan orders dependencies first; this would be a plan bug
                    raise RuntimeError(f"task {t.key}: dependency {rel} neither done nor submitted")
                if fut.key not in seen:
                    seen.add(fut.key)
                    deps.append(fut)
        if len(unit) == 1:
            task = unit[0]
            func = STAGE_TABLE[task.stage].function()
            fut = self.client.submit(func, self.store, *task.args, *deps, key=f"{task.key}-{self.token}",
                                     retries=self.spec.retries, pure=False, **dict(task.kwargs))
        else:
            members = tuple((STAGE_TABLE[t.stage].task, STAGE_TABLE[t.stage].volume, t.record, t.args, t.kwargs)
                            for t in unit)
            fut = self.client.submit(group_task, self.store, members, *deps, key=f"group-{unit[0].key}-{self.token}",
                                     retries=self.spec.retries, pure=False)
        self.run_.dask_tasks += 1
        for t in unit:
            self.futures[t.record] = fut
            self.run_.submitted[t.progress] += 1
        self.tasks[fut.key] = unit
        ac.add(fut)

    def hold(self, unit: "Task | list[Task]") -> bool:
        """Hold a unit (True) while the kernels of one of its tasks are being compiled by a
        warm-up task or while a dependency of it is held; False: it may be submitted."""
        from .tasks import STAGE_PART

        unit = [unit] if isinstance(unit, Task) else list(unit)
        own = {t.record for t in unit}
        parts = {STAGE_PART.get(t.stage) for t in unit}
        if parts & self.pending_parts or any(d in self.held_records for t in unit for d in t.deps if d not in own):
            self.held.append(unit)
            self.held_records.update(own)
            return True
        return False

    def submit_units(self, units: Sequence[list[Task]], ac) -> None:
        """Hold what must wait; batch (:meth:`batches`) and submit the rest, in order."""
        ready = [u for u in units if not self.hold(u)]
        for b in self.batches(ready):
            self.submit(b, ac)

    def submit_many(self, tasks: Sequence[Task], ac) -> None:
        self.submit_units(self.units(tasks), ac)

    def start_warm(self, tasks: Sequence[Task], ac) -> None:
        """One warm-up task per worker (:func:`~vmt_dask.study.tasks.warm_plan`) for the kernel
        families the remaining ``tasks`` use; loose worker restrictions (another worker runs it
        if its worker leaves)."""
        from .tasks import STAGE_PART, warm_plan, warm_task
        from .warm import warm_theta

        needed = {STAGE_PART[t.stage] for t in tasks if t.stage in STAGE_PART}
        if not self.warm or not needed:
            return
        try:
            workers = sorted(self.client.scheduler_info().get("workers", {}))
        except Exception as exc:  # noqa: BLE001 - the warm-up is an optimisation only
            logger.debug("no scheduler info for the warm-up: %s", exc)
            return
        if not workers:
            return
        spec = self.spec
        theta = warm_theta(spec.endpoints, spec.pairs)  # the rule `make demo`'s install-time compile uses
        for i, parts in enumerate(warm_plan(len(workers), needed)):
            if not parts:
                continue
            fut = self.client.submit(warm_task, tuple(parts), theta, shape=list(spec.shape),
                                     voxel_size=spec.voxel_size, axis=spec.axis, chi2_dof=spec.chi2_dof,
                                     generator=spec.generator, key=f"warm-{i}-{self.token}",
                                     workers=[workers[i]], allow_other_workers=True, pure=False,
                                     retries=self.spec.retries)
            self.warm_futures[fut.key] = (fut, tuple(parts))
            self.pending_parts.update(parts)
            ac.add(fut)

    def warm_done(self, fut, ac) -> None:
        """A warm-up finished (or failed: its kernels then compile on first use): release the
        tasks held for its parts."""
        _, parts = self.warm_futures.pop(fut.key)
        if fut.status == "finished":
            try:
                res = fut.result()
                self.run_.warm.append(res)
                self.costs.warmed(res)
            except Exception as exc:  # noqa: BLE001
                logger.debug("warm-up result: %s", exc)
        else:
            logger.warning("kernel warm-up %s did not finish (%s); its kernels compile on first use",
                           fut.key, fut.status)
        fut.release()
        self.pending_parts.difference_update(parts)
        held, self.held, self.held_records = self.held, [], set()
        self.submit_units(held, ac)  # in their original (dependency) order

    # -- the loop -----------------------------------------------------------------------
    def state_from_store(self) -> tuple[set[str], dict[int, Any]]:
        expected = self.plan.expected()
        intact, damaged = read_records(self.loc, expected)
        for rel, why in damaged.items():
            logger.warning("damaged record %s (%s): recomputing it", rel, why)
            self.run_.repaired.append(rel)
        volumes_ok = {k for k, c in complete_volumes(self.loc, deep=self.deep).items() if c.ok}
        for key in self.plan.damaged_volumes(intact, volumes_ok):
            logger.warning("volume %s missing or damaged: regenerating it from its seed", key)
            self.run_.repaired.append(key)
        done = self.plan.settle(intact, volumes_ok)
        gradients = {}
        for pt in self.plan.points:
            rel = record_path("gradient", f"p{pt.index:02d}")
            if rel in done:
                gradients[pt.index] = intact[rel]["gradient"]
        return done, gradients

    def run(self) -> StudyRun:
        from distributed import as_completed

        run = self.run_
        self.done, gradients = self.state_from_store()
        run.done.update(self.plan.count(self.done))
        write_record(self.loc, RUN_FILE, self.record)
        ac = as_completed(with_results=False)
        todo = self.plan.start(self.done, gradients)
        self.start_warm(todo, ac)
        self.submit_many(todo, ac)
        beat = threading.Thread(target=self._heartbeat, name="vmt-study-events", daemon=True)
        beat.start()
        try:
            self.publish("running", {"event": "submitted", "tasks": sum(run.submitted.values())})
            logger.info("study %s: %d tasks submitted (%s); dashboard %s", self.id, sum(run.submitted.values()),
                        run.submitted, run.dashboard)
            for fut in ac:
                if fut.key in self.warm_futures:
                    self.warm_done(fut, ac)
                    continue
                self.complete(fut, ac)
                if self.lease.lost:
                    self.abort(ac, "the store's lease was lost (another run took it over); stopping")
                    break
        except BaseException:  # interrupted (Ctrl-C, a callback): queued tasks are not started
            self.client.cancel(list(self.futures.values()) + [f for f, _ in self.warm_futures.values()])
            raise
        finally:
            self._stop.set()
        return self.finish()

    def complete(self, fut, ac) -> None:
        run = self.run_
        unit = self.tasks.pop(fut.key)
        if fut.status == "finished":
            try:  # the record(s): small dicts (their values feed the study page, their seconds the ETA)
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - the records are in the store either way
                logger.debug("no result for %s: %s", fut.key, exc)
                result = None
            for task in unit:
                rec = result if len(unit) == 1 else (result or {}).get(task.record)
                if rec is None:
                    rec = read_record(self.loc, task.record)
                self.succeeded(task, rec, fut.key, ac, defer=True)
        else:
            try:
                exc = fut.exception()
            except Exception as e:  # cancelled futures have no exception to fetch
                exc = e
            run.errors.append((fut.key, repr(exc)))
            logger.error("task %s failed: %r", fut.key, exc)
            for task in unit:
                # a batch's members write their records as they finish: those count as done
                rec = read_record(self.loc, task.record) if len(unit) > 1 and not self.lease.lost else None
                if rec is not None and STAGE_TABLE[task.stage].complete(rec):
                    self.succeeded(task, rec, fut.key, ac, defer=True)
                    continue
                run.failed[task.progress] += 1
                self.publish("running", {"stage": task.progress, "key": fut.key, "error": repr(exc)[:500]},
                             defer=True)
        self.flush()
        fut.release()
        for task in unit:
            self.futures.pop(task.record, None)

    def succeeded(self, task: Task, rec, key: str, ac, *, defer: bool = False) -> None:
        """Book one completed task (of a single or a group future) and submit what it unlocks."""
        run = self.run_
        latest: dict[str, Any] = {"stage": task.progress, "key": key}
        self.done.add(task.record)
        run.done[task.progress] += 1
        if isinstance(rec, dict) and isinstance(rec.get("seconds"), (int, float)):
            latest["seconds"] = float(rec["seconds"])
            self.costs.measured(task.stage, latest["seconds"])
        if rec is not None and task.stage in ("describe-structure", "conduct"):
            ph = rec.get("phase", "")
            names = ("m_factor",) if task.stage == "conduct" else (
                "volume_fraction", "specific_surface_area", "tortuosity_mean", "constrictivity")
            latest["values"] = {f"{k}_{ph}": rec.get(k) for k in names}
            if rec.get("structure") is not None:  # its place in the design, for the study page
                latest["structure"] = {"index": rec["structure"], "point": rec.get("point"),
                                       "local": rec.get("local"), "function": rec.get("function"),
                                       "h": rec.get("h")}
        self.submit_many(self.plan.after(task, rec, self.done), ac)
        if task.stage == "gradient":
            latest.update(event="gradient", point=task.point)
        self.publish("running", latest, defer=defer)

    def abort(self, ac, why: str) -> None:
        logger.error("%s", why)
        self.run_.errors.append(("lease", why))
        for fut in list(self.futures.values()) + [f for f, _ in self.warm_futures.values()]:
            fut.cancel()
        self.held.clear()
        ac.clear()

    def finish(self) -> StudyRun:
        """Verify every expected record; "finished" only when all are intact."""
        run = self.run_
        expected = self.plan.expected()
        intact, damaged = read_records(self.loc, expected)
        missing = [rel for rel in expected if rel not in intact]
        run.done = self.plan.count(intact)
        run.wall_s = time.time() - run.started
        run.state = "finished" if not missing and not self.lease.lost else "failed"
        if missing and not any(run.failed.values()) and not self.lease.lost:
            run.errors.append(("verify", f"{len(missing)} expected records missing or damaged after the run, "
                                         f"e.g. {missing[0]}"))
        self.record.update(state=run.state, ended=time.time(), failed=run.failed, missing=len(missing))
        if not self.lease.lost:
            try:
                write_record(self.loc, RUN_FILE, self.record)
            except OSError as exc:
                logger.error("could not write the run record: %s", exc)
        self.publish(run.state, {"event": run.state, "wall_s": run.wall_s})
        return run


# --------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------
def study_status(store: str, *, timeout: float = 2.0) -> dict:
    """State of a study from its verified records and its lease (and the live scheduler's view).

    Works from another terminal while a study runs (the records are written as tasks
    complete) and after it (or after it was killed).

    Returns
    -------
    dict
        ``name``, ``identity``, ``store`` (credentials removed), ``points`` (the selection or
        None), ``stages`` ({stage: {"done", "total"}} counting intact records only),
        ``complete`` (every expected record intact), ``damaged`` (record paths present but
        failing their checksum), ``missing`` (count of expected records absent or damaged),
        ``lease`` (the lease's dict with ``live``, or None), ``run`` (the last run record, or
        None), ``live`` (the latest progress event from the run's scheduler if it answers within
        ``timeout`` seconds while the lease is live, else None) and ``state``:

        * ``"finished"``: every expected record is present and intact;
        * ``"running"``: records are missing and a live lease holds the store;
        * ``"failed"``: records missing, no live lease, and the last run ended with failed tasks;
        * ``"interrupted"``: records missing, no live lease, and some work was done or started;
        * ``"not started"``: nothing done and no run recorded.

    Raises
    ------
    InputError
        No such store, or no readable study in it.
    """
    spec = read_spec(store)
    loc = _location(store)
    points = read_points(store)
    plan = StudyPlan(spec, points)
    expected = plan.expected()
    intact, damaged = read_records(loc, expected)
    done = plan.count(intact)
    totals = plan.totals()
    stages = {s: {"done": done[s], "total": totals[s]} for s in STAGES}
    missing = len(expected) - len(intact)
    complete = missing == 0
    run, _ = read_record_checked(loc, RUN_FILE)
    lease = read_lease(loc)
    lease_live = lease is not None and not lease.stale()
    live = None
    if lease_live and run and run.get("scheduler") and not complete:
        live = _live_event(run["scheduler"], spec, timeout)
    if complete:
        state = "finished"
    elif lease_live:
        state = "running"
    elif not intact and run is None:
        state = "not started"
    elif run is not None and run.get("state") == "failed":
        state = "failed"
    else:
        state = "interrupted"
    return {"name": spec.name, "identity": spec.identity(), "store": loc.display(), "points": points,
            "stages": stages, "complete": complete, "damaged": sorted(damaged), "missing": missing,
            "lease": None if lease is None else {**lease.to_dict(), "live": lease_live},
            "run": run, "live": live, "state": state}


def verify_study(store: str, *, deep: bool = True) -> dict:
    """Check a study store without changing it: records, volumes, study files, completeness.

    Parameters
    ----------
    deep : bool
        Hash every chunk of every volume (finds bytes altered in place); ``False`` checks
        manifests and sizes only (finds deleted and truncated chunks).

    Returns
    -------
    dict
        ``report`` (:class:`vmt_dask.storage.StoreReport`), ``study_files`` ({name: reason} of
        damaged study/run/points files), ``missing_volumes`` (volumes whose record is intact but
        which are missing or damaged), ``missing_records`` (expected records absent: work not
        done yet, not damage), ``ok`` (no damage found) and ``spec`` (None when unreadable).

    Raises
    ------
    InputError
        No such store.
    """
    from ..storage import verify_store

    loc = _location(store)
    if not loc.fs.exists(loc.root):
        raise InputError(f"no such store: {loc.display()!r}")
    report = verify_store(loc, deep=deep)
    study_files = {}
    for name in (STUDY_FILE, RUN_FILE, POINTS_FILE):
        rec, why = read_record_checked(loc, name)
        if why is not None:
            study_files[name] = why
    spec = None
    missing_records: list[str] = []
    missing_volumes: list[str] = []
    if STUDY_FILE not in study_files:
        try:
            spec = read_spec(store)
        except InputError:
            spec = None
    if spec is not None:
        plan = StudyPlan(spec, read_points(store) if POINTS_FILE not in study_files else None)
        expected = plan.expected()
        ok_records = set(report.records_ok)
        missing_records = [rel for rel in expected if rel not in ok_records and rel not in report.records_damaged]
        damaged_keys = set(report.volumes_damaged) | set(report.volumes_incomplete)
        missing_volumes = [k for k in plan.damaged_volumes(ok_records, set(report.volumes_ok))
                           if k not in damaged_keys]
    ok = report.ok and not study_files and not missing_volumes
    return {"report": report, "study_files": study_files, "missing_volumes": missing_volumes,
            "missing_records": missing_records, "ok": ok, "spec": spec}


def _live_event(address: str, spec: StudySpec, timeout: float) -> dict | None:
    from distributed import Client

    try:
        with Client(address, timeout=timeout) as client:
            events = client.get_events(TOPIC)
    except Exception:  # scheduler gone (run killed or finished): the store is the truth
        return None
    sid = study_id(spec)
    for _, msg in reversed(list(events)):
        if isinstance(msg, dict) and msg.get("study") == sid:
            return msg
    return {}


__all__ += ["DamagedError", "LeaseBusy"]
