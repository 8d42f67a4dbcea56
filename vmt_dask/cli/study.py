"""``vmt study``: run a parameter study, follow it, check it, export its results.

    vmt study run (SPEC | --preset NAME) --store STORE [--points 0,7] [--scheduler ADDRESS]
                  [--workers N] [--new] [--quiet]
    vmt study status STORE [--json]
    vmt study verify STORE [--quick] [--json]
    vmt study results STORE --csv OUT
    vmt study spec STORE [-o FILE]

``run`` resumes a study where it stopped and repairs damaged pieces (records recomputed,
volumes regenerated from their seeds); ``status`` derives the state from the verified records
and the store's lease; ``verify`` reports damage (exit 1) without changing anything; ``spec``
prints the spec a store was made with (to resume it after a preset changed).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from ..errors import InputError
from . import OneLineParser

__all__ = ["register", "StageProgress", "selection_summary"]


def selection_summary(spec, points) -> str:
    """``"15 points, 495 structures"``, or with ``--points``: ``"1 of 15 points (0), 33 of 495 structures"``."""
    from ..study.stages import parse_points

    chosen = parse_points(points, spec.n_points)
    if chosen is None:
        return f"{spec.n_points} points, {spec.n_structures} structures"
    return (f"{len(chosen)} of {spec.n_points} points ({points}), "
            f"{len(chosen) * spec.structures_per_point} of {spec.n_structures} structures")


def register(subparsers) -> None:
    # the parsers are the package's OneLineParser (argparse's own errors as one line, exit 2)
    p = subparsers.add_parser("study", help="parameter study of paper Section 2.4 on Dask",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="study_command", metavar="ACTION", parser_class=OneLineParser)
    sub.required = True

    r = sub.add_parser("run", help="run, resume or repair a study")
    r.add_argument("spec", nargs="?", help="study spec file (YAML or TOML)")
    r.add_argument("--preset", help="shipped preset: paper, demo or smoke")
    r.add_argument("--store", required=True, help="study store (directory or fsspec URL)")
    r.add_argument("--points", help="run only these interpolation points, e.g. 0,7 or 0-3 "
                   "(their gradients and structures; recorded in the store)")
    r.add_argument("--scheduler", help="address of a running Dask scheduler "
                   "(default: DASK_SCHEDULER_ADDRESS, else an embedded LocalCluster)")
    r.add_argument("--workers", type=int, help="worker processes of the embedded cluster (default: cores)")
    r.add_argument("--new", action="store_true", help="replace a store that holds another study")
    r.add_argument("--quick-check", action="store_true",
                   help="check stored volumes by size only before resuming (default: hash every chunk)")
    r.add_argument("--quiet", action="store_true", help="no progress display")
    r.set_defaults(func=_run)

    s = sub.add_parser("status", help="state of a study (works while it runs and after)")
    s.add_argument("store")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(func=_status)

    v = sub.add_parser("verify", help="check every record and volume of a study store (exit 1 on damage)")
    v.add_argument("store")
    v.add_argument("--quick", action="store_true", help="check sizes and manifests only (no chunk hashing)")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=_verify)

    x = sub.add_parser("results", help="export a study's results")
    x.add_argument("store")
    x.add_argument("--csv", required=True, help="output CSV file (one row per structure); - for standard output")
    x.set_defaults(func=_results)

    q = sub.add_parser("spec", help="print the spec a study store was made with (YAML)")
    q.add_argument("store")
    q.add_argument("-o", "--output", help="write it to this file instead of standard output")
    q.set_defaults(func=_spec)


def _bar(done: int, total: int, width: int = 24) -> str:
    frac = min(done / total, 1.0) if total else 1.0
    k = int(round(frac * width))
    return "[" + "#" * k + "." * (width - k) + f"] {done}/{total}"


def _oserror(what: str, exc: OSError) -> InputError:
    where = f" {exc.filename!r}" if getattr(exc, "filename", None) else ""
    return InputError(f"{what}:{where} {exc.strerror or exc}")


# --------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------
def _eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"


class StageProgress:
    """Per-stage progress of ``vmt study run``: rich bars with rate and ETA on a terminal,
    one clean line per stage change otherwise (logs, CI, pipes).

    Call it as the ``progress`` callback of :func:`vmt_dask.study.run_study`; call
    :meth:`close` at the end.  ETAs are the remaining tasks divided by the rate measured
    since the stage's first completion in this run (rich's estimate on a terminal).
    """

    def __init__(self, stream=None, *, interactive: bool | None = None, summary_every_s: float = 60.0):
        from rich.console import Console

        self.stream = sys.stderr if stream is None else stream
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.console = Console(file=self.stream, force_terminal=self.interactive or None,
                               force_interactive=self.interactive, soft_wrap=True)
        self.summary_every_s = summary_every_s
        self.started = time.monotonic()
        self.first: dict[str, tuple[float, int]] = {}
        self.state: dict[str, str] = {}
        self.bars = None
        self.ids: dict[str, int] = {}
        self.last_summary = time.monotonic()
        self.work: dict[str, list[float]] = {}  # per stage: the task seconds measured this run
        self.first_done: float | None = None

    def eta(self, run) -> float | None:
        """Seconds to finish: the remaining work (tasks left per stage x that stage's median task
        seconds, from the records of this run; the median over all stages where a stage has no
        sample yet) divided by the parallelism achieved so far (task-seconds done per wall
        second).  None until a task has completed."""
        import statistics

        every = [x for v in self.work.values() for x in v]
        if not every or self.first_done is None:
            return None
        elapsed = time.monotonic() - self.first_done
        busy = sum(every)
        if elapsed <= 0 or busy <= 0:
            return None
        overall = statistics.median(every)  # medians: the first tasks of a worker include JIT compiles
        remaining = 0.0
        for s, total in run.totals.items():
            left = max(0, total - run.done.get(s, 0) - run.failed.get(s, 0))
            v = self.work.get(s)
            remaining += left * (statistics.median(v) if v else overall)
        parallel = busy / elapsed
        return remaining / parallel

    def _start_bars(self, run) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        from ..events import STAGES

        self.bars = Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                             TaskProgressColumn(), TextColumn("{task.fields[rate]:>10}"), TextColumn("ETA"),
                             TimeRemainingColumn(), TimeElapsedColumn(), TextColumn("{task.fields[note]}"),
                             console=self.console, refresh_per_second=4, transient=False)
        for s in STAGES:
            self.ids[s] = self.bars.add_task(s, total=run.totals.get(s, 0), completed=run.done.get(s, 0),
                                             rate="", note="")
        self.ids["all"] = self.bars.add_task("all", total=sum(run.totals.values()),
                                             completed=sum(run.done.values()), rate="", note="")
        self.bars.start()

    def _rate(self, stage: str, done: int) -> float | None:
        t0, d0 = self.first.get(stage, (None, None))
        if t0 is None:
            return None
        dt = time.monotonic() - t0
        return (done - d0) / dt if dt > 0 and done > d0 else None

    def _stage_state(self, run, s: str) -> str:
        total, done, failed = run.totals.get(s, 0), run.done.get(s, 0), run.failed.get(s, 0)
        if total and done >= total:
            return "done"
        if failed and done + failed >= total:
            return "failed"
        return "running" if s in self.first else "waiting"

    def __call__(self, run, latest) -> None:
        from ..events import STAGES

        now = time.monotonic()
        stage = latest.get("stage")
        if stage and isinstance(latest.get("seconds"), (int, float)):
            self.work.setdefault(stage, []).append(float(latest["seconds"]))
            if self.first_done is None:  # the wall clock of the work starts with the first task
                self.first_done = now - float(latest["seconds"])
        if not self.state and not self.interactive:  # first call: stages complete before this run
            for s in STAGES:
                if run.totals.get(s, 0) and run.done.get(s, 0) >= run.totals[s]:
                    self.state[s] = "done"
                    self._line(f"stage {s}: done {run.done[s]}/{run.totals[s]} (before this run)")
            self.state.setdefault("", "started")
        for s in STAGES:
            if s not in self.first and (latest.get("stage") == s or run.done.get(s, 0) >= run.totals.get(s, 0) > 0):
                self.first[s] = (now, run.done.get(s, 0) - (1 if latest.get("stage") == s else 0))
        if self.interactive:
            if self.bars is None:
                self._start_bars(run)
            for s in STAGES:
                rate = self._rate(s, run.done.get(s, 0))
                note = f"failed {run.failed[s]}" if run.failed.get(s) else ""
                self.bars.update(self.ids[s], completed=run.done.get(s, 0),
                                 rate="" if rate is None else f"{60 * rate:.1f}/min", note=note)
            self.bars.update(self.ids["all"], completed=sum(run.done.values()) + sum(run.failed.values()),
                             note=f"study ETA {_eta(self.eta(run))}")
            if latest.get("event") in ("finished", "failed"):
                self.close()
            return
        # non-interactive: one line per stage change, a summary line now and then
        for s in STAGES:
            st = self._stage_state(run, s)
            if st != self.state.get(s, "waiting"):
                self.state[s] = st
                self._line(f"stage {s}: {st} {run.done.get(s, 0)}/{run.totals.get(s, 0)}"
                           + (f", failed {run.failed[s]}" if run.failed.get(s) else "")
                           + (f" ({_eta(now - self.first[s][0])})" if st == "done" and s in self.first else ""))
        final = latest.get("event") in ("finished", "failed")
        if final:
            self.close()
        if not final and now - self.last_summary >= self.summary_every_s:
            self.last_summary = now
            self._line(self.summary(run))

    def summary(self, run) -> str:
        """One line: tasks done of total, rate in this run and ETA (:meth:`eta`)."""
        done, total = sum(run.done.values()), sum(run.totals.values())
        n = sum(len(v) for v in self.work.values())
        elapsed = time.monotonic() - (self.first_done if self.first_done is not None else self.started)
        rate = n / elapsed if elapsed > 0 and n else 0.0
        return (f"progress: {done}/{total} tasks ({100 * done / max(total, 1):.0f} %), "
                f"{60 * rate:.1f} tasks/min, ETA {_eta(self.eta(run))}")

    def _line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.stream.write(f"{stamp} {text}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None


#: The first wave's name for the display (vmt_dask.demo imports it).
_Display = StageProgress


# --------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------
def _run(args) -> int:
    # the arguments first, the study package (storage, zarr: ~1.3 s) after
    if (args.spec is None) == (args.preset is None):
        raise InputError("give either a SPEC file or --preset NAME")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be >= 1 (got {args.workers})")
    if not args.store.strip():
        raise InputError("--store '' is empty: give a directory path or a URL")
    if not getattr(args, "verbose", 0):
        import os

        # no per-worker INFO chatter: dask reads this when distributed is first imported
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    from ..study import load_spec, run_study

    spec = load_spec(args.preset or args.spec)
    if not getattr(args, "verbose", 0):
        import logging

        logging.getLogger("distributed").setLevel(logging.WARNING)  # keep the progress display readable
    display = None if args.quiet else StageProgress()

    def on_start(client) -> None:
        from ..storage import redact

        if not getattr(args, "verbose", 0):
            import logging

            for name in list(logging.root.manager.loggerDict):  # distributed configures its children
                if name.startswith("distributed"):
                    logging.getLogger(name).setLevel(logging.WARNING)

        print(f"study {spec.name!r}: {selection_summary(spec, args.points)} at "
              f"{'x'.join(map(str, spec.shape))} voxels -> {redact(args.store)}", file=sys.stderr)
        from ..dashboard.client import study_page_url

        page = study_page_url(client)
        print(f"dashboard: {client.dashboard_link}" + (f"  study page: {page}" if page else ""),
              file=sys.stderr)

    try:
        run = run_study(spec, args.store, scheduler=args.scheduler, workers=args.workers, new=args.new,
                        points=args.points, progress=display, on_start=on_start,
                        check="quick" if args.quick_check else "deep")
    except OSError as exc:
        raise _oserror(f"store {args.store!r}", exc) from None
    finally:
        if display is not None:
            display.close()
    from ..storage import redact

    if run.repaired:
        print(f"repaired {len(run.repaired)} damaged or missing pieces (e.g. {run.repaired[0]})", file=sys.stderr)
    print(f"study {run.state} in {run.wall_s:.1f} s; results: {redact(args.store)} "
          f"(vmt study results {redact(args.store)} --csv OUT)")
    for key, err in run.errors[:10]:
        print(f"  failed: {key}: {err}", file=sys.stderr)
    return 0 if run.ok else 1


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def _status(args) -> int:
    from ..study import study_status

    st = study_status(args.store)
    if args.json:
        print(json.dumps(_jsonable(st), indent=1, sort_keys=True))
        return 0
    pts = "" if st["points"] is None else f" (points {','.join(map(str, st['points']))})"
    print(f"study {st['name']!r} ({st['identity']}) in {st['store']}{pts}: {st['state']}")
    for stage, v in st["stages"].items():
        print(f"  {stage:<10} {_bar(v['done'], v['total'])}")
    run = st.get("run") or {}
    lease = st.get("lease") or {}
    if st["damaged"]:
        print(f"  {len(st['damaged'])} damaged records (read as absent; rerun to recompute), "
              f"e.g. {st['damaged'][0]}")
    if st["state"] == "running":
        print(f"  held by {lease.get('owner')!r} on {lease.get('host')} (pid {lease.get('pid')}); "
              f"scheduler {run.get('scheduler')}  dashboard {run.get('dashboard')}")
    elif st["state"] in ("interrupted", "failed"):
        also = f" (the {len(st['damaged'])} damaged among them)" if st["damaged"] else ""
        print(f"  {st['missing']} records missing{also}; rerun the same command to resume")
    return 0


def _verify(args) -> int:
    from ..study import verify_study

    res = verify_study(args.store, deep=not args.quick)
    rep = res["report"]
    if args.json:
        out = {**rep.to_dict(), "study_files": res["study_files"], "missing_volumes": res["missing_volumes"],
               "missing_records": len(res["missing_records"]), "ok": res["ok"]}
        print(json.dumps(_jsonable(out), indent=1, sort_keys=True))
        return 0 if res["ok"] else 1
    for line in rep.lines():
        print(line)
    for name, why in sorted(res["study_files"].items()):
        print(f"damaged study file {name}: {why}")
    for key in res["missing_volumes"]:
        print(f"missing volume {key} (its record is intact)")
    if res["missing_records"]:
        print(f"{len(res['missing_records'])} expected records not written yet (work not done; not damage)")
    if res["ok"]:
        print("no damage found")
        return 0
    print("damage found: `vmt study run` with the same spec and store recomputes the damaged pieces")
    return 1


def _spec(args) -> int:
    from ._args import check_output_path

    if args.output is not None:
        check_output_path(args.output, "--output")
    from ..study.coordinator import read_spec_text

    text = read_spec_text(args.store)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise _oserror(f"--output {args.output!r}", exc) from None
    print(f"wrote the spec of {args.store} to {args.output}", file=sys.stderr)
    return 0


def _results(args) -> int:
    from ._args import check_output_path

    check_output_path(args.csv, "--csv")
    from ..study import export_csv

    try:
        rows = export_csv(args.store, args.csv)
    except OSError as exc:
        raise _oserror(f"--csv {args.csv!r}", exc) from None
    if args.csv == "-":  # the table went to standard output: the count goes beside it
        print(f"wrote {rows} structures to standard output", file=sys.stderr)
    else:
        print(f"wrote {rows} structures to {args.csv}")
    return 0
