"""JobProgress (vmt design / vmt calibrate): one line rewritten in place on a terminal, a few
rate-limited lines in a log, each with the batch's rate and ETA (fresh-eyes finding, session 8:
`vmt design` printed ~66 progress lines)."""
from __future__ import annotations

import io

from vmt_dask.cli import _args
from vmt_dask.cli._args import JobProgress


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _drive(progress, clock, batches, step_s=1.0):
    for stage, total in batches:
        for done in range(1, total + 1):
            clock.t += step_s
            progress(done, total, stage)
    progress.close()


def test_log_gets_a_few_lines_with_eta(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(_args.time, "perf_counter", clock)
    out = io.StringIO()
    p = JobProgress("simulations", out, interactive=False, every_pct=25, every_s=10)
    # the design's shape: a pilot batch, then candidate batches (66 jobs in all)
    _drive(p, clock, [("pilot", 18), ("pilot", 24), ("verify", 24)], step_s=1.0)
    lines = out.getvalue().splitlines()
    assert 3 <= len(lines) <= 3 * 4, lines  # each batch's end, at most every 25 % in between
    assert lines[-1].startswith("  verify: 24/24 simulations (100 %)") and lines[-1].endswith("ETA 0 s")
    # the ETA of a batch half done at 1 job/s: the remaining jobs' seconds
    # at 1 job/s every line's ETA is the remaining jobs' seconds, and its rate 1/s
    for ln in lines:
        done, total = (int(x) for x in ln.split(": ")[1].split(" ")[0].split("/"))
        assert ln.endswith(f", 1/s, ETA {total - done} s"), ln


def test_terminal_rewrites_one_line_per_batch(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(_args.time, "perf_counter", clock)
    out = io.StringIO()
    p = JobProgress("realizations", out, interactive=True)
    _drive(p, clock, [("props", 10), ("props", 30)], step_s=0.5)
    text = out.getvalue()
    assert text.count("\n") == 2  # one finished line per batch
    assert text.count("\r") == 40  # every job updates the line in place
    last = text.rstrip("\n").split("\n")[-1].split("\r")[-1]
    assert last.strip().startswith("props: 30/30 realizations (100 %)")


def test_close_ends_an_unfinished_line():
    out = io.StringIO()
    p = JobProgress("simulations", out, interactive=True)
    p(3, 10, "pilot")
    assert not out.getvalue().endswith("\n")
    p.close()
    assert out.getvalue().endswith("\n")
    p.close()  # idempotent
    assert out.getvalue().count("\n") == 1
