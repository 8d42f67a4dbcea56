"""Event folding and HTML rendering of the study page (no cluster)."""
from __future__ import annotations

import json
import math

import pytest

from vmt_dask.dashboard import StudyBoard, render_page, render_studies, summarize_events
from vmt_dask.dashboard.render import flatten_latest
from vmt_dask.events import STAGES, study_message


def _msg(study, state, done, *, t, latest=None, total=10, failed=0):
    stages = {s: {"done": done, "total": total, "failed": failed} for s in STAGES}
    return study_message(study, f"/s/{study}.zarr", state, stages, latest, time=t)


def _counts(stage):
    return {k: stage[k] for k in ("done", "total", "failed", "fraction")}


def test_latest_message_wins_and_history_is_kept():
    events = [
        (1.0, _msg("a", "running", 0, t=1.0, latest={"m_factor_AM": 0.1, "structure": 0})),
        (2.0, _msg("a", "running", 4, t=2.0, latest={"structure": 4,
                                                      "values": {"tortuosity_mean_SE": 1.5}})),
        (3.0, _msg("b", "running", 1, t=3.0)),
        (4.0, _msg("a", "finished", 10, t=4.0, failed=1)),
    ]
    out = summarize_events(events)
    assert [s["study"] for s in out] == ["b", "a"]  # newest first
    a = out[1]
    assert a["state"] == "finished" and a["messages"] == 3
    assert a["started"] == 1.0 and a["updated"] == 4.0
    assert list(a["stages"]) == list(STAGES)
    assert all(_counts(v) == {"done": 10, "total": 10, "failed": 1, "fraction": 1.0}
               for v in a["stages"].values())
    assert a["failed"] == len(STAGES)
    # values not repeated in later messages keep their last value; latest is the last event
    assert a["values"] == {"m_factor_AM": 0.1, "tortuosity_mean_SE": 1.5}
    assert a["latest"] == {}
    assert summarize_events(events[:2])[0]["latest"] == {"structure": 4}


def test_late_older_message_does_not_roll_back():
    board = StudyBoard()
    board.add(5.0, _msg("a", "finished", 10, t=5.0))
    board.add(6.0, _msg("a", "running", 2, t=4.0))
    (a,) = board.snapshot()
    assert a["state"] == "finished" and a["stages"]["realize"]["done"] == 10
    assert a["started"] == 4.0 and a["messages"] == 2


def test_foreign_and_malformed_messages_are_ignored():
    board = StudyBoard().extend([
        (1.0, "text"), (1.0, {"kind": "other"}), (1.0, {"kind": "study"}), (1.0, None),
        (2.0, {"kind": "study", "study": "x", "stages": {"realize": {"done": "bad", "total": None}},
               "time": "not a number"}),
    ])
    assert board.ignored == 4 and len(board) == 1
    (x,) = board.snapshot()
    assert _counts(x["stages"]["realize"]) == {"done": 0, "total": 0, "failed": 0, "fraction": 0.0}
    assert x["started"] == 2.0 and x["state"] == "unknown"


def test_snapshot_is_strict_json_and_keeps_extra_stages():
    msg = _msg("a", "running", 3, t=1.0, latest={"tau": float("nan"), "m": {"AM": 0.2},
                                                 "tortuosity_mean_AM": float("inf")})
    msg["stages"]["custom"] = {"done": 1, "total": 2, "failed": 0}
    (a,) = summarize_events([(1.0, msg)])
    json.dumps(a, allow_nan=False)
    assert a["latest"] == {"tau": None, "m": {"AM": 0.2}}
    assert a["values"] == {"tortuosity_mean_AM": None}
    assert list(a["stages"])[-1] == "custom"
    assert math.isclose(a["stages"]["realize"]["fraction"], 0.3)


def test_errors_are_collected_and_bounded():
    board = StudyBoard()
    for i in range(30):
        msg = _msg("a", "running", i, t=float(i))
        msg["errors"] = [f"e{i}"]
        board.add(float(i), msg)
    (a,) = board.snapshot()
    assert a["errors"] == [f"e{i}" for i in range(10, 30)]
    board.add(31.0, _msg("a", "running", 3, t=31.0, latest={"key": "conduct-x", "error": "boom"}))
    board.add(32.0, _msg("a", "running", 3, t=32.0, latest={"error": "bang"}))
    (a,) = board.snapshot()
    assert a["errors"][-2:] == ["conduct-x: boom", "bang"] and len(a["errors"]) == 20
    assert a["latest"] == {}


def test_render_shows_every_stage_and_escapes():
    latest = {"volume_fraction_AM": 0.49871234, "m_factor_SE": 0.1371, "note": "<b>x</b>",
              "key": "conduct-p00"}
    studies = summarize_events([(1.0, _msg("<script>", "running", 5, t=1.0, latest=latest))])
    page = render_page(studies, now=61.0)
    for stage in STAGES:
        assert f'data-stage="{stage}"' in page
    for label in ("gradient evaluations", "structures described", "M-factors done"):
        assert label in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "0.4987" in page and "0.1371" in page
    assert "key=<code>conduct-p00</code>" in page
    assert "width: 50.0%" in page
    assert "1m 00s" in page  # elapsed of a running study


def test_render_empty_lists_the_stages():
    html = render_studies([])
    assert "No study" in html
    for stage in STAGES:
        assert f"<b>{stage}</b>" in html


def test_flatten_latest():
    assert flatten_latest({"a": {"b": 1, "c": {"d": 2}}, "e": [1.0, 2.5]}) == [
        ("a.b", 1), ("a.c.d", 2), ("e", "1, 2.5")]


@pytest.mark.parametrize("bad, exc", [(50, ValueError), (1.5, TypeError), (True, TypeError)])
def test_render_page_validates_refresh(bad, exc):
    with pytest.raises(exc, match="refresh_ms"):
        render_page([], refresh_ms=bad)


def test_a_running_study_without_heartbeat_reads_interrupted():
    board = StudyBoard()
    board.add(100.0, study_message("s", "/s.zarr", "running", {}, time=100.0, expires=160.0))
    assert board.snapshot(now=150.0)[0]["state"] == "running"
    assert board.snapshot(now=161.0)[0]["state"] == "interrupted"  # the client died: no heartbeat
    board.add(170.0, study_message("s", "/s.zarr", "running", {}, time=170.0, expires=230.0))
    assert board.snapshot(now=200.0)[0]["state"] == "running"  # a heartbeat arrived
    board.add(180.0, study_message("s", "/s.zarr", "finished", {}, time=180.0))
    assert board.snapshot(now=10_000.0)[0]["state"] == "finished"
    assert "vmt-state-interrupted" in render_studies(
        StudyBoard().extend([(1.0, study_message("t", "/t", "running", {}, time=1.0, expires=2.0))]).snapshot(now=3.0))
