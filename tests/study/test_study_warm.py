"""Kernel warm-up before a study: each kernel family compiled on one worker, tasks held until then."""
from __future__ import annotations

import pytest

from vmt_dask.study import load_spec
from vmt_dask.study.stages import STAGE_TABLE
from vmt_dask.study.tasks import STAGE_PART, WARM_PARTS, warm_plan, warm_task


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_warm_plan_gives_every_part_to_exactly_one_worker(n):
    plan = warm_plan(n)
    assert len(plan) == n
    flat = [p for parts in plan for p in parts]
    assert sorted(flat) == sorted(WARM_PARTS)  # each family compiled once
    if n >= 2:
        assert plan[0] == ["conduct"]  # the costliest alone on the first worker


def test_warm_plan_only_the_needed_parts():
    assert warm_plan(2, {"describe"}) == [["describe"], []]
    assert warm_plan(1, set()) == [[]]


def test_every_kernel_stage_has_a_warm_part():
    for name in STAGE_TABLE:
        assert (name in STAGE_PART) == (name != "gradient")  # the gradient runs no numba kernel
    assert set(STAGE_PART.values()) == set(WARM_PARTS)


def test_warm_task_runs_each_part_once():
    spec = load_spec("smoke")
    out = warm_task(("describe", "conduct"), spec.endpoints["BM01"], shape=[12, 12, 12], voxel_size=0.2,
                    axis=2, chi2_dof=2)
    assert set(out["seconds"]) == {"describe", "conduct"}
    assert all(s >= 0 for s in out["seconds"].values())
    # one timed pass per part (each part is warmed on one worker only: warm_plan), none with timed=()
    assert set(out["cost"]) == {"describe", "conduct"} and min(out["cost"].values()) > 0
    assert out["edge"] == [12, 12, 12]
    assert warm_task(("describe",), spec.endpoints["BM01"], shape=[12, 12, 12], voxel_size=0.2, axis=2,
                     chi2_dof=2, timed=())["cost"] == {}


def test_warm_edge_clips_to_one_size():
    from vmt_dask.study.warm import WARM_EDGE, warm_edge

    assert warm_edge([401, 20, 48]) == (WARM_EDGE, 20, 48) and WARM_EDGE == 48


def test_units_group_each_volume_with_its_readers():
    """A volume task and the describe/conduct tasks of its volume become one Dask task; the
    gradient and tasks whose volume is not in the batch stay on their own; order is kept."""
    from types import SimpleNamespace

    from vmt_dask.study.coordinator import _Driver
    from vmt_dask.study.stages import StudyPlan

    spec = load_spec("smoke")
    plan = StudyPlan(spec)
    tasks = plan.start(set(), {})
    units = _Driver.units(SimpleNamespace(group=True), tasks)
    position = {t.record: i for i, t in enumerate(tasks)}
    heads = [position[u[0].record] for u in units]
    assert heads == sorted(heads)  # units in the plan's (dependency) order
    assert sorted(t.record for u in units for t in u) == sorted(t.record for t in tasks)  # each task once
    for u in units:
        head = u[0]
        if STAGE_TABLE[head.stage].volume:
            assert all(t.deps == (head.record,) for t in u[1:])
            n_readers = 2 if head.stage == "realize" else 4  # describe x2 | describe x2 + conduct x2
            assert len(u) == 1 + n_readers
        else:
            assert len(u) == 1
    # a describe whose volume is already done (resume) is a unit of its own
    done = {t.record for t in tasks if t.stage == "realize"}
    rest = _Driver.units(SimpleNamespace(group=True), plan.start(done, {}))
    assert all(len(u) == 1 for u in rest if u[0].stage == "describe")
    assert all(len(u) == 1 for u in _Driver.units(SimpleNamespace(group=False), tasks))


def test_install_time_compile_arguments_match_the_study():
    """`make demo`'s background compile reads the preset without the spec model: the same
    shape, options and warm-up theta as the coordinator's warm-up of that spec."""
    from vmt_dask.study.warm import _preset_args, _requirements, warm_theta

    for name in ("demo", "smoke", "paper"):
        spec = load_spec(name)
        args = _preset_args(name)
        assert args == {"theta": warm_theta(spec.endpoints, spec.pairs), "shape": list(spec.shape),
                        "voxel_size": spec.voxel_size, "axis": spec.axis, "chi2_dof": spec.chi2_dof,
                        "generator": spec.generator}
    reqs = _requirements("pyproject.toml")
    assert sorted(r.split(">")[0].split("=")[0] for r in reqs) == ["numba", "numpy", "pyyaml", "scipy"]


def test_warm_labels_both_phases_percolate():
    """The describe/conduct warm-up structure has both study phases spanning the z axis (so the
    solver's and the tortuosity's percolating paths are the ones compiled)."""
    import numpy as np
    from scipy.ndimage import label

    from vmt_dask.study.warm import warm_labels

    lab = warm_labels((48, 48, 48))
    for code in (1, 2):
        pieces, _ = label(lab == code)
        assert set(np.unique(pieces[:, :, 0])) & set(np.unique(pieces[:, :, -1])) - {0}


def test_background_compile_holds_each_family_until_done(tmp_path):
    """`warm.py --start` takes every family's lock before it returns and hands it to its
    background process, so a study started right after waits for the family instead of
    compiling it beside it; the locks are free once the processes end."""
    import fcntl
    import os
    import time

    from vmt_dask.study.warm import WARM_PARTS, _start, family_lock, lock_path

    for part in WARM_PARTS:  # no other warm-up of this tree running (it would own the locks)
        with family_lock(part):
            pass
    pids = _start("smoke", str(tmp_path), 2)
    assert len(pids) == 2
    for part in WARM_PARTS:
        fd = os.open(lock_path(part), os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = False
            except OSError:
                held = True
            assert held, f"{part}: lock not held after --start returned"
        finally:
            os.close(fd)
    t0 = time.time()
    while any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z" for p in pids):
        assert time.time() - t0 < 600
        time.sleep(0.2)
    logs = "".join((tmp_path / f).read_text() for f in os.listdir(tmp_path))
    for part in WARM_PARTS:
        with family_lock(part) as waited:
            assert waited < 5  # released by the finished processes
        assert f"{part} " in logs and "failed" not in logs, logs


def test_family_lock_gives_up_after_its_timeout():
    """A family lock held elsewhere (a hung or stopped compile) delays a warm-up by at most the
    timeout; then the caller goes on without it (and compiles itself)."""
    import fcntl
    import os
    import time

    from vmt_dask.study.warm import family_lock, lock_path

    fd = os.open(lock_path("describe"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)          # another open file description: conflicts
        t0 = time.perf_counter()
        with family_lock("describe", timeout_s=0.3) as waited:
            assert 0.3 <= waited < 5
        assert time.perf_counter() - t0 < 5
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    with family_lock("describe", timeout_s=0.3) as waited:   # free again: no wait
        assert waited < 0.3
