"""Terminal progress of `vmt study run`: rich bars on a terminal, one line per stage change otherwise."""
from __future__ import annotations

import io
from types import SimpleNamespace

from vmt_dask.cli.study import StageProgress, _eta
from vmt_dask.events import STAGES


def _run(done, totals):
    return SimpleNamespace(done=dict(done), totals=dict(totals), failed={s: 0 for s in STAGES})


TOTALS = {"realize": 4, "describe": 8, "gradient": 1, "structure": 3, "conduct": 2}


def _feed(display):
    done = {s: 0 for s in STAGES}
    done["realize"] = 4  # finished before this run (resume)
    display(_run(done, TOTALS), {"event": "submitted"})
    for stage, n in (("describe", 8), ("gradient", 1), ("structure", 3), ("conduct", 2)):
        for _ in range(n):
            done[stage] += 1
            display(_run(done, TOTALS), {"stage": stage, "key": f"{stage}-x"})
    display(_run(done, TOTALS), {"event": "finished"})


def test_one_clean_line_per_stage_change_without_a_tty():
    out = io.StringIO()
    display = StageProgress(out, interactive=False, summary_every_s=1e9)
    _feed(display)
    display.close()
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()  # no control sequences in logs
    text = [line.split(" ", 1)[1] for line in lines]
    assert text[0] == "stage realize: done 4/4 (before this run)"
    assert "stage describe: running 1/8" in text and "stage describe: done 8/8" in " ".join(text)
    for stage in ("gradient", "structure", "conduct"):
        assert sum(t.startswith(f"stage {stage}: done") for t in text) == 1
    assert len(lines) == 8  # realize done; describe, structure, conduct running + done; gradient done


def test_summary_line_has_rate_and_eta():
    out = io.StringIO()
    display = StageProgress(out, interactive=False, summary_every_s=0.0)
    done = {s: 0 for s in STAGES}
    display(_run(done, TOTALS), {"event": "submitted"})
    done["realize"] = 2
    display(_run(done, TOTALS), {"stage": "realize", "key": "r"})
    assert "progress: 2/18 tasks" in out.getvalue() and "ETA" in out.getvalue()


def test_rich_bars_on_a_terminal():
    out = io.StringIO()
    display = StageProgress(out, interactive=True)
    _feed(display)
    display.close()
    text = out.getvalue()
    for stage in STAGES:
        assert stage in text
    assert "8/8" in text and "/min" in text


def test_eta_format():
    assert _eta(None) == "?" and _eta(float("nan")) == "?"
    assert _eta(42) == "42 s" and _eta(125) == "2 min 05 s" and _eta(3 * 3600 + 60) == "3 h 01 min"


def test_eta_is_remaining_work_over_achieved_parallelism():
    import time

    d = StageProgress(io.StringIO(), interactive=False)
    d.work = {"realize": [1.0] * 10, "conduct": [10.0] * 4}  # 1 s and 10 s per task
    d.first_done = time.monotonic() - 25.0                   # 50 task-seconds in 25 s: 2 in parallel
    totals = {"realize": 10, "describe": 0, "gradient": 0, "structure": 0, "conduct": 8}
    run = _run({"realize": 10, "describe": 0, "gradient": 0, "structure": 0, "conduct": 4}, totals)
    assert abs(d.eta(run) - 4 * 10.0 / 2) < 0.5  # 4 conduct tasks of 10 s on 2 workers
    assert StageProgress(io.StringIO(), interactive=False).eta(run) is None
