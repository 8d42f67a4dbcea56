"""Batches of small study tasks (several volumes and their readers in one Dask task).

The coordinator joins the groups of one point into batches by the measured cost of each
stage (:class:`vmt_dask.study.coordinator.BatchCosts`); :func:`vmt_dask.study.tasks.group_task`
runs a batch.  Checked here without a cluster: the batching rule, a batch's store content
against its tasks run one by one, and a batch interrupted halfway (with damage on top)
resuming without recomputing what it finished.  The end-to-end store comparison with and
without batching is in test_study_run.py.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from vmt_dask.study import load_spec
from vmt_dask.study import tasks as T
from vmt_dask.study.coordinator import BATCH_TARGET_S, BatchCosts, _Driver, init_store
from vmt_dask.study.layout import RECORDS
from vmt_dask.study.stages import STAGE_TABLE, StudyPlan


def _driver(spec, costs: BatchCosts, workers: int = 2):
    return SimpleNamespace(group=True, batch=True, costs=costs, n_workers=workers)


def _batches(drv, tasks):
    return _Driver.batches(drv, _Driver.units(drv, tasks))


def test_batches_follow_the_measured_costs():
    spec = load_spec("smoke")
    plan = StudyPlan(spec)
    tasks = plan.start(set(), {})
    costs = BatchCosts(spec.shape)
    for _ in range(3):  # as if measured from records: an evaluation volume's group costs 0.2 s
        costs.measured("realize", 0.1)
        costs.measured("describe", 0.05)
        costs.measured("structure", 0.1)
        costs.measured("describe-structure", 0.05)
        costs.measured("conduct", 0.2)
    drv = _driver(spec, costs, workers=1)
    batches = _batches(drv, tasks)
    # each task once, in the plan's (dependency) order
    assert [t.record for b in batches for t in b] == [t.record for t in tasks]
    units = _Driver.units(drv, tasks)
    target = costs.target([costs.unit(u) for u in units], 1)
    # 1 structure group (0.6 s) + 16 evaluation groups (0.2 s each) = 3.8 s; 4 batches per worker
    assert target == pytest.approx(min(BATCH_TARGET_S, 3.8 / 4))
    for b in batches:
        if b[0].stage == "gradient":
            assert len(b) == 1
            continue
        own = {t.record for t in b}
        assert all(t.stage != "gradient" for t in b)
        assert {t.point for t in b} == {b[0].point}
        assert not [d for t in b for d in t.deps if d not in own]  # nothing outside to wait for
        # full batches stop at the first unit that reaches the target, or (session 8: a seed's
        # evaluations stay together for the model's field cache) inside a seed's evaluations at
        # the last unit that keeps them within twice the target; the largest unit is 0.6 s
        assert costs.unit(b) < max(target + 0.6, 2 * target) + 1e-9
    assert len(batches) < len(units)  # batched
    # more workers: smaller batches (at least BATCH_MIN_PER_WORKER per worker where possible)
    assert len(_batches(_driver(spec, costs, workers=4), tasks)) > len(batches)
    # resume: the realizations are done, their describes (units of their own) batch together
    drv.done = {t.record for t in tasks if t.stage == "realize"}
    rest = plan.start(drv.done, {})
    lone = [b for b in _batches(drv, rest) if b[0].stage == "describe"]
    assert lone and all(t.stage == "describe" for b in lone for t in b)
    assert len(lone) < sum(t.stage == "describe" for t in rest)
    del drv.done
    # expensive stages (measured): one volume per batch, the same units as without batching
    slow = BatchCosts(spec.shape)
    for _ in range(3):
        slow.measured("realize", 5.0)
        slow.measured("structure", 5.0)
    assert [len(b) for b in _batches(_driver(spec, slow), tasks)] == [len(u) for u in units]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_seeds_evaluations_stay_in_one_batch(workers):
    """The 8 evaluations of one realization seed share summed fields in the model's per-process
    cache: a batch boundary between them (two workers) sends part of them to the other worker,
    which computes those fields again (lead's pair, session 8: realize kernel 1.17x on two
    workers).  Demo design, prior costs and measured ones, on one and two workers (with more
    workers the batches get small enough that a seed past twice the target is cut)."""
    spec = load_spec("demo")
    plan = StudyPlan(spec, [0, 1])
    tasks = plan.start(set(), {})
    for costs in (BatchCosts(spec.shape), _measured(spec)):
        batches = _batches(_driver(spec, costs, workers=workers), tasks)
        assert [t.record for b in batches for t in b] == [t.record for t in tasks]
        where: dict = {}
        for i, b in enumerate(batches):
            for t in b:
                if t.stage == "realize":
                    where.setdefault((t.point, dict(t.kwargs)["meta"]["realization"]), set()).add(i)
        assert len(where) == 2 * spec.realizations
        assert all(len(v) == 1 for v in where.values()), {k: v for k, v in where.items() if len(v) > 1}
        # still at least two batches of evaluations per point for the workers to share
        per_point: dict = {}
        for i, b in enumerate(batches):
            for t in b:
                if t.stage == "realize":
                    per_point.setdefault(t.point, set()).add(i)
        assert len(per_point) == 2 and all(len(v) >= 2 for v in per_point.values()), per_point


def _measured(spec) -> BatchCosts:
    costs = BatchCosts(spec.shape)
    for _ in range(3):  # the demo grid's task seconds (session 7 lead pair: ~6, 25-29, 50-60 ms)
        costs.measured("realize", 0.0065)
        costs.measured("describe", 0.027)
        costs.measured("structure", 0.0065)
        costs.measured("describe-structure", 0.027)
        costs.measured("conduct", 0.055)
    return costs


def test_paper_grid_keeps_one_structure_per_task():
    """At 401^3 the prior (and any measurement) puts one volume's tasks far above the target:
    no batch of volumes (memory and resume granularity stay one structure)."""
    spec = load_spec("paper")
    plan = StudyPlan(spec, [0])
    tasks = plan.start(set(), {})
    costs = BatchCosts(spec.shape)
    assert costs.stage("realize") > BATCH_TARGET_S
    drv = _driver(spec, costs)
    assert [len(b) for b in _batches(drv, tasks)] == [len(u) for u in _Driver.units(drv, tasks)]


def test_warm_up_cost_scales_to_the_grid():
    costs = BatchCosts([96, 96, 96])
    costs.warmed({"cost": {"describe": 0.2, "realize": 0.1}, "edge": [48, 48, 48]})
    assert costs.stage("describe") == pytest.approx(0.2 / 2 * 8)  # per phase, 8x the voxels
    assert costs.stage("structure") == pytest.approx(0.1 * 8)
    assert costs.stage("conduct") == pytest.approx(96 ** 3 / 1.1e6)  # prior: not measured yet
    for s in (1.0, 3.0, 2.0):
        costs.measured("describe", s)
    assert costs.stage("describe") == 2.0  # the records' median wins


# --------------------------------------------------------------------------------------
# group_task on a store, no cluster (16^3: one chunk per volume)
# --------------------------------------------------------------------------------------
SPEC16 = load_spec("smoke", shape=16)


def _members(tasks):
    return tuple((STAGE_TABLE[t.stage].task, STAGE_TABLE[t.stage].volume, t.record, t.args, t.kwargs) for t in tasks)


def _eval_tasks():
    """Realizations and descriptions of evaluations 0 and 1 of point 0 (4 volumes, 8 records)."""
    plan = StudyPlan(SPEC16)
    tasks = plan.evaluation_tasks(plan.points[0])
    keep = [t for t in tasks if t.stage != "gradient" and t.name.startswith(("eval-p00-e0-", "eval-p00-e1-"))]
    assert len(keep) == 12
    return keep


def _content(root) -> dict:
    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or p.name.startswith(".") or not rel.startswith((RECORDS, "volumes/")):
            continue
        if rel.startswith(RECORDS):
            rec = json.loads(p.read_text())
            for k in ("seconds", "timings", "_checksum"):
                rec.pop(k)
            out[rel] = rec
        elif p.name == "zarr.json":
            doc = json.loads(p.read_text())
            doc.get("attributes", {}).pop("created", None)
            out[rel] = doc
        elif p.name == "vmt-manifest.json":
            man = json.loads(p.read_text())
            man.pop("_checksum")
            man["files"].pop("zarr.json")  # the digest of the document holding the creation stamp
            out[rel] = man
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _store(tmp_path, name):
    store = str(tmp_path / name)
    init_store(SPEC16, store, "create")
    return store


def _one_by_one(store, tasks):
    for t in tasks:
        STAGE_TABLE[t.stage].function()(store, *t.args, **dict(t.kwargs))


def test_batch_writes_what_the_tasks_write_one_by_one(tmp_path):
    tasks = _eval_tasks()
    ref, bat = _store(tmp_path, "ref.zarr"), _store(tmp_path, "batch.zarr")
    _one_by_one(ref, tasks)
    out = T.group_task(bat, _members(tasks))
    assert sorted(out) == sorted(t.record for t in tasks)
    a, b = _content(ref), _content(bat)
    assert len(a) == 12 + 4 * 3 + 1 and a == b  # 12 records; 4 volumes: 1 chunk, zarr.json, manifest; the group


def test_interrupted_batch_resumes_without_recomputing(tmp_path, monkeypatch):
    """A batch failing at its 3rd description keeps the records it finished; a rerun (after one
    finished record and one finished volume were damaged) recomputes exactly the damaged and the
    unfinished ones, and the store ends as the tasks one by one leave it."""
    import vmt_dask.descriptors as D
    import vmt_dask.model as M

    tasks = _eval_tasks()
    ref, store = _store(tmp_path, "ref.zarr"), _store(tmp_path, "cut.zarr")
    _one_by_one(ref, tasks)

    calls = {"describe": 0}
    original = T._MEMBER_TASKS["describe_task"]

    def failing(*args, **kwargs):
        calls["describe"] += 1
        if calls["describe"] == 3:
            raise RuntimeError("worker lost")
        return original(*args, **kwargs)

    monkeypatch.setitem(T._MEMBER_TASKS, "describe_task", failing)
    with pytest.raises(RuntimeError, match="worker lost"):
        T.group_task(store, _members(tasks))
    monkeypatch.setitem(T._MEMBER_TASKS, "describe_task", original)
    done = {t.record for t in tasks[:4]}  # realize r0, describe r0 SE/AM, realize r1
    present = {p.relative_to(store).as_posix() for p in Path(store, RECORDS).rglob("*.json")}
    assert present == done

    # damage: a finished record truncated, a finished volume's chunk altered in place
    rec = Path(store, tasks[1].record)
    rec.write_bytes(rec.read_bytes()[:40])
    chunk = next(Path(store, "volumes", tasks[0].name, "c").rglob("*"))
    while chunk.is_dir():
        chunk = next(chunk.iterdir())
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))

    n = {"realize": 0, "describe": 0}
    real_realize, real_describe = M.realize, D.describe

    def count(name, fn):
        def wrapped(*a, **k):
            n[name] += 1
            return fn(*a, **k)
        return wrapped

    monkeypatch.setattr(M, "realize", count("realize", real_realize))
    monkeypatch.setattr(D, "describe", count("describe", real_describe))
    T.group_task(store, _members(tasks))
    # realize: the damaged volume (r0) and the two of evaluation 1, not r1 (intact record and volume)
    # describe: the damaged SE record of r0, r1's two, evaluation 1's four; not r0's AM
    assert n == {"realize": 3, "describe": 7}
    assert _content(store) == _content(ref)


def test_embedded_cluster_relaxes_the_monitors(monkeypatch):
    """The study's own cluster runs distributed's monitors less often (CLUSTER_CONFIG), in the
    worker processes too; a key whose DASK_ variable the user set (dask read it into its config
    at import) keeps the user's value."""
    import dask
    from distributed import Client

    from vmt_dask.study.coordinator import CLUSTER_CONFIG, WORKER_MALLOC_ENV, make_cluster

    key = "distributed.worker.memory.monitor-interval"
    for name in WORKER_MALLOC_ENV:  # the study's own settings are asserted below: no user value
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL", "250ms")
    keys = sorted(CLUSTER_CONFIG)
    with dask.config.set({key: "250ms"}):  # what dask's import made of that variable
        with make_cluster(1) as cluster, Client(cluster) as client:
            seen = next(iter(client.run(lambda: {k: dask.config.get(k) for k in keys}).values()))
            steal = cluster.scheduler.extensions["stealing"]
            ticks = [cluster.scheduler._tick_interval,
                     *client.run(lambda dask_worker: dask_worker._tick_interval).values()]
            start_env, faults = next(iter(client.run(_start_env_and_reuse_faults).values()))
    assert seen["distributed.worker.profile.enabled"] is False
    assert seen["distributed.admin.system-monitor.interval"] == "2s"
    assert seen["distributed.admin.tick.interval"] == "1s"
    assert ticks == [1.0, 1.0]  # s: the latency probe of the scheduler's and the worker's event loops
    assert seen[key] == "250ms"  # the user's
    assert steal._callback_time == 1.0  # s: read by the in-process scheduler when it was created
    # the allocator settings were in the worker's environment when it started (glibc reads them then)
    # (None = /proc/self/environ unreadable: the study runs on Linux, so that is a failure, not a skip)
    assert start_env is not None
    assert {k: start_env.get(k) for k in WORKER_MALLOC_ENV} == WORKER_MALLOC_ENV
    # and a task's 1 MiB work array is reused from the heap: 20 allocate-fill-free rounds fault
    # in at most the first round's 256 pages (distributed's default mmaps each anew: 20 x 256);
    # the factor 2 leaves one more round's worth (256 pages) for the heap's own growth and the
    # run call's other allocations, still 10x below the 20 x 256 of a fresh mmap per round
    assert faults <= 2 * 256


def _start_env_and_reuse_faults():
    """(the worker's environment at exec from /proc, or None; minor page faults of 20 rounds of
    allocating, filling and freeing a 1 MiB float32 array)."""
    import resource

    import numpy as np

    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    except OSError:
        env = None
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        a = np.empty(1 << 18, dtype=np.float32)
        a.fill(1.0)
        del a
    return env, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0
