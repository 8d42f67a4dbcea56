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
