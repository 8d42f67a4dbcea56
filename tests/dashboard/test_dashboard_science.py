"""The study page's science summary: known answers, bounded memory, robustness, redaction."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vmt_dask.dashboard import StudyBoard, render_page
from vmt_dask.dashboard.plots import build_layout, plot_data, source_names
from vmt_dask.dashboard.science import HISTOGRAM_BINS, MAX_POINTS, MAX_SCATTER, StudyScience
from vmt_dask.events import STAGES, study_message
from vmt_dask.paper import SECTION_3_2_RANGES
from vmt_dask.redact import redact


def _structure(i, point=0, function=None, h=0.0):
    return {"index": i, "point": point, "local": i, "function": function, "h": h}


def test_histogram_counts_are_exact_and_duplicates_count_once():
    sc = StudyScience()
    values = [0.005, 0.025, 0.035, 0.999, -0.1, 1.0, 2.0]  # bins of width 0.02 on [0, 1)
    for i, v in enumerate(values):
        sc.add({"values": {"volume_fraction_SE": v}, "structure": _structure(i)})
    sc.add({"values": {"volume_fraction_SE": 0.5}, "structure": _structure(1)})  # rerun of structure 1
    h = sc.snapshot()["histograms"]["volume_fraction_SE"]
    low, high, n = HISTOGRAM_BINS["volume_fraction"]
    assert (low, high, len(h["counts"])) == (0.0, 1.0, n) == (0.0, 1.0, 50)
    assert h["counts"][0] == 1 and h["counts"][1] == 2 and h["counts"][49] == 1
    assert h["under"] == 1 and h["over"] == 2 and h["n"] == len(values)
    assert sum(h["counts"]) == 4


def test_scatter_joins_descriptors_and_m_factor_of_the_same_structure():
    sc = StudyScience()
    sc.add({"values": {"volume_fraction_AM": 0.5, "tortuosity_mean_AM": 1.07}, "structure": _structure(7)})
    assert sc.snapshot()["scatter"]["AM"]["seen"] == 0  # M-factor not there yet
    sc.add({"values": {"m_factor_AM": 0.3}, "structure": _structure(8)})  # another structure
    sc.add({"values": {"m_factor_AM": 0.31}, "structure": _structure(7)})
    pts = sc.snapshot()["scatter"]["AM"]
    assert pts == {"volume_fraction": [0.5], "m_factor": [0.31], "tortuosity_mean": [1.07], "seen": 1}


def test_a_phase_that_does_not_percolate_is_plotted_without_colour():
    sc = StudyScience()
    sc.add({"values": {"volume_fraction_SE": 0.2, "tortuosity_mean_SE": math.nan}, "structure": _structure(3)})
    sc.add({"values": {"m_factor_SE": 0.0}, "structure": _structure(3)})
    pts = sc.snapshot()["scatter"]["SE"]
    assert pts["tortuosity_mean"] == [None] and pts["m_factor"] == [0.0]
    json.dumps(plot_data(sc.snapshot()), allow_nan=False)


def test_gradient_steps_are_grouped_by_point_and_function():
    sc = StudyScience()
    sc.add({"values": {"constrictivity_SE": 0.4, "volume_fraction_SE": 0.41}, "structure": _structure(0, 3)})
    for i, (h, v) in enumerate([(-0.05, 0.35), (0.05, 0.47)], start=1):
        sc.add({"values": {"constrictivity_SE": v, "volume_fraction_SE": 0.4},
                "structure": _structure(i, 3, "constrictivity_SE", h)})
    point = sc.snapshot()["points"]["3"]
    assert point["base"] == {"constrictivity_SE": 0.4, "volume_fraction_SE": 0.41}
    assert point["steps"] == {"constrictivity_SE": {"-0.05": 0.35, "0.05": 0.47}}
    data = plot_data(sc.snapshot())["steps-SE"]
    # h scaled by its largest |h|, value relative to the point's: -1 -> 0.35/0.4 - 1 ...
    assert data["xs"] == [[-1.0, 0.0, 1.0]]
    assert data["ys"][0] == pytest.approx([0.35 / 0.4 - 1, 0.0, 0.47 / 0.4 - 1])


def test_memory_is_bounded_for_a_large_study():
    sc = StudyScience()
    n = 3 * MAX_SCATTER
    for i in range(n):
        meta = _structure(i, point=i // 33)
        sc.add({"values": {"volume_fraction_SE": 0.4, "tortuosity_mean_SE": 1.1, "m_factor_SE": 0.1},
                "structure": meta})
    snap = sc.snapshot()
    assert snap["scatter"]["SE"]["seen"] == n
    assert MAX_SCATTER // 2 <= len(snap["scatter"]["SE"]["m_factor"]) <= MAX_SCATTER
    assert len(snap["points"]) == MAX_POINTS
    assert snap["histograms"]["volume_fraction_SE"]["n"] == n
    assert len(json.dumps(plot_data(snap))) < 2_000_000


def test_plot_data_fills_every_named_source_of_the_layout():
    sc = StudyScience()
    sc.add({"values": {"m_factor_AM": 0.3, "volume_fraction_AM": 0.5, "tortuosity_mean_AM": 1.1},
            "structure": _structure(0)})
    data = plot_data(sc.snapshot())
    assert sorted(data) == sorted(source_names())
    layout = build_layout()
    from bokeh.models import ColumnDataSource

    named = {m.name for m in layout.select({"type": ColumnDataSource})}
    assert named == set(source_names())
    # every source's columns are the ones its glyphs read
    for m in layout.select({"type": ColumnDataSource}):
        assert set(m.data) == set(data[m.name]), m.name


def test_paper_ranges_come_from_the_paper_module():
    ranges = StudyScience().snapshot()["ranges"]
    assert ranges["constrictivity_SE"]["low"] == SECTION_3_2_RANGES["constrictivity_SE"].low == 0.31
    assert ranges["m_factor_AM"]["high"] == 0.33


def test_credentials_are_redacted_everywhere_on_the_page():
    secret = "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/study.zarr"
    board = StudyBoard()
    board.add(1.0, study_message("s", secret, "running", {}, latest={
        "stage": "conduct", "key": "conduct-1", "error": f"PermissionError('{secret}')",
        "note": "https://h/x?X-Amz-Signature=abcdef&a=1"}, time=1.0))
    text = json.dumps(board.snapshot()) + render_page(board.snapshot())
    assert "wJalrXUtnFEMI" not in text and "AKIAEXAMPLE" not in text and "abcdef" not in text
    assert "s3://***@bucket/study.zarr" in text


@pytest.mark.parametrize("url, expected", [
    ("s3://k:s@b/x", "s3://***@b/x"),
    ("https://user@host/p", "https://***@host/p"),
    ("/plain/path.zarr", "/plain/path.zarr"),
    ("memory://study", "memory://study"),
    ("gs://b/x?token=abc&x=1", "gs://b/x?token=***&x=1"),
    ("http://h/?access_key=1;secret=2", "http://h/?access_key=***;secret=***"),
])
def test_redact(url, expected):
    assert redact(url) == expected


def _random_value(rng, depth=0):
    kind = rng.integers(0, 12)
    if depth > 5 or kind == 0:
        return None
    return [
        lambda: float(rng.choice([math.nan, math.inf, -math.inf, 1e308, -0.0, 3.5])),
        lambda: int(rng.choice([0, -1, 2**63, -(2**70), 10**400])),
        lambda: str(rng.choice(["nan", "inf", "", "x" * 5000, "<script>alert(1)</script>", "s3://a:b@c"])),
        lambda: bool(rng.integers(0, 2)),
        lambda: [_random_value(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))],
        lambda: {str(rng.integers(0, 5)): _random_value(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))},
        lambda: {"done": _random_value(rng, depth + 1), "total": _random_value(rng, depth + 1)},
        lambda: b"\xff\x00bytes",
        lambda: (1, 2),
        lambda: np.float32(np.nan),
        lambda: object(),
    ][kind - 1]()


def test_no_event_can_break_the_page():
    """Seeded fuzz: 1000 random (mostly malformed) events; the page and the JSON API survive.

    Every field of a study message is replaced at random by NaN/inf times, huge integers,
    wrong types, deep nesting, huge or hostile strings; afterwards a well-formed message
    must still be shown correctly.
    """
    rng = np.random.default_rng(20261130)
    board = StudyBoard()
    fields = ("kind", "study", "store", "state", "stages", "latest", "time", "errors", "error")
    for _ in range(1000):
        msg = study_message("fuzz", "/s.zarr", "running", {s: {"done": 1, "total": 2} for s in STAGES},
                            latest={"values": {"m_factor_SE": 0.1}, "structure": _structure(1)}, time=5.0)
        for f in rng.choice(fields, size=int(rng.integers(1, 4)), replace=False):
            msg[str(f)] = _random_value(rng)
        if rng.random() < 0.3:
            msg["latest"] = {"values": {"volume_fraction_AM": _random_value(rng)},
                             "structure": {"index": _random_value(rng), "point": _random_value(rng),
                                           "function": _random_value(rng), "h": _random_value(rng)}}
        when = _random_value(rng) if rng.random() < 0.2 else 1.0
        board.add(when, msg if rng.random() < 0.95 else _random_value(rng))
        if rng.random() < 0.03:  # the page and the API must serialise at any moment
            snap = board.snapshot()
            json.dumps(snap, allow_nan=False)
            render_page(snap)
            for s in snap:
                json.dumps(plot_data(board.science(s["study"])), allow_nan=False)
    board.add(10.0, study_message("ok", "/ok.zarr", "finished", {"conduct": {"done": 3, "total": 3}}, time=10.0))
    snap = board.snapshot()
    json.dumps(snap, allow_nan=False)
    ok = next(s for s in snap if s["study"] == "ok")
    assert ok["state"] == "finished" and ok["stages"]["conduct"]["done"] == 3
    assert all(math.isfinite(s["started"]) and math.isfinite(s["updated"]) for s in snap)
    html = render_page(snap)
    assert "<script>alert(1)</script>" not in html
