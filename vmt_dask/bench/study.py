"""Parameter study on Dask: wall time, stages, scheduler overhead, parallel efficiency, paper estimate.

    python -m vmt_dask.bench study --preset demo --workers 1,2 [--t 0.5] [--shape N]
                                   [--sizes 48,64,96] [--measure-401]

For each worker count the study runs from scratch into a fresh store on an embedded
LocalCluster (worker processes, one thread each) and reports: wall time, tasks per
stage, task time per stage (from the records' own timings), scheduler overhead
(worker-seconds not spent inside tasks, per task), bytes sent through the scheduler
(task payloads and results, measured by pickling them; volumes never go there) and
parallel efficiency T(1) / (k T(k)).  Then it measures one realize / describe (AM, SE)
/ conduct (AM, SE) per size in a fresh single-threaded process and estimates the paper
preset's core-hours at 401^3, by a power-law fit in the voxel count over the measured
sizes (or by measuring 401^3 directly with ``--measure-401``); it says which.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ._measure import format_table, measure_in_child

STAGE_DIRS = {"realize": "realize", "describe": "describe", "gradient": "gradient",
              "structure": "structure", "describe-structure": "structure", "conduct": "conduct"}


def add_arguments(parser) -> None:
    parser.add_argument("--preset", default="demo", help="study preset (default demo)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--t", help="comma-separated t-values replacing the preset's (fewer points)")
    parser.add_argument("--shape", type=int, help="cube edge replacing the preset's grid")
    parser.add_argument("--sizes", default="48,64,96", help="grid edges for the per-task cost fit")
    parser.add_argument("--measure-401", action="store_true", help="measure the tasks at 401^3 directly")
    parser.add_argument("--skip-study", action="store_true", help="only the per-task costs and the estimate")
    parser.add_argument("--json", help="write all figures to this JSON file")
    parser.add_argument("--generator", default="lattice",
                        help="model generator for the per-task costs (lattice, point, cell, band)")


def _task_costs(n: int, thetas: list, generator: str = "lattice") -> dict:
    """Mean seconds of realize / describe / conduct at n^3 over the given thetas (one thread)."""
    from vmt_dask.conductivity import m_factor
    from vmt_dask.descriptors import describe
    from vmt_dask.model import realize

    out = defaultdict(float)
    for th in thetas:
        t0 = time.perf_counter()
        labels = realize(th, (n, n, n), seed=11, threads=1, generator=generator)
        out["realize"] += time.perf_counter() - t0
        for name, code in (("SE", 1), ("AM", 2)):
            t0 = time.perf_counter()
            describe(labels, phase=code)
            out[f"describe_{name}"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            m_factor(labels == code)
            out[f"conduct_{name}"] += time.perf_counter() - t0
    return {k: v / len(thetas) for k, v in out.items()}


def _run_once(spec, workers: int) -> dict:
    from distributed import Client

    from vmt_dask.study import open_results, run_study
    from vmt_dask.study.coordinator import make_cluster

    tmp = tempfile.mkdtemp(prefix="vmt-bench-study-")
    store = os.path.join(tmp, "study.zarr")
    payload = [0]
    results = [0]
    try:
        with make_cluster(workers) as cluster, Client(cluster) as client:
            client.wait_for_workers(workers)
            orig_submit = client.submit

            def counting_submit(func, *args, **kwargs):  # measure what goes to the scheduler
                payload[0] += len(pickle.dumps((func.__name__, args, {k: v for k, v in kwargs.items()
                                                                         if k not in ("retries", "pure")}),
                                               protocol=5)) + 64  # + key and message framing
                return orig_submit(func, *args, **kwargs)

            client.submit = counting_submit
            t0 = time.perf_counter()
            run = run_study(spec, store, client=client)
            wall = time.perf_counter() - t0
        if not run.ok:
            raise RuntimeError(f"study failed: {run.errors[:3]}")
        per_stage = defaultdict(lambda: [0, 0.0])
        for p in Path(store, "records").rglob("*.json"):
            rec = json.loads(p.read_text())
            results[0] += len(p.read_bytes())
            st = STAGE_DIRS[p.parent.name]
            per_stage[st][0] += 1
            per_stage[st][1] += float(rec.get("seconds", 0.0))
        vol_bytes = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file() and "records" not in f.parts)
        task_s = sum(v[1] for v in per_stage.values())
        n_tasks = sum(v[0] for v in per_stage.values())
        ds = open_results(store)
        return {"workers": workers, "wall_s": wall, "tasks": n_tasks, "task_s": task_s,
                "stages": {k: {"tasks": v[0], "seconds": v[1]} for k, v in per_stage.items()},
                "overhead_s_per_task": (wall * workers - task_s) / n_tasks,
                "overhead_frac": 1 - task_s / (wall * workers),
                "scheduler_bytes": payload[0] + results[0], "store_bytes": vol_bytes,
                "complete": int(ds.attrs["complete"]),
                "m_factor_SE": ds["m_factor_SE"].values.tolist()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args) -> int:
    from vmt_dask.study import load_spec
    from vmt_dask.study.design import interpolation_points

    over = {}
    if args.t:
        over["t"] = [float(x) for x in args.t.split(",")]
    if args.shape:
        over["shape"] = args.shape
    spec = load_spec(args.preset, **over)
    figures: dict = {"preset": args.preset, "overrides": over, "shape": list(spec.shape),
                     "points": spec.n_points, "structures": spec.n_structures, "cpus": os.cpu_count()}
    print(f"study bench: preset {args.preset!r} {over or ''}: {spec.n_points} points, {spec.n_structures} "
          f"structures at {'x'.join(map(str, spec.shape))}, on {os.cpu_count()} cores", flush=True)

    if not args.skip_study:
        runs = []
        for w in [int(x) for x in args.workers.split(",")]:
            r = _run_once(spec, w)
            runs.append(r)
            print(f"  {w} worker(s): {r['wall_s']:.1f} s wall, {r['tasks']} tasks, {r['task_s']:.1f} task-s",
                  flush=True)
        base = runs[0]
        rows = []
        for r in runs:
            eff = base["wall_s"] * base["workers"] / (r["wall_s"] * r["workers"])
            r["efficiency"] = eff
            rows.append({"workers": r["workers"], "wall s": f"{r['wall_s']:.1f}", "tasks": r["tasks"],
                         "task s": f"{r['task_s']:.1f}",
                         "overhead s/task": f"{r['overhead_s_per_task']:.3f}",
                         "overhead %": f"{100 * r['overhead_frac']:.1f}",
                         "via scheduler KiB": f"{r['scheduler_bytes'] / 1024:.0f}",
                         "store MiB": f"{r['store_bytes'] / 2**20:.1f}",
                         "efficiency %": f"{100 * eff:.0f}"})
        print(format_table(rows, list(rows[0])))
        srows = [{"stage": k, "tasks": v["tasks"], "task s": f"{v['seconds']:.1f}",
                  "s/task": f"{v['seconds'] / max(v['tasks'], 1):.3f}"}
                 for k, v in runs[-1]["stages"].items()]
        print("per stage (last run):")
        print(format_table(srows, ["stage", "tasks", "task s", "s/task"]))
        same = all(np.array_equal(np.asarray(r["m_factor_SE"]), np.asarray(base["m_factor_SE"]), equal_nan=True)
                   for r in runs)
        print(f"results identical across worker counts: {same}")
        figures["runs"] = [{k: v for k, v in r.items() if k != "m_factor_SE"} for r in runs]
        figures["identical"] = same

    # per-task costs -> paper estimate
    pts = interpolation_points(load_spec("paper"))
    thetas = [list(pts[i].theta) for i in (2, 7, 12)]  # the middle point of each pair
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.measure_401:
        sizes = sorted(set(sizes) | {401})
    env_before = os.environ.get("NUMBA_NUM_THREADS")
    os.environ["NUMBA_NUM_THREADS"] = "1"  # the spawned child inherits it: one core per task
    costs = {}
    try:
        for n in sizes:
            _, peak, c = measure_in_child(_task_costs, n, thetas, args.generator, timeout=3600)
            costs[n] = c
            print(f"  {n}^3: " + ", ".join(f"{k} {v:.3f} s" for k, v in c.items()) + f" (peak {peak:.0f} MiB)",
                  flush=True)
    finally:
        if env_before is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = env_before
    paper = load_spec("paper")
    n_eval = paper.n_points * paper.n_evaluations * paper.realizations
    if 401 in costs:
        at401 = costs[401]
        how = "measured at 401^3"
    else:
        a, b = sizes[-2], sizes[-1]
        at401 = {}
        for k in costs[b]:
            p = math.log(max(costs[b][k], 1e-6) / max(costs[a][k], 1e-6)) / math.log((b / a) ** 3)
            p = max(p, 1.0)  # every task touches every voxel at least once: at least linear
            at401[k] = costs[b][k] * (401 / b) ** (3 * p)
        how = f"extrapolated from {a}^3 and {b}^3 by a power law in the voxel count (exponent >= 1)"
    per_eval = at401["realize"] + at401["describe_SE"] + at401["describe_AM"]
    per_struct = per_eval + at401["conduct_SE"] + at401["conduct_AM"]
    core_h = (n_eval * per_eval + paper.n_structures * per_struct) / 3600
    print(f"paper preset ({n_eval} evaluation realizations + {paper.n_structures} structures at 401^3), "
          f"per-task costs {how}:")
    print("  " + ", ".join(f"{k} {v:.0f} s" for k, v in at401.items()))
    # per-task breakdown: how many of each task the paper preset runs and their share of the total
    counts = {"realize": n_eval + paper.n_structures, "describe_SE": n_eval + paper.n_structures,
              "describe_AM": n_eval + paper.n_structures, "conduct_SE": paper.n_structures,
              "conduct_AM": paper.n_structures}
    brows = [{"task": k, "count": c, "s/task (1 core)": f"{at401[k]:.1f}",
              "core-hours": f"{c * at401[k] / 3600:.2f}", "share %": f"{100 * c * at401[k] / 3600 / core_h:.0f}"}
             for k, c in counts.items()]
    print(format_table(brows, ["task", "count", "s/task (1 core)", "core-hours", "share %"]))
    print(f"  estimate: {core_h:.1f} core-hours ({core_h / 2:.1f} h on this 2-core machine, memory permitting; "
          f"goal <= 12 core-hours); load {os.getloadavg()[0]:.1f}")
    figures["breakdown"] = {k: {"count": c, "core_hours": c * at401[k] / 3600} for k, c in counts.items()}
    figures.update({"task_costs": costs, "at401": at401, "at401_how": how, "paper_core_hours": core_h})
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0
