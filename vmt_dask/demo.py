"""``python -m vmt_dask.demo --store PATH``: the demo study from a clean clone.

Runs the ``demo`` preset (the paper's design on a small grid) on an embedded
LocalCluster, resuming if the store already holds it; then, when the regression and
report packages are available, prints the regression table and writes the report
next to the store.  Prints where the results and the report are.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from .errors import InputError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmt_dask.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="demo-study.zarr", help="study store (default demo-study.zarr)")
    parser.add_argument("--preset", default="demo", help="preset to run (default demo)")
    parser.add_argument("--workers", type=int, help="worker processes (default: cores)")
    parser.add_argument("--new", action="store_true", help="replace a store holding another study")
    args = parser.parse_args(argv)
    # no per-worker INFO chatter: dask reads this when distributed is first imported, here and in
    # the worker processes (which inherit the environment)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from .cli.study import _Display
    from .study import export_csv, load_spec, open_results, run_study

    t_start = time.perf_counter()
    try:
        spec = load_spec(args.preset)
        print(f"demo: {spec.name!r} study, {spec.n_points} points, {spec.n_structures} structures at "
              f"{'x'.join(map(str, spec.shape))} voxels of {spec.voxel_size:g} um -> {args.store}", flush=True)
        if tuple(spec.shape) != (401, 401, 401) or spec.voxel_size != 0.2:
            window = " x ".join(f"{n * spec.voxel_size:g}" for n in spec.shape)
            print(f"demo: a {window} um window instead of the paper's 401^3 x 0.2 um: a demo database, not the "
                  "paper's (per-structure errors against 401^3 and the surface-area bias of coarse voxels: "
                  "docs/fidelity.md)", flush=True)
        print("demo: the first run after an install compiles the numba kernels once, each kernel family in one "
              "process (`make demo` starts it in the background while it installs; measured 74 s of CPU in all at ba419ec, "
              "done ~68 s after a clean clone's start at load ~3); later runs load them from numba's cache", flush=True)
        run = run_study(spec, args.store, workers=args.workers, new=args.new, progress=_Display(),
                        on_start=lambda c: print(f"dashboard: {c.dashboard_link}", flush=True))
    except InputError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    # seconds per kernel family; "waited" is the part spent waiting for `make demo`'s install-time
    # background compile of that family (vmt_dask/study/warm.py), which then loads from the cache
    warm = ", ".join(f"{p} {s:.0f} s" + (f" (waited {w['waited'][p]:.0f} s for the background compile)"
                                         if w.get("waited", {}).get(p, 0) >= 1 else "")
                     for w in run.warm for p, s in w.get("seconds", {}).items())
    batched = (f"; {sum(run.submitted.values())} records in {run.dask_tasks} Dask tasks (small grids run in batches)"
               if run.dask_tasks else "")
    print(f"study {run.state} in {run.wall_s:.1f} s" + (f" (kernel warm-up, in parallel: {warm})" if warm else "")
          + batched)
    if not run.ok:
        for key, err in run.errors[:10]:
            print(f"  failed: {key}: {err}", file=sys.stderr)
        print("rerun the same command to retry what is missing", file=sys.stderr)
        return 1
    ds = open_results(args.store)
    csv = os.path.join(os.path.dirname(os.path.abspath(args.store)),
                       os.path.basename(os.path.normpath(args.store)).rsplit(".", 1)[0] + "-results.csv")
    export_csv(args.store, csv)
    print(f"results: {args.store} (xarray: vmt_dask.study.open_results({args.store!r}); "
          f"{ds.sizes['structure']} structures); flat table: {csv}")

    try:
        from .regression import fit_all
    except ImportError:
        print("(vmt_dask.regression not available: no regression table)")
        return 0
    t_fit = time.perf_counter()
    table = fit_all(ds)
    print(table)
    print(f"regression: {time.perf_counter() - t_fit:.1f} s")
    try:
        from .report.report import write_report
    except ImportError:
        print("(vmt_dask.report not available: no report)")
        return 0
    out = os.path.join(os.path.dirname(os.path.abspath(args.store)),
                       os.path.basename(os.path.normpath(args.store)).rsplit(".", 1)[0] + "-report")
    t_rep = time.perf_counter()
    rep = write_report(ds, out, table=table, source=args.store)
    path = getattr(rep, "html", None) or getattr(rep, "path", None) or os.path.join(out, "report.html")
    print(f"report: {path} ({time.perf_counter() - t_rep:.1f} s)")
    print(f"demo: done in {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
