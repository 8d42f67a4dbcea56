"""The study's conduct tasks use the M-factor solver's default stopping criterion (the energy
criterion since session 8; they passed rtol=1e-6 before), record which criterion the solver used,
and a store resumed after the change keeps the M-factors it has (nothing recomputed, no error)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vmt_dask.conductivity import m_factor
from vmt_dask.storage import read_volume, write_record
from vmt_dask.study import load_spec
from vmt_dask.study import tasks as T
from vmt_dask.study.coordinator import init_store
from vmt_dask.study.layout import record_path
from vmt_dask.study.stages import StudyPlan

SPEC = load_spec("smoke", shape=16)


def _structure_and_conducts(plan):
    tasks = plan.start(set(), {})
    gen = next(t for t in tasks if t.stage == "structure")
    conducts = [t for t in tasks if t.stage == "conduct" and t.deps == (gen.record,)]
    return gen, conducts


def test_plan_passes_no_criterion_unless_asked():
    _, conducts = _structure_and_conducts(StudyPlan(SPEC))
    assert conducts and all("rtol" not in dict(t.kwargs) and "m_tol" not in dict(t.kwargs) for t in conducts)
    _, conducts = _structure_and_conducts(StudyPlan(SPEC, rtol=1e-6))
    assert all(dict(t.kwargs)["rtol"] == 1e-6 and "m_tol" not in dict(t.kwargs) for t in conducts)
    _, conducts = _structure_and_conducts(StudyPlan(SPEC, m_tol=1e-7))
    assert all(dict(t.kwargs)["m_tol"] == 1e-7 for t in conducts)


def test_conduct_record_is_the_solvers_default_and_names_it(tmp_path):
    store = str(tmp_path / "s.zarr")
    init_store(SPEC, store, "create")
    gen, conducts = _structure_and_conducts(StudyPlan(SPEC))
    T.realize_task(store, *gen.args, **dict(gen.kwargs))
    labels, _ = read_volume(store, gen.args[0])
    for c in conducts:
        rec = T.conduct_task(store, *c.args, **dict(c.kwargs))
        want = m_factor(np.asarray(labels) == T.PHASE_CODES[c.args[1]], axis=SPEC.axis)
        assert rec["m_factor"] == float(want.m_factor) and rec["iterations"] == int(want.iterations)
        if hasattr(want, "criterion"):  # the solver names its criterion: so does the record
            assert rec["criterion"] == want.criterion
        assert "rtol" not in rec and "m_tol" not in rec


def test_resumed_store_keeps_its_old_m_factors(tmp_path):
    """A store whose conduct records were written with the residual criterion and without the
    fields the energy criterion added (as before session 8): resuming it with the default
    criterion recomputes none of them and raises nothing."""
    store = str(tmp_path / "s.zarr")
    init_store(SPEC, store, "create")
    old_plan = StudyPlan(SPEC, rtol=1e-6)
    gen, conducts = _structure_and_conducts(old_plan)
    T.realize_task(store, *gen.args, **dict(gen.kwargs))
    labels, _ = read_volume(store, gen.args[0])
    old = {}
    for c in conducts:
        rec = T.conduct_task(store, *c.args, **dict(c.kwargs))
        want = m_factor(np.asarray(labels) == T.PHASE_CODES[c.args[1]], axis=SPEC.axis, rtol=1e-6)
        assert rec["m_factor"] == float(want.m_factor) and rec["rtol"] == 1e-6
        path = Path(store) / record_path("conduct", f"{c.args[0]}-{c.args[1]}")
        body = json.loads(path.read_text())
        for k in ("criterion", "m_error_estimate", "m_factor_currents", "rtol"):
            body.pop(k, None)  # as a session-7 record looked (re-sealed below)
        write_record(store, record_path("conduct", f"{c.args[0]}-{c.args[1]}"),
                     {k: v for k, v in body.items() if k != "_checksum"})
        old[c.record] = (path.stat().st_mtime_ns, path.read_bytes())
    # the new plan (default criterion): the old records count as done, so no conduct task ...
    new_plan = StudyPlan(SPEC)
    done = set(old) | {gen.record}
    assert not [t for t in new_plan.start(done, {}) if t.record in old]
    # ... and a conduct task run anyway (a batch that also holds them) returns the stored record
    _, conducts = _structure_and_conducts(new_plan)
    for c in conducts:
        rec = T.conduct_task(store, *c.args, **dict(c.kwargs))
        assert "criterion" not in rec
        path = Path(store) / record_path("conduct", f"{c.args[0]}-{c.args[1]}")
        assert (path.stat().st_mtime_ns, path.read_bytes()) == old[c.record]
