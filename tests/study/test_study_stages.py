"""The stage table and the state machine of a study, without a cluster or a store."""
from __future__ import annotations

import numpy as np
import pytest

from vmt_dask.errors import InputError
from vmt_dask.events import STAGES, effective_state, study_message
from vmt_dask.study import load_spec
from vmt_dask.study.layout import eval_volume, record_path, structure_volume
from vmt_dask.study.stages import STAGE_TABLE, StudyPlan, parse_points, study_id

SMOKE = load_spec("smoke")
PAPER = load_spec("paper")


def _fake_record(task):
    """A completion record with the fields its stage declares."""
    rec = {f: 1.0 for f in STAGE_TABLE[task.stage].fields}
    if task.stage == "gradient":
        rec.update(gradient=np.ones((8, 7)).tolist(), base_mean=[1.0] * 8, perturbed_mean=np.ones((8, 7)).tolist())
    return rec


def _drive(plan: StudyPlan, done: set[str] | None = None, *, stop_after: int | None = None):
    """Run the plan's transitions in submission order, as the coordinator does; return the
    completed records and the tasks in the order they ran."""
    done = set() if done is None else set(done)
    records = {}
    gradients = {}
    queue = plan.start(done, gradients)
    order = []
    while queue:
        task = queue.pop(0)
        assert all(d in done for d in task.deps), (task.key, [d for d in task.deps if d not in done])
        done.add(task.record)
        records[task.record] = _fake_record(task)
        order.append(task)
        queue += plan.after(task, records[task.record], done)
        if stop_after is not None and len(order) >= stop_after:
            break
    return done, records, order


def test_table_declares_every_stage_once():
    assert set(STAGE_TABLE) == {"realize", "describe", "gradient", "structure", "describe-structure", "conduct"}
    assert {s.progress for s in STAGE_TABLE.values()} == set(STAGES)
    for s in STAGE_TABLE.values():
        assert all(i in STAGE_TABLE for i in s.inputs)
        assert callable(s.function())
        assert s.fields  # every stage says what makes its record complete


def test_totals_match_the_paper_design():
    plan = StudyPlan(PAPER)
    assert plan.totals() == {"realize": 15 * 8 * 5, "describe": 2 * 15 * 8 * 5, "gradient": 15,
                             "structure": 3 * 495, "conduct": 2 * 495}
    assert len(plan.expected()) == PAPER.n_tasks == sum(plan.totals().values())


def test_start_on_an_empty_store_submits_everything_but_the_steps():
    plan = StudyPlan(SMOKE)
    tasks = plan.start(set(), {})
    keys = [t.key for t in tasks]
    assert len(keys) == len(set(keys))
    by_stage = {s: sum(t.stage == s for t in tasks) for s in STAGE_TABLE}
    assert by_stage == {"realize": 16, "describe": 32, "gradient": 1, "structure": 1,
                        "describe-structure": 2, "conduct": 2}
    # dependency order: every dependency is either done or earlier in the list
    seen = set()
    for t in tasks:
        assert all(d in seen for d in t.deps), t.key
        seen.add(t.record)
    grad = next(t for t in tasks if t.stage == "gradient")
    assert len(grad.deps) == 32 and all(d.startswith("records/describe/") for d in grad.deps)


def test_a_gradient_unlocks_its_steps_only():
    plan = StudyPlan(SMOKE)
    done, records, order = _drive(plan)
    assert done == set(plan.expected())
    steps = [t for t in order if t.stage == "structure"]
    assert [t.name for t in steps] == [structure_volume(i) for i in range(SMOKE.n_structures)]
    grad_at = next(i for i, t in enumerate(order) if t.stage == "gradient")
    assert all(i > grad_at for i, t in enumerate(order) if t.stage == "structure" and t.name != structure_volume(0))
    for t in order:
        assert plan.after(t, records[t.record], done) == []  # nothing left once all is done


def test_resume_from_any_state_submits_exactly_what_is_missing():
    plan = StudyPlan(SMOKE)
    _, _, full = _drive(plan)
    for cut in (0, 1, 17, 48, 49, 50, 80, len(full) - 1):
        done, records, _ = _drive(plan, stop_after=cut) if cut else (set(), {}, [])
        gradients = {t.point: records[t.record]["gradient"] for t in full[:cut] if t.stage == "gradient"}
        resumed = plan.start(done, gradients)
        assert not {t.record for t in resumed} & done
        done2, _, order2 = _drive_from(plan, done, records, resumed)
        assert done2 == set(plan.expected()), cut
        assert len(order2) == len(full) - cut


def _drive_from(plan, done, records, queue):
    done, records, order = set(done), dict(records), []
    queue = list(queue)
    while queue:
        task = queue.pop(0)
        assert all(d in done for d in task.deps)
        done.add(task.record)
        records[task.record] = _fake_record(task)
        order.append(task)
        queue += plan.after(task, records[task.record], done)
    return done, records, order


def test_settle_drops_malformed_records_and_volume_records_without_volume():
    plan = StudyPlan(SMOKE)
    vol = eval_volume(0, 0, 0)
    real = record_path("realize", vol)
    desc = record_path("describe", f"{vol}-AM")
    intact = {real: {"theta": [1] * 7, "seed": 1, "shape": [24] * 3},
              desc: {"phase": "AM", "volume_fraction": 0.5, "specific_surface_area": 1.0,
                     "tortuosity_mean": 1.1, "constrictivity": 0.5},
              record_path("describe", f"{vol}-SE"): {},           # sealed but empty: not complete
              "records/realize/not-in-the-design.json": {"theta": 1, "seed": 1, "shape": 1}}
    assert plan.settle(intact, {vol}) == {real, desc}
    assert plan.settle(intact, set()) == {desc}  # the volume is gone: regenerate it from its seed
    assert plan.damaged_volumes(intact, set()) == [vol]
    # the regenerated realization is resubmitted; its description of AM is not
    tasks = plan.start(plan.settle(intact, set()), {})
    assert real in {t.record for t in tasks} and desc not in {t.record for t in tasks}


def test_points_restrict_the_plan():
    plan = StudyPlan(PAPER, [0, 7])
    assert plan.selection == (0, 7)
    assert plan.totals()["gradient"] == 2 and plan.totals()["conduct"] == 2 * 2 * 33
    assert {t.point for t in plan.start(set(), {})} == {0, 7}
    assert all(int(rel.split("-p")[1][:2]) in (0, 7) for rel in plan.expected() if "/eval-p" in rel)
    # structure indices of point 7 are 7 * 33 .. 7 * 33 + 32
    names = {rel for rel, st in plan.expected().items() if st == "structure"}
    assert record_path("structure", structure_volume(7 * 33 + 32)) in names
    assert record_path("structure", structure_volume(33)) not in names


@pytest.mark.parametrize("text, expect", [("0,7", (0, 7)), ("7,0,0", (0, 7)), ("0-2,14", (0, 1, 2, 14)),
                                          ([3], (3,)), (None, None)])
def test_parse_points(text, expect):
    assert parse_points(text, 15) == expect


@pytest.mark.parametrize("text", ["", "a", "15", "-1", "3-1", "1,,2", [True], [1.5]])
def test_parse_points_refuses(text):
    with pytest.raises(InputError, match="points"):
        parse_points(text, 15)


def test_study_id_and_identity_are_computed_once():
    assert study_id(SMOKE) == f"smoke-{SMOKE.identity()[:8]}"
    assert SMOKE.identity() is SMOKE.identity()


def test_effective_state_expires_running_messages():
    msg = study_message("s", "/x", "running", {}, expires=100.0, time=90.0)
    assert effective_state(msg, now=99.0) == "running"
    assert effective_state(msg, now=101.0) == "interrupted"
    assert effective_state({**msg, "state": "finished"}, now=1e9) == "finished"
    for bad in (None, [], {"state": 3}, {**msg, "expires": "nan"}, {**msg, "expires": True}):
        assert effective_state(bad, now=1e9) in ("interrupted", "running")


def test_run_banner_counts_the_selected_points_not_the_design():
    from vmt_dask.cli.study import selection_summary

    spec = load_spec("paper")
    per = spec.structures_per_point
    assert selection_summary(spec, None) == f"{spec.n_points} points, {spec.n_structures} structures"
    # "0-2,2" selects three distinct points
    assert selection_summary(spec, "0-2,2") == (
        f"3 of {spec.n_points} points (0-2,2), {3 * per} of {spec.n_structures} structures")
    with pytest.raises(InputError):
        selection_summary(spec, str(spec.n_points))
