"""Run a parameter study on ``dask.distributed`` (paper Section 2.4 at cluster scale).

For all points at once the coordinator submits the base and the 7 perturbed
evaluations (``realizations`` realizations each, common seeds): ``realize-`` tasks
generate straight into the store, ``describe-`` tasks describe AM and SE from there.
A ``gradient-`` task per point depends only on that point's descriptions, so a point's
gradient is formed as soon as its own evaluations complete (no barrier across points).
As each gradient completes (``as_completed``) the coordinator submits the point's
structures: ``structure-`` (generate) -> ``describe-structure-`` (AM, SE) ->
``conduct-`` (M-factor of AM and SE).  Every task writes one record, atomically; a rerun
lists the records once and submits only what is missing.

Progress goes to a callback (the CLI's display) and to the scheduler's event log under
:data:`vmt_dask.events.TOPIC` (the dashboard's study page and ``vmt study status``).
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import __version__
from ..errors import InputError
from ..events import STAGES, TOPIC, study_message
from .design import evaluation_seeds, interpolation_points, perturbed_thetas, point_structures
from .layout import RUN_FILE, STUDY_FILE, StoreFS, eval_volume, record_path, structure_volume
from .spec import StudySpec, load_spec, spec_from_dict
from .tasks import PHASE_CODES, conduct_task, describe_task, gradient_task, realize_task

__all__ = ["run_study", "StudyRun", "check_store", "init_store", "stage_totals", "make_cluster"]

logger = logging.getLogger(__name__)
PHASES = tuple(PHASE_CODES)  # ("SE", "AM")


def stage_totals(spec: StudySpec) -> dict[str, int]:
    """Number of tasks per stage (events.STAGES) for the whole study."""
    n_eval = spec.n_points * spec.n_evaluations * spec.realizations
    return {
        "realize": n_eval,
        "describe": 2 * n_eval,
        "gradient": spec.n_points,
        "structure": 3 * spec.n_structures,  # generate + describe AM + describe SE
        "conduct": 2 * spec.n_structures,
    }


def _stage_of_record(rel: str) -> str | None:
    parts = rel.split("/")
    if len(parts) != 3:
        return None
    stage = parts[1]
    return {"describe-structure": "structure"}.get(stage, stage) if stage in (
        "realize", "describe", "gradient", "structure", "describe-structure", "conduct") else None


def count_records(records: set[str]) -> dict[str, int]:
    """Completed tasks per stage from a listing of record paths."""
    done = {s: 0 for s in STAGES}
    for rel in records:
        s = _stage_of_record(rel)
        if s is not None:
            done[s] += 1
    return done


# --------------------------------------------------------------------------------------
# store identity
# --------------------------------------------------------------------------------------
def check_store(spec: StudySpec, store: str, *, new: bool = False) -> str:
    """Decide what to do with a store, without modifying it.

    Returns ``"create"`` (empty or absent), ``"resume"`` (same spec identity) or
    ``"replace"`` (another study and ``new=True``).  Raises InputError for a store made
    by another spec (without ``new``) or a non-empty directory that is not a study store.
    """
    try:
        fs = StoreFS(store)
    except (ValueError, ImportError) as exc:
        raise InputError(f"store {store!r}: {exc}") from None
    if fs.is_empty():
        return "create"
    if not fs.exists(STUDY_FILE):
        raise InputError(f"store {store!r} exists, is not empty and holds no study ({STUDY_FILE} missing); "
                         "choose a new path")
    meta = fs.read_json(STUDY_FILE)
    if meta.get("identity") == spec.identity():
        return "resume"
    if new:
        return "replace"
    raise InputError(f"store {store!r} holds another study (spec {meta.get('identity')!r}, name "
                     f"{meta.get('name')!r}; this spec is {spec.identity()!r}); pass --new to replace it")


def init_store(spec: StudySpec, store: str, action: str) -> None:
    """Create (or replace) the study metadata according to :func:`check_store`'s answer."""
    fs = StoreFS(store)
    if action == "replace":
        logger.warning("replacing the study in %s", store)
        fs.remove_all()
    if action in ("create", "replace"):
        fs.fs.makedirs(fs.root, exist_ok=True)
        fs.write_json(STUDY_FILE, {"identity": spec.identity(), "name": spec.name, "spec": spec.to_yaml(),
                                   "version": __version__, "created": time.time()})


def read_spec(store: str) -> StudySpec:
    """The spec a study store was created with."""
    import yaml

    fs = StoreFS(store)
    if not fs.exists(STUDY_FILE):
        raise InputError(f"store {store!r} holds no study ({STUDY_FILE} missing)")
    return spec_from_dict(yaml.safe_load(fs.read_json(STUDY_FILE)["spec"]))


# --------------------------------------------------------------------------------------
# cluster
# --------------------------------------------------------------------------------------
def make_cluster(workers: int | None = None, *, memory_limit: str | int | None = None):
    """An embedded LocalCluster with worker processes, one thread each, sized to the machine.

    Kernels in the workers run single-threaded (NUMBA_NUM_THREADS=1), so the study's
    parallelism is across tasks and results do not depend on the number of workers.
    """
    from distributed import LocalCluster

    n = workers or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if memory_limit is None:
        memory_limit = "auto"
    from ..dashboard import scheduler_kwargs

    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                        dashboard_address=":0", env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
                        scheduler_kwargs=scheduler_kwargs())


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

    @property
    def ok(self) -> bool:
        return self.state == "finished"


def _token(spec: StudySpec, store: str) -> str:
    return hashlib.sha256(f"{spec.identity()}|{os.path.abspath(store) if '://' not in store else store}"
                          .encode()).hexdigest()[:8]


def run_study(spec: StudySpec | str, store: str, *, client=None, scheduler: str | None = None,
              workers: int | None = None, new: bool = False,
              progress: Callable[[StudyRun, dict], None] | None = None,
              on_start: Callable[[object], None] | None = None, rtol: float = 1e-6) -> StudyRun:
    """Run (or resume) a study until every structure is generated, described and conducted.

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
        Replace a store holding another study instead of refusing it.
    progress : callable(run, latest), optional
        Called after every state change.
    on_start : callable(client), optional
        Called once the client is connected (tests use it to find worker processes).
    rtol : float
        Relative residual of the M-factor solver.

    Returns
    -------
    StudyRun
        ``state`` is ``"finished"`` when every task succeeded, else ``"failed"`` (the
        store then holds what did complete; rerun to retry the rest).
    """
    import dask
    from distributed import Client

    if not isinstance(spec, StudySpec):
        spec = load_spec(spec)
    store = os.fspath(store)
    action = check_store(spec, store, new=new)  # read-only: nothing touched on error

    own_cluster = own_client = None
    if client is None:
        address = scheduler or dask.config.get("scheduler-address", None)
        if address:
            own_client = client = Client(address)
        else:
            own_cluster = make_cluster(workers)
            own_client = client = Client(own_cluster)
    try:
        _study_page(client)
        if on_start is not None:
            on_start(client)
        init_store(spec, store, action)
        return _run(spec, store, client, progress=progress, rtol=rtol)
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()


def _study_page(client) -> None:
    """Make the scheduler serve the study page (idempotent; preloaded schedulers keep theirs)."""
    from ..dashboard import ensure_study_page

    try:
        url = ensure_study_page(client)
    except Exception as exc:  # e.g. a scheduler that cannot import vmt_dask: the study still runs
        logger.warning("study page not available on %s: %s", client.scheduler.address, exc)
    else:
        logger.info("study page: %s", url)


def _run(spec: StudySpec, store: str, client, *, progress, rtol: float) -> StudyRun:
    from distributed import as_completed

    t_start = time.time()
    fs = StoreFS(store)
    tok = _token(spec, store)
    run = StudyRun(store=store, spec=spec, totals=stage_totals(spec), dashboard=client.dashboard_link,
                   scheduler=client.scheduler.address)
    records = fs.list_records()
    run.done.update(count_records(records))
    fs.write_json(RUN_FILE, {"scheduler": run.scheduler, "dashboard": run.dashboard, "pid": os.getpid(),
                             "host": socket.gethostname(), "started": t_start, "state": "running",
                             "identity": spec.identity()})
    study_id = f"{spec.name}-{spec.identity()[:8]}"
    retries = spec.retries
    stage_of: dict[str, str] = {}
    grad_points: dict[str, int] = {}
    ac = as_completed(with_results=False)

    def publish(state: str, latest: dict | None = None) -> None:
        stages = {s: {"done": run.done[s], "total": run.totals[s], "failed": run.failed[s]} for s in STAGES}
        try:
            client.log_event(TOPIC, study_message(study_id, store, state, stages, latest))
        except Exception as exc:  # progress is best effort; never stop the study for it
            logger.debug("log_event failed: %s", exc)
        if progress is not None:
            progress(run, latest or {})

    def submit(func, *args, key: str, stage_name: str, **kwargs):
        """Submit one task; ``stage_name`` is the progress stage (``stage`` may be a task keyword)."""
        fut = client.submit(func, *args, key=f"{key}-{tok}", retries=retries, pure=False, **kwargs)
        stage_of[fut.key] = stage_name
        run.submitted[stage_name] += 1
        ac.add(fut)
        return fut

    realize_kw = dict(shape=list(spec.shape), voxel_size=spec.voxel_size, chi2_dof=spec.chi2_dof,
                      chunks=spec.chunks)

    def submit_structures(point, gradient) -> None:
        for s in point_structures(spec, point, gradient):
            if gradient is not None and s.local == 0:
                continue  # the point itself (no gradient needed) was submitted up front
            vol = structure_volume(s.index)
            meta = {"structure": s.index, "point": s.point, "local": s.local, "function": s.function,
                    "h": s.h, "pair": point.pair_name, "t": point.t}
            dep = ()
            if record_path("structure", vol) not in records:
                dep = (submit(realize_task, store, vol, s.theta, s.seed, stage="structure", meta=meta,
                              key=f"structure-p{s.point:02d}-s{s.local:02d}", stage_name="structure",
                              **realize_kw),)
            for ph in PHASES:
                if record_path("describe-structure", f"{vol}-{ph}") not in records:
                    submit(describe_task, store, vol, ph, *dep, voxel_size=spec.voxel_size, axis=spec.axis,
                           stage="describe-structure", key=f"describe-structure-p{s.point:02d}-s{s.local:02d}-{ph}",
                           stage_name="structure")
                if record_path("conduct", f"{vol}-{ph}") not in records:
                    submit(conduct_task, store, vol, ph, *dep, axis=spec.axis, rtol=rtol,
                           key=f"conduct-p{s.point:02d}-s{s.local:02d}-{ph}", stage_name="conduct")

    points = interpolation_points(spec)
    for point in points:
        p = point.index
        grad_rel = record_path("gradient", f"p{p:02d}")
        submit_structures(point, None)  # the point itself needs no gradient
        if grad_rel in records:
            submit_structures(point, fs.read_json(grad_rel)["gradient"])
            continue
        seeds = evaluation_seeds(spec, p)
        thetas = perturbed_thetas(point.theta, spec.delta)
        describe_keys: list[list[str]] = []
        deps = []
        for e in range(spec.n_evaluations):
            keys_e = []
            for r, seed in enumerate(seeds):
                vol = eval_volume(p, e, r)
                keys_e.append(vol)
                meta = {"point": p, "evaluation": e, "realization": r}
                dep = ()
                if record_path("realize", vol) not in records:
                    dep = (submit(realize_task, store, vol, thetas[e].tolist(), seed, stage="realize", meta=meta,
                                  key=f"realize-p{p:02d}-e{e}-r{r}", stage_name="realize", **realize_kw),)
                for ph in PHASES:
                    if record_path("describe", f"{vol}-{ph}") not in records:
                        deps.append(submit(describe_task, store, vol, ph, *dep, voxel_size=spec.voxel_size,
                                           axis=spec.axis, stage="describe", meta=meta,
                                           key=f"describe-p{p:02d}-e{e}-r{r}-{ph}", stage_name="describe"))
            describe_keys.append(keys_e)
        gfut = submit(gradient_task, store, p, list(point.theta), describe_keys, *deps, delta=spec.delta,
                      key=f"gradient-p{p:02d}", stage_name="gradient")
        grad_points[gfut.key] = p
    publish("running", {"event": "submitted", "tasks": sum(run.submitted.values())})
    logger.info("study %s: %d tasks submitted (%s); dashboard %s", study_id, sum(run.submitted.values()),
                run.submitted, run.dashboard)

    for fut in ac:
        stage = stage_of.pop(fut.key)
        latest = {"stage": stage, "key": fut.key}
        if fut.status == "finished":
            run.done[stage] += 1
            if stage in ("structure", "conduct") and not fut.key.startswith("structure-"):
                try:  # the record is a small dict: show its values on the dashboard's study page
                    rec = fut.result()
                    ph = rec.get("phase", "")
                    names = ("m_factor",) if stage == "conduct" else (
                        "volume_fraction", "specific_surface_area", "tortuosity_mean", "constrictivity")
                    latest["values"] = {f"{k}_{ph}": rec.get(k) for k in names}
                except Exception as exc:  # noqa: BLE001 - progress is best effort
                    logger.debug("no values for %s: %s", fut.key, exc)
            if fut.key in grad_points:
                p = grad_points.pop(fut.key)
                rec = fut.result()
                submit_structures(points[p], rec["gradient"])
                latest["event"] = "gradient"
                latest["point"] = p
        else:
            run.failed[stage] += 1
            try:
                exc = fut.exception()
            except Exception as e:  # cancelled futures have no exception to fetch
                exc = e
            run.errors.append((fut.key, repr(exc)))
            logger.error("task %s failed: %r", fut.key, exc)
            latest["error"] = repr(exc)[:500]
        fut.release()
        publish("running", latest)

    run.wall_s = time.time() - t_start
    run.state = "finished" if not any(run.failed.values()) else "failed"
    fs.write_json(RUN_FILE, {"scheduler": run.scheduler, "dashboard": run.dashboard, "pid": os.getpid(),
                             "host": socket.gethostname(), "started": t_start, "ended": time.time(),
                             "state": run.state, "identity": spec.identity(), "failed": run.failed})
    publish(run.state, {"event": run.state, "wall_s": run.wall_s})
    return run


# --------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------
def study_status(store: str, *, timeout: float = 2.0) -> dict:
    """Progress of a study from its store, plus the live scheduler's view when reachable.

    Works from another terminal while a study runs (the records are written as tasks
    complete) and after it (or after it was killed).

    Returns
    -------
    dict
        ``name``, ``identity``, ``stages`` ({stage: {"done", "total"}}), ``complete`` (bool),
        ``run`` (the last run's metadata, or None), ``live`` (the latest progress event from
        the scheduler if the run's scheduler answers within ``timeout`` seconds, else None)
        and ``state`` (``"finished"``, ``"running"``, ``"failed"``, ``"interrupted"`` or
        ``"not started"``).
    """
    spec = read_spec(store)
    fs = StoreFS(store)
    done = count_records(fs.list_records())
    totals = stage_totals(spec)
    stages = {s: {"done": done[s], "total": totals[s]} for s in STAGES}
    complete = all(done[s] >= totals[s] for s in STAGES)
    run = fs.read_json(RUN_FILE) if fs.exists(RUN_FILE) else None
    live = None
    if run and run.get("state") == "running" and run.get("scheduler"):
        live = _live_event(run["scheduler"], spec, store, timeout)
    if complete:
        state = "finished"
    elif run is None:
        state = "not started"
    elif run.get("state") == "running":
        state = "running" if live is not None else "interrupted"
    else:
        state = run.get("state", "interrupted")
    return {"name": spec.name, "identity": spec.identity(), "store": store, "stages": stages,
            "complete": complete, "run": run, "live": live, "state": state}


def _live_event(address: str, spec: StudySpec, store: str, timeout: float) -> dict | None:
    from distributed import Client

    try:
        with Client(address, timeout=timeout) as client:
            events = client.get_events(TOPIC)
    except Exception:  # scheduler gone (run killed or finished): the store is the truth
        return None
    study_id = f"{spec.name}-{spec.identity()[:8]}"
    for _, msg in reversed(list(events)):
        if isinstance(msg, dict) and msg.get("study") == study_id:
            return msg
    return {}
