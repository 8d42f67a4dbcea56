"""Parameter study on Dask: wall time, stages, scheduler overhead, parallel efficiency, paper estimate.

    python -m vmt_dask.bench study --preset demo --workers 1,2 [--t 0.5] [--shape N]
                                   [--sizes 48,64,96] [--measure-401] [--scaling on|off|only]

Before the study runs it measures the 1 -> 2 process scaling (:mod:`._scaling`): the machine's
own (a compute-bound loop and triads on L2-, L3- and DRAM-sized working sets) and the study's
task families' on its grid, alone vs two at once, and prints the efficiency the tasks make
attainable beside the measured one.

For each worker count the study runs from scratch into a fresh store on an embedded
LocalCluster (worker processes, one thread each) and reports: wall time, tasks per
stage, task time per stage (from the records' own timings), scheduler overhead
(worker-seconds not spent inside tasks, per task), bytes sent through the scheduler
(task payloads and results, measured by pickling them; volumes never go there) and
parallel efficiency T(1) / (k T(k)).  The per-task breakdown splits each stage's task time
into the numba kernel, the volume read and the volume write (the records' ``timings``), the
rest of the task (record reads/writes, the identity guard) and what is spent outside the
task functions (dispatch, scheduler, idle workers, the kernel warm-up).

Then it runs the study's task functions themselves (realize / describe AM, SE / conduct
AM, SE on a temporary store) per size in a fresh single-threaded process: kernel-only and
as-a-task seconds and voxels per second side by side (``--sizes``; 401^3 with
``--measure-401``), and estimates the paper preset's core-hours at 401^3 from the as-a-task
costs, by a power-law fit in the voxel count over the measured sizes when 401^3 is not
measured; it says which.
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
from ._scaling import FAMILIES, attainable_efficiency, family_scaling, machine_scaling

STAGE_DIRS = {"realize": "realize", "describe": "describe", "gradient": "gradient",
              "structure": "structure", "describe-structure": "structure", "conduct": "conduct"}


def add_arguments(parser) -> None:
    parser.add_argument("--preset", default="demo", help="study preset (default demo)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--t", help="comma-separated t-values replacing the preset's (fewer points)")
    parser.add_argument("--shape", type=int, help="cube edge replacing the preset's grid")
    parser.add_argument("--sizes", default="64,128", help="grid edges for the per-task costs and the fit")
    parser.add_argument("--measure-401", action="store_true", help="measure the tasks at 401^3 directly")
    parser.add_argument("--skip-study", action="store_true", help="only the per-task costs and the estimate")
    parser.add_argument("--skip-costs", action="store_true", help="only the study runs (no per-task costs/estimate)")
    parser.add_argument("--thetas-401", type=int, default=3, choices=(1, 2, 3),
                        help="how many of the three pair midpoints to measure at sizes >= 256 (default 3)")
    parser.add_argument("--json", help="write all figures to this JSON file")
    parser.add_argument("--generator", default=None,
                        help="model generator for the per-task costs (default: the paper preset's)")
    parser.add_argument("--batch", default="on", choices=("on", "off", "both"),
                        help="batching of small tasks in the study runs (run_study batch=); 'both' runs each "
                             "worker count with and without it, interleaved (default on)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="study runs per worker count (and batch mode), interleaved; medians reported")
    parser.add_argument("--scaling", default="on", choices=("on", "off", "only"),
                        help="1 -> 2 process scaling of the machine (compute, L2, L3, DRAM triads) and of the "
                             "study's task families on the study's grid, alone vs two at once, and the efficiency "
                             "they make attainable (default on: with the study runs, not with --skip-study; 'only': "
                             "nothing else)")
    parser.add_argument("--scaling-seconds", type=float, default=2.0,
                        help="seconds per scaling window (default 2; each kind: 3 alternations of alone/together)")
    parser.add_argument("--scaling-families", default=",".join(FAMILIES),
                        help="task families measured for the scaling (default all, 'mix' = the demo's mix)")


def _med(values) -> float:
    values = [float(v) for v in values]
    return float(np.median(values)) if values else math.nan


KINDS = ("realize", "describe_SE", "describe_AM", "conduct_SE", "conduct_AM")
#: Edge of the untimed warm pass of the per-task costs from 128^3 up: the largest size threshold
#: of a kernel path left is 2^21 voxels = 128^3 (desc's window passes; the solver's 256^2-plane
#: ring that 264 was chosen for was removed in 1ddd5ab).
WARM_LARGE = 128


def _task_costs(n: int, thetas: list, generator: str = "lattice") -> dict:
    """Per kind (:data:`KINDS`) the mean seconds over ``thetas`` at n^3, one thread, of the study's
    own task functions on a temporary store: ``task`` (the whole call: kernel, volume read/write,
    record read/write, identity guard; wall seconds), ``cpu`` (its CPU seconds: on a shared
    machine the figure that load does not inflate) and the parts ``kernel``, ``read``, ``write``
    (the records' ``timings``, wall)."""
    from vmt_dask.study import load_spec
    from vmt_dask.study.coordinator import init_store
    from vmt_dask.study.tasks import conduct_task, describe_task, realize_task

    spec = load_spec("paper", shape=n, generator=generator)
    tmp = tempfile.mkdtemp(prefix="vmt-bench-tasks-")
    store = os.path.join(tmp, "tasks.zarr")
    out: dict = {k: defaultdict(float) for k in KINDS}
    try:
        init_store(spec, store, "create")
        ident = spec.identity()
        # untimed first pass: imports, numba cache loads (or compiles), zarr/blosc set-up.  The kernels
        # switch paths by size (desc's window passes from 2^21 voxels = 128^3; the last such switch),
        # so the pass runs on min(n, WARM_LARGE)^3 from 128^3 up (a study worker
        # has every path loaded after its first tasks); the realization runs at n itself, so that the
        # model's per-process buffers are those of n (a worker's second and later realizations reuse them)
        warm_edge = 16 if n < 128 else min(n, WARM_LARGE)
        warm = [warm_edge] * 3
        realize_task(store, "warm", thetas[0], 1, shape=[n] * 3 if n >= 128 else warm, voxel_size=spec.voxel_size,
                     chi2_dof=spec.chi2_dof, chunks=spec.chunks if n >= 128 else None, stage="structure",
                     identity=ident, generator=generator)
        if n >= 128 and warm_edge != n:
            realize_task(store, "warm-small", thetas[0], 1, shape=warm, voxel_size=spec.voxel_size,
                         chi2_dof=spec.chi2_dof, chunks=spec.chunks, stage="structure", identity=ident,
                         generator=generator)
        wkey = "warm" if n < 128 or warm_edge == n else "warm-small"
        for ph in ("SE", "AM"):
            describe_task(store, wkey, ph, voxel_size=spec.voxel_size, axis=spec.axis, stage="describe-structure",
                          identity=ident)
            conduct_task(store, wkey, ph, axis=spec.axis, identity=ident)
        for i, th in enumerate(thetas):
            key = f"v{i}"
            calls = [("realize", lambda: realize_task(
                store, key, th, 11, shape=[n, n, n], voxel_size=spec.voxel_size, chi2_dof=spec.chi2_dof,
                chunks=spec.chunks, stage="structure", identity=ident, generator=generator))]
            for ph in ("SE", "AM"):
                calls.append((f"describe_{ph}", lambda ph=ph: describe_task(
                    store, key, ph, voxel_size=spec.voxel_size, axis=spec.axis, stage="describe-structure",
                    identity=ident)))
                calls.append((f"conduct_{ph}", lambda ph=ph: conduct_task(
                    store, key, ph, axis=spec.axis, identity=ident)))
            for kind, call in calls:
                t0, c0 = time.perf_counter(), time.process_time()
                rec = call()
                out[kind]["task"] += time.perf_counter() - t0
                out[kind]["cpu"] += time.process_time() - c0
                for part, sec in rec.get("timings", {}).items():
                    out[kind][part] += sec
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {k: {part: v / len(thetas) for part, v in d.items()} for k, d in out.items()}


def _breakdown(store: str) -> dict:
    """Per stage: tasks, task seconds and their kernel / read / write parts from the records."""
    out: dict = defaultdict(lambda: defaultdict(float))
    for p in Path(store, "records").rglob("*.json"):
        rec = json.loads(p.read_text())
        st = STAGE_DIRS.get(p.parent.name)
        if st is None or "seconds" not in rec:
            continue
        stage = p.parent.name
        out[stage]["tasks"] += 1
        out[stage]["seconds"] += float(rec["seconds"])
        for part, sec in (rec.get("timings") or {}).items():
            out[stage][part] += float(sec)
    return {k: dict(v) for k, v in out.items()}


class _LoadSampler:
    """The 1-minute load average every ``every`` seconds in a thread (the machine's state
    next to each figure)."""

    def __init__(self, every: float = 2.0):
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._every = every
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self._every):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _run_once(spec, workers: int, batch: bool = True) -> dict:
    import resource

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
            load_before = os.getloadavg()[0]
            # CPU of the coordinator's process (this one: client, scheduler, nannies, the study's
            # driver, all threads) and of the worker processes, over the run only
            w0 = client.run(time.process_time)
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            with _LoadSampler() as load:
                run = run_study(spec, store, client=client, batch=batch)
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            w1 = client.run(time.process_time)
            main_cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
            worker_cpu = sum(w1[k] - w0.get(k, 0.0) for k in w1)
            warm = [w.get("seconds", {}) for w in run.warm]
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
        return {"workers": workers, "batch": batch, "wall_s": wall, "tasks": n_tasks, "task_s": task_s, "warm": warm,
                "dask_tasks": run.dask_tasks, "main_cpu_s": main_cpu, "worker_cpu_s": worker_cpu,
                "load_before": load_before, "load_during": load.samples,
                "breakdown": _breakdown(store), "load": os.getloadavg()[0],
                "stages": {k: {"tasks": v[0], "seconds": v[1]} for k, v in per_stage.items()},
                "overhead_s_per_task": (wall * workers - task_s) / n_tasks,
                "overhead_frac": 1 - task_s / (wall * workers),
                "scheduler_bytes": payload[0] + results[0], "store_bytes": vol_bytes,
                "complete": int(ds.attrs["complete"]),
                "m_factor_SE": ds["m_factor_SE"].values.tolist()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _family_counts(spec) -> dict[str, int]:
    """Tasks of each family in ``spec``'s study (evaluation realizations and database structures)."""
    n_eval = spec.n_points * spec.n_evaluations * spec.realizations
    return {"realize": n_eval + spec.n_structures, "describe_SE": n_eval + spec.n_structures,
            "describe_AM": n_eval + spec.n_structures, "conduct_SE": spec.n_structures,
            "conduct_AM": spec.n_structures}


def _scaling(args, spec, over) -> dict:
    """The machine's and the task families' 1 -> 2 process scaling, printed; returns the figures."""
    fams = [f.strip() for f in args.scaling_families.split(",") if f.strip()]
    bad = [f for f in fams if f not in FAMILIES]
    if bad:
        raise SystemExit(f"study bench: --scaling-families: {bad[0]!r} is not one of {', '.join(FAMILIES)}")
    sec = float(args.scaling_seconds)
    print(f"1 -> 2 process scaling, measured now ({sec:g} s windows, 3 alternations alone / two at once, medians; "
          f"load {os.getloadavg()[0]:.2f}):", flush=True)
    mach = machine_scaling(seconds=sec)
    unit = {"compute": ("G iterations/s", 1e9)}
    rows = []
    for kind, v in mach.items():
        name, div = unit.get(kind, ("GB/s", 1e9))
        ws = "" if v["kind_bytes"] is None else f"{v['kind_bytes'] / 2**20:g} MiB"
        rows.append({"reference": kind if kind == "compute" else f"triad {kind}", "working set": ws or "registers",
                     "unit": name, "1 process": f"{v['alone_rate'] / div:.2f}",
                     "each of 2": f"{v['together_rate'] / div:.2f}", "scaling %": f"{100 * v['scaling']:.0f}",
                     "CPU scaling %": f"{100 * v['cpu_scaling']:.0f}", "load": f"{v['load']:.2f}"})
    print(format_table(rows, list(rows[0])), flush=True)
    fam = family_scaling(args.preset, shape=over.get("shape"), seconds=max(sec, 2.0), families=fams)
    counts = _family_counts(spec)
    # the families' task-seconds on one worker: alone CPU seconds per task x the study's count
    secs = {k: counts[k] * fam[k]["alone_cpu_per_unit"] for k in counts if k in fam}
    total = sum(secs.values())
    rows = []
    for k, v in fam.items():
        rows.append({"family": k, "ms/task alone": f"{1e3 * v['alone_s_per_unit']:.1f}",
                     "ms/task of 2": f"{1e3 * v['together_s_per_unit']:.1f}",
                     "CPU ms alone": f"{1e3 * v['alone_cpu_per_unit']:.1f}",
                     "CPU ms of 2": f"{1e3 * v['together_cpu_per_unit']:.1f}",
                     "scaling %": f"{100 * v['scaling']:.0f}", "CPU scaling %": f"{100 * v['cpu_scaling']:.0f}",
                     "faults/task": f"{v['alone_faults_per_unit']:.0f}",
                     "share of task-s %": f"{100 * secs[k] / total:.0f}" if k in secs else "",
                     "load": f"{v['load']:.2f}"})
    shape = "x".join(map(str, spec.shape))
    print(f"the study's task families at {shape} (its task functions with their store writes; readers get the "
          f"volume in memory as in the study's batches; 'mix' = the demo's groups: realize + describe per "
          f"evaluation, + conduct per structure; units = tasks; share = alone CPU-s x the study's task counts; "
          f"faults = minor page faults per task alone; workers with Dask's nanny environment):")
    print(format_table(rows, list(rows[0])), flush=True)
    out = {"machine": mach, "families": fam, "family_seconds": secs}
    if secs and all(k in fam for k in secs):
        for key, label in (("scaling", "wall"), ("cpu_scaling", "CPU")):
            out[f"attainable_{label}"] = attainable_efficiency({k: fam[k][key] for k in secs}, secs)
        print(f"  attainable 1 -> 2 worker efficiency of the tasks (sum of task-s / sum of task-s / scaling): "
              f"{100 * out['attainable_wall']:.0f} % by wall, {100 * out['attainable_CPU']:.0f} % by CPU", end="")
        if "mix" in fam:
            print(f"; the mix itself scales {100 * fam['mix']['scaling']:.0f} % (CPU "
                  f"{100 * fam['mix']['cpu_scaling']:.0f} %)", end="")
        print(flush=True)
    for v in list(mach.values()) + list(fam.values()):
        v.pop("windows", None)
    return out


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
    if args.scaling == "only" or (args.scaling == "on" and not args.skip_study):  # beside the efficiency
        figures["scaling"] = _scaling(args, spec, over)
        if args.scaling == "only":
            if args.json:
                Path(args.json).write_text(json.dumps(figures, indent=1))
            return 0

    if not args.skip_study:
        # fill numba's on-disk cache first, so that no run pays a compile the other does not (a
        # kernel edited since the last run recompiles once, here); the runs still warm up (cache loads)
        from vmt_dask.study.tasks import WARM_PARTS, warm_task

        theta = tuple(next(iter(spec.endpoints.values())))
        w, _, _ = measure_in_child(warm_task, tuple(WARM_PARTS), theta, shape=list(spec.shape),
                                   voxel_size=spec.voxel_size, axis=spec.axis, chi2_dof=spec.chi2_dof,
                                   generator=spec.generator, timed=(), timeout=1800)
        print(f"  numba cache filled in {w:.1f} s (not part of the runs)", flush=True)
        try:  # the study page's Bokeh layout: built once per process (~1-2.5 s CPU) when a scheduler
            # with the page starts; built here so that it falls in no run (the first would pay it alone)
            from vmt_dask.dashboard.server import _layout_json

            _layout_json()
        except Exception as exc:  # noqa: BLE001 - bokeh missing: the page has no plots, nothing to build
            print(f"  (study page layout not built: {exc})")
        modes = {"on": [True], "off": [False], "both": [True, False]}[args.batch]
        counts = [int(x) for x in args.workers.split(",")]
        runs = []
        for rep in range(max(1, args.repeat)):  # interleaved: a drift in the machine's load hits every mode
            for batch in modes:
                for w in counts:
                    r = _run_once(spec, w, batch)
                    r["repeat"] = rep
                    runs.append(r)
                    print(f"  {w} worker(s), batch {'on' if batch else 'off'}, run {rep + 1}: {r['wall_s']:.1f} s "
                          f"wall, {r['tasks']} records in {r['dask_tasks']} Dask tasks, {r['task_s']:.1f} task-s, "
                          f"coordinator {r['main_cpu_s']:.1f} CPU-s, workers {r['worker_cpu_s']:.1f} CPU-s, load "
                          f"{r['load_before']:.2f} before, {_med(r['load_during']):.2f} median / "
                          f"{max(r['load_during'] or [0]):.2f} max during", flush=True)
        warm_s = lambda r: max([sum(x.values()) for x in r["warm"]] or [0.0])  # noqa: E731
        rows = []
        medians = {}
        for batch in modes:
            for w in counts:
                rs = [r for r in runs if r["workers"] == w and r["batch"] == batch]
                m = {k: _med([r[k] for r in rs]) for k in ("wall_s", "task_s", "main_cpu_s", "worker_cpu_s",
                                                           "dask_tasks", "tasks", "overhead_s_per_task")}
                m["warm_s"] = _med([warm_s(r) for r in rs])
                m["load"] = _med([x for r in rs for x in r["load_during"]])
                medians[(w, batch)] = m
        for batch in modes:
            base = medians[(counts[0], batch)]
            for w in counts:
                m = medians[(w, batch)]
                eff = base["wall_s"] * counts[0] / (m["wall_s"] * w)
                m["efficiency"] = eff
                rows.append({"workers": w, "batch": "on" if batch else "off", "runs": len(
                    [r for r in runs if r["workers"] == w and r["batch"] == batch]),
                    "wall s": f"{m['wall_s']:.1f}", "records": int(m["tasks"]), "Dask tasks": int(m["dask_tasks"]),
                    "task s": f"{m['task_s']:.1f}",
                    "coord CPU s": f"{m['main_cpu_s']:.1f}",
                    "coord ms/record": f"{1e3 * m['main_cpu_s'] / m['tasks']:.1f}",
                    "coord ms/Dask task": f"{1e3 * m['main_cpu_s'] / max(m['dask_tasks'], 1):.1f}",
                    "worker CPU s": f"{m['worker_cpu_s']:.1f}",
                    "warm-up s": f"{m['warm_s']:.1f}",
                    # the schedule's own share: busy fraction of the workers outside the warm-up
                    "occupancy %": f"{100 * m['task_s'] / (w * max(m['wall_s'] - m['warm_s'], 1e-9)):.0f}",
                    "efficiency %": f"{100 * eff:.0f}", "load (median during)": f"{m['load']:.2f}"})
        print(f"medians over the repeats (efficiency = T({counts[0]}) x {counts[0]} / (T(k) x k) of the medians, "
              "per batch mode; coordinator = this process: client, scheduler, nannies, the study's driver):")
        print(format_table(rows, list(rows[0])))
        sc = figures.get("scaling", {})
        if "attainable_CPU" in sc:
            mach = ", ".join(f"{k} {100 * v['scaling']:.0f} %" for k, v in sc["machine"].items())
            print(f"  beside it, the tasks' own 1 -> 2 process scaling measured above: attainable "
                  f"{100 * sc['attainable_wall']:.0f} % (wall) / {100 * sc['attainable_CPU']:.0f} % (CPU); the "
                  f"machine scales {mach}")
        last = runs[-1]
        print(f"per-task breakdown (last run, {last['workers']} worker(s), batch {'on' if last['batch'] else 'off'}, "
              f"load {last['load']:.1f}; ms per record; 'rest' = record reads/writes and the identity guard inside "
              "the task):")
        brows = []
        for stage, v in sorted(last["breakdown"].items()):
            k = max(v.get("tasks", 0), 1)
            rest = v["seconds"] - v.get("kernel", 0) - v.get("read", 0) - v.get("write", 0)
            brows.append({"stage": stage, "records": int(v["tasks"]), "task ms": f"{1e3 * v['seconds'] / k:.1f}",
                          "kernel ms": f"{1e3 * v.get('kernel', 0) / k:.1f}",
                          "volume read ms": f"{1e3 * v.get('read', 0) / k:.1f}",
                          "volume write ms": f"{1e3 * v.get('write', 0) / k:.1f}",
                          "rest ms": f"{1e3 * rest / k:.1f}"})
        print(format_table(brows, list(brows[0])))
        outside = last["wall_s"] * last["workers"] - last["task_s"]
        print(f"  outside the task functions: {outside:.1f} worker-s = {1e3 * outside / last['tasks']:.1f} ms per "
              f"record (dispatch, scheduler, idle workers at the start/end and between stages, kernel warm-up "
              f"{warm_s(last):.1f} s)")
        base = runs[0]
        same = all(np.array_equal(np.asarray(r["m_factor_SE"]), np.asarray(base["m_factor_SE"]), equal_nan=True)
                   for r in runs)
        print(f"results identical across worker counts and batch modes: {same}")
        figures["runs"] = [{k: v for k, v in r.items() if k != "m_factor_SE"} for r in runs]
        figures["medians"] = [{"workers": w, "batch": b, **m} for (w, b), m in medians.items()]
        figures["identical"] = same

    if args.skip_costs:
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1))
        return 0
    # per-task costs -> paper estimate
    pts = interpolation_points(load_spec("paper"))
    if args.generator is None:
        args.generator = load_spec("paper").generator
    thetas = [list(pts[i].theta) for i in (2, 7, 12)]  # the middle point of each pair
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.measure_401:
        sizes = sorted(set(sizes) | {401})
    if len(sizes) < 2 and 401 not in sizes:
        raise SystemExit("study bench: --sizes needs two sizes for the fit (or --measure-401)")
    env_before = os.environ.get("NUMBA_NUM_THREADS")
    os.environ["NUMBA_NUM_THREADS"] = "1"  # the spawned child inherits it: one core per task
    costs = {}
    full = {}
    vrows = []
    print(f"per-task costs, one thread, the study's task functions on a temporary store (mean of {len(thetas)} "
          f"thetas, generator {args.generator}):", flush=True)
    try:
        for n in sizes:
            use = thetas if n < 256 else thetas[:args.thetas_401]
            _, peak, c = measure_in_child(_task_costs, n, use, args.generator, timeout=3600)
            full[n] = c
            costs[n] = {k: c[k]["cpu"] for k in KINDS}  # core-hours: CPU seconds (one thread)
            for k in KINDS:
                kern, task = c[k].get("kernel", math.nan), c[k]["task"]
                vrows.append({"N": n, "task": k, "kernel s": f"{kern:.3f}", "as task s": f"{task:.3f}",
                              "as task CPU s": f"{c[k]['cpu']:.3f}",
                              "read ms": f"{1e3 * c[k].get('read', 0):.1f}",
                              "write ms": f"{1e3 * c[k].get('write', 0):.1f}",
                              "task overhead %": f"{100 * (task - kern) / task:.1f}",
                              "Mvoxel/s kernel": f"{n ** 3 / kern / 1e6:.2f}",
                              "Mvoxel/s as task": f"{n ** 3 / task / 1e6:.2f}"})
            print(f"  {n}^3 measured over {len(use)} theta(s) (peak {peak:.0f} MiB, load {os.getloadavg()[0]:.1f})",
                  flush=True)
        print(format_table(vrows, list(vrows[0])))
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
          f"per-task CPU seconds as a task (kernel + store round trips, one thread) {how}:")
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
    figures.update({"task_costs": full, "at401": at401, "at401_how": how, "paper_core_hours": core_h,
                    "load": os.getloadavg()[0]})
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0
