"""The 1 -> 2 process scaling probe of ``bench study`` (vmt_dask.bench._scaling).

No timing is asserted (timings belong to the benchmark): the tests check the arithmetic of the
attainable efficiency against hand-computed cases, the mix's interleaving, and that a short
probe returns complete, self-consistent figures.
"""
from __future__ import annotations

import math

import pytest

from vmt_dask.bench import _scaling as sc


def test_attainable_efficiency_analytic():
    # every family scales perfectly: two workers do twice the work of one
    assert sc.attainable_efficiency({"a": 1.0, "b": 1.0}, {"a": 3.0, "b": 1.0}) == pytest.approx(1.0)
    # one family, scaling s: T(2) = (T(1) / s) / 2, efficiency s
    assert sc.attainable_efficiency({"a": 0.7}, {"a": 5.0}) == pytest.approx(0.7)
    # 60 task-s at 1.0 and 40 task-s at 0.5: on two workers 60 + 80 = 140 task-s -> 100 / 140
    assert sc.attainable_efficiency({"c": 1.0, "m": 0.5}, {"c": 60.0, "m": 40.0}) == pytest.approx(100 / 140)
    assert math.isnan(sc.attainable_efficiency({}, {}))


def test_mix_interleaved_keeps_counts():
    kinds = ["eval"] * 6 + ["structure"] * 5
    out = sc._interleave(kinds)
    assert sorted(out) == sorted(kinds)
    # no two structures in a row: 5 structures spread between 6 evaluations
    assert all(not (a == b == "structure") for a, b in zip(out, out[1:]))


def test_probe_env_is_the_study_workers_env(monkeypatch):
    from vmt_dask.study.coordinator import WORKER_MALLOC_ENV

    for name in WORKER_MALLOC_ENV:  # the study's own settings are asserted below: no user value
        monkeypatch.delenv(name, raising=False)
    env = sc.dask_worker_env()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
    # distributed's own pre-spawn variables are kept, the study's allocator settings win
    assert "PYTHONHASHSEED" in env or "OMP_NUM_THREADS" in env
    assert {k: env[k] for k in WORKER_MALLOC_ENV} == WORKER_MALLOC_ENV


def test_machine_probe_short_run():
    out = sc.machine_scaling(seconds=0.2, repeat=1, kinds=("compute", "L2"))
    assert set(out) == {"compute", "L2"}
    for kind, v in out.items():
        assert v["alone_rate"] > 0 and v["together_rate"] > 0
        assert v["scaling"] == pytest.approx(v["together_rate"] / v["alone_rate"])
        assert v["kind_bytes"] == sc.MACHINE_KINDS[kind]
        # one window alone, two together, each ran whole calls for at least the window
        assert len(v["windows"]["alone"]) == 1 and len(v["windows"]["together"]) == 2
        assert all(w["calls"] >= 1 and w["wall"] >= 0.2 for w in v["windows"]["together"])


def test_family_probe_bad_family_is_refused_before_work():
    with pytest.raises(ValueError, match="'nonsense_SE'"):
        sc.family_scaling("smoke", shape=16, seconds=0.1, repeat=1, families=("nonsense_SE",))


def test_family_probe_runs_one_thread_per_task(monkeypatch):
    # the probe's worker environment is the study workers': one numba thread per task
    seen = {}

    def fake_measure(what, args, kinds, seconds, repeat, env, timeout, progress):
        seen.update(env)
        return {}

    monkeypatch.setattr(sc, "_measure", fake_measure)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
    sc.family_scaling("demo", shape=16, seconds=0.1, repeat=1, families=("realize",))
    assert seen["NUMBA_NUM_THREADS"] == "1" and seen["OMP_NUM_THREADS"] == "1"
