"""``vmt study``: run a parameter study, follow it, export its results.

    vmt study run (SPEC | --preset NAME) --store STORE [--scheduler ADDRESS] [--workers N] [--new]
    vmt study status STORE
    vmt study results STORE --csv OUT
"""
from __future__ import annotations

import argparse
import sys
import time

from ..errors import InputError

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("study", help="parameter study of paper Section 2.4 on Dask",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="study_command", metavar="ACTION")
    sub.required = True

    r = sub.add_parser("run", help="run or resume a study")
    r.add_argument("spec", nargs="?", help="study spec file (YAML or TOML)")
    r.add_argument("--preset", help="shipped preset: paper, demo or smoke")
    r.add_argument("--store", required=True, help="study store (directory or fsspec URL)")
    r.add_argument("--scheduler", help="address of a running Dask scheduler "
                   "(default: DASK_SCHEDULER_ADDRESS, else an embedded LocalCluster)")
    r.add_argument("--workers", type=int, help="worker processes of the embedded cluster (default: cores)")
    r.add_argument("--new", action="store_true", help="replace a store that holds another study")
    r.add_argument("--quiet", action="store_true", help="no progress display")
    r.set_defaults(func=_run)

    s = sub.add_parser("status", help="progress of a study (works while it runs and after)")
    s.add_argument("store")
    s.set_defaults(func=_status)

    x = sub.add_parser("results", help="export a study's results")
    x.add_argument("store")
    x.add_argument("--csv", required=True, help="output CSV file (one row per structure)")
    x.set_defaults(func=_results)


def _bar(done: int, total: int, width: int = 24) -> str:
    frac = done / total if total else 1.0
    k = int(round(frac * width))
    return "[" + "#" * k + "." * (width - k) + f"] {done}/{total}"


class _Display:
    """Per-stage progress lines; redrawn in place on a terminal, else printed every 10 s."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0
        self.lines = 0

    def __call__(self, run, latest) -> None:
        now = time.time()
        final = latest.get("event") in ("finished", "failed")
        if not final and now - self.last < (0.25 if self.tty else 10.0):
            return
        self.last = now
        from ..events import STAGES

        rows = [f"  {s:<10} {_bar(run.done[s], run.totals[s])}" + (f"  failed {run.failed[s]}" if run.failed[s] else "")
                for s in STAGES]
        if self.tty and self.lines:
            self.stream.write(f"\x1b[{self.lines}A")
        self.stream.write("\n".join(r + "\x1b[K" if self.tty else r for r in rows) + "\n")
        if not self.tty:
            self.stream.write("\n")
        self.stream.flush()
        self.lines = len(rows)


def _run(args) -> int:
    from ..study import load_spec, run_study

    if (args.spec is None) == (args.preset is None):
        raise InputError("give either a SPEC file or --preset NAME")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be >= 1 (got {args.workers})")
    spec = load_spec(args.preset or args.spec)
    if not getattr(args, "verbose", 0):
        import logging

        logging.getLogger("distributed").setLevel(logging.WARNING)  # keep the progress display readable
    display = None if args.quiet else _Display()

    def on_start(client) -> None:
        print(f"study {spec.name!r}: {spec.n_points} points, {spec.n_structures} structures at "
              f"{'x'.join(map(str, spec.shape))} voxels -> {args.store}", file=sys.stderr)
        print(f"dashboard: {client.dashboard_link}", file=sys.stderr)

    run = run_study(spec, args.store, scheduler=args.scheduler, workers=args.workers, new=args.new,
                    progress=display, on_start=on_start)
    print(f"study {run.state} in {run.wall_s:.1f} s; results: {args.store} "
          f"(vmt study results {args.store} --csv OUT)")
    for key, err in run.errors[:10]:
        print(f"  failed: {key}: {err}", file=sys.stderr)
    return 0 if run.ok else 1


def _status(args) -> int:
    from ..study import study_status

    st = study_status(args.store)
    print(f"study {st['name']!r} ({st['identity']}) in {st['store']}: {st['state']}")
    for stage, v in st["stages"].items():
        print(f"  {stage:<10} {_bar(v['done'], v['total'])}")
    run = st.get("run") or {}
    if st["state"] == "running":
        print(f"  scheduler {run.get('scheduler')}  dashboard {run.get('dashboard')}")
    elif st["state"] == "interrupted":
        print("  the last run stopped before finishing; rerun the same command to resume")
    return 0


def _results(args) -> int:
    from ..study import export_csv

    rows = export_csv(args.store, args.csv)
    print(f"wrote {rows} structures to {args.csv}")
    return 0
