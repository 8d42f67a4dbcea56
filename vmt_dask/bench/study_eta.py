"""ETA of `vmt study run`: the estimate shown at the halfway point against the time it really took.

    python -m vmt_dask.bench study_eta [--preset smoke] [--workers 2] [--json OUT]

Runs the preset from scratch on an embedded LocalCluster with the terminal display's
estimator (:meth:`vmt_dask.cli.study.StageProgress.eta`) recording (wall time, ETA) after
every completed task.  After the run it takes the wall-clock halfway point and reports the
ETA shown then, the time that actually remained, and their ratio (issue 17: within 30 %).
The same is reported at 25 % and 75 % of the wall time, with the machine's load (the
machine is shared: one run is one sample, not a verdict).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time


def add_arguments(parser) -> None:
    parser.add_argument("--preset", default="smoke", help="study preset (default smoke; demo for issue 17)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--json", help="write the figures to this JSON file")


def run(args) -> int:
    from vmt_dask.cli.study import StageProgress
    from vmt_dask.study import load_spec, run_study

    spec = load_spec(args.preset)
    samples: list[tuple[float, float | None, int]] = []
    display = StageProgress(io.StringIO(), interactive=False, summary_every_s=1e9)
    t0 = time.monotonic()

    def record(run, latest):
        display(run, latest)
        if "key" in latest:
            samples.append((time.monotonic() - t0, display.eta(run), sum(run.done.values())))

    tmp = tempfile.mkdtemp(prefix="vmt-bench-eta-")
    try:
        result = run_study(spec, os.path.join(tmp, "study.zarr"), workers=args.workers, progress=record)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.monotonic() - t0
    end = samples[-1][0] if samples else wall  # the last completion: the work's end
    rows = []
    for frac in (0.25, 0.5, 0.75):
        at = frac * end
        before = [s for s in samples if s[0] <= at and s[1] is not None]
        if not before:
            rows.append({"fraction": frac, "eta_s": None, "actual_s": end - at, "ratio": None})
            continue
        t, eta, done = before[-1]
        actual = end - t
        rows.append({"fraction": frac, "time_s": t, "tasks_done": done, "eta_s": eta, "actual_s": actual,
                     "ratio": eta / actual if actual > 0 else None})
    load = os.getloadavg()
    print(f"study_eta: preset {spec.name}, {args.workers} workers, {sum(result.totals.values())} tasks, "
          f"state {result.state}, wall {wall:.1f} s, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'at':>6} {'tasks':>6} {'ETA shown s':>12} {'remaining s':>12} {'ratio':>7}")
    for r in rows:
        eta = "?" if r["eta_s"] is None else f"{r['eta_s']:.1f}"
        ratio = "?" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(f"{100 * r['fraction']:>5.0f}% {r.get('tasks_done', 0):>6} {eta:>12} {r['actual_s']:>12.1f} {ratio:>7}")
    half = rows[1]["ratio"]
    if half is not None:
        print(f"halfway: ETA off by {100 * abs(half - 1):.0f} % ({'within' if abs(half - 1) <= 0.3 else 'outside'} "
              "issue 17's 30 %)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"preset": spec.name, "workers": args.workers, "wall_s": wall, "load": load, "rows": rows,
                       "state": result.state}, fh, indent=1)
    return 0
