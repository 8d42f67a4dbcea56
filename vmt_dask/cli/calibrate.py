"""``vmt calibrate INPUT --out STORE``: fit the model's theta to a segmented image.

    vmt calibrate INPUT [--labels pore=0,SE=1,AM=2] [--voxel-size UM] [--key KEY] [--crop ...]
                  --out STORE [--realizations 6] [--seed 0] [--refine-budget 0]
                  [--compare N] [--base-preset demo] [--scheduler ADDRESS] [--workers N]

The thresholds come in closed form from the volume fractions; the covariance parameters and
the anisotropy a from the two-point correlations of SE and AM along x, y and z and the specific
surface areas (vmt_dask.calibrate).  Model realizations (common seeds) give the sampling
spread, an optional simulation-based refinement and the side-by-side comparison of
descriptors and M-factors; they run as Dask futures with one record each in STORE, so a
rerun reuses them.  Writes STORE/calibration/{result.json, preset.yaml, two-point.png,
index.html}; preset.yaml is a study spec: ``vmt study run STORE/calibration/preset.yaml``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

from ..errors import InputError
from ._args import JobProgress, add_input_arguments, parse_int

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="fit theta to a segmented image (two-point statistics)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_arguments(p, phase=False)
    p.add_argument("--out", required=True, metavar="STORE", help="output store (directory or fsspec URL)")
    p.add_argument("--realizations", default="6",
                   help="model realizations for the spread (>= 2, default 6: the acceptance bound is a "
                        "Student-t quantile with R - 1 degrees of freedom)")
    p.add_argument("--seed", default="0", help="root seed of the realizations (default 0)")
    p.add_argument("--refine-budget", default="0",
                   help="simulation-based Nelder-Mead evaluations after the analytic fit (default 0)")
    p.add_argument("--compare", default=None, metavar="N",
                   help="realizations whose descriptors and M-factors are compared (default: --realizations; 0: none)")
    p.add_argument("--base-preset", default="demo", help="study preset the written preset.yaml extends")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler "
                   "(default: DASK_SCHEDULER_ADDRESS, else an embedded LocalCluster)")
    p.add_argument("--workers", default=None, help="worker processes of the embedded cluster")
    p.add_argument("--local", action="store_true", help="no Dask: run the realizations in this process")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _model_labels(loaded):
    """The user's labels mapped to the model's codes (0 pore, 1 SE, 2 AM) via the label map."""
    import numpy as np

    lmap = {k.lower(): v for k, v in loaded.label_map.items()}
    missing = [n for n in ("se", "am") if n not in lmap]
    if missing:
        raise InputError(f"--labels: the label map {loaded.label_map} names no {missing[0].upper()} phase; "
                         "give e.g. --labels pore=0,SE=1,AM=2")
    for name in ("SE", "AM"):
        if lmap[name.lower()] not in loaded.present:
            raise InputError(f"phase {name} (label {lmap[name.lower()]}) is absent from {loaded.source}: "
                             "calibration needs SE and AM")
    src = loaded.labels
    out = np.zeros(src.shape, dtype=np.uint8)
    out[src == lmap["se"]] = 1
    out[src == lmap["am"]] = 2
    return out


def _client(args):
    import os

    if args.local:
        return None, None
    from distributed import Client

    address = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return Client(address), None
    from ..study.coordinator import make_cluster

    workers = parse_int(args.workers, "--workers", lo=1) if args.workers is not None else None
    cluster = make_cluster(workers)
    return Client(cluster), cluster


def run(args) -> int:
    # every argument checked before any work
    R = parse_int(args.realizations, "--realizations", lo=2)
    seed = parse_int(args.seed, "--seed", lo=0)
    budget = parse_int(args.refine_budget, "--refine-budget", lo=0)
    n_compare = R if args.compare is None else parse_int(args.compare, "--compare", lo=0)
    if args.workers is not None:
        parse_int(args.workers, "--workers", lo=1)
    from ..study.presets import PRESETS

    if args.base_preset not in PRESETS:
        raise InputError(f"--base-preset {args.base_preset!r}: expected one of {', '.join(PRESETS)}")
    if not str(args.out).strip():
        raise InputError("--out '': expected a store path or URL")
    from ._args import load_input

    loaded = load_input(args, kernels=["describe", "conduct"], what="calibrate")
    labels = _model_labels(loaded)
    vs = loaded.voxel_size
    if max(vs) - min(vs) > 1e-9 * max(vs):
        raise InputError(f"--voxel-size {vs}: calibration needs cubic voxels")
    voxel = float(vs[0])
    from ..storage import resolve

    loc = resolve(args.out)
    if loc.local:
        from ..store import check_writable

        check_writable(args.out)

    from ..calibrate import fit_theta
    from ..calibrate.outputs import calibrated_spec, comparison_rows, write_outputs
    from ..calibrate.runner import Runner, phase_properties
    from ..storage import acquire_lease

    t0 = time.perf_counter()
    print(loaded.header(), file=sys.stderr)
    with acquire_lease(args.out, owner="vmt calibrate"):
        client, cluster = _client(args)
        progress = JobProgress("realizations")
        try:

            result = fit_theta(labels, voxel_size=voxel, realizations=R, seed=seed, refine_budget=budget,
                               client=client, store=args.out, progress=progress)
            rows = None
            sim_props = []
            if n_compare:
                from ..calibrate.fit import seeds_for

                runner = Runner(client=client, store=args.out, name="calibrate", progress=progress)
                jobs = [{"kind": "props", "theta": list(result.theta), "seed": s, "shape": list(labels.shape),
                         "voxel_size": voxel, "axis": 2} for s in seeds_for(seed, n_compare)]
                sim_props = runner.run(jobs)
                image_props = phase_properties(labels, voxel_size=voxel, axis=2)
                rows = comparison_rows(image_props, sim_props)
        finally:
            progress.close()
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        preset = calibrated_spec(result.theta, base=args.base_preset, voxel_size=voxel)
        wall = time.perf_counter() - t0
        out = write_outputs(args.out, result, rows=rows, preset=preset,
                            extra={"source": loaded.source, "command_wall_seconds": wall,
                                   "compare_realizations": len(sim_props)})
    if args.json:
        import json

        print(json.dumps(out, indent=1, default=lambda x: None))
    else:
        _print(result, rows, wall, loc.display())
    return 0


def _print(result, rows, wall, where) -> None:
    from ..calibrate.fit import min_conclusive_realizations
    from ..domain import PARAMETER_NAMES

    if not result.accepted:
        print(f"theta (REJECTED: max |z| {result.max_abs_z:.3g} > bound {result.bound:.3g})")
    elif result.conclusive:
        print(f"theta (accepted: max |z| {result.max_abs_z:.3g} <= bound {result.bound:.3g})")
    else:
        print(f"theta (inconclusive: max |z| {result.max_abs_z:.3g} <= bound {result.bound:.3g}, a bound "
              f"too wide to reject any fit with {len(result.seeds)} realizations; use --realizations "
              f"{min_conclusive_realizations(len(result.z), result.level)} or more)")
    for n, v in zip(PARAMETER_NAMES, result.theta):
        se = result.std_errors.get(n, math.nan)
        kind = "log-SE" if not n.startswith("lambda") else "SE"
        print(f"  {n:<9} {v:10.4g}   {kind} {se:.3g}")
    if rows:
        print(f"  {'phase':<5} {'descriptor':<22} {'image':>10} {'calibrated':>10}")
        for r in rows:
            m = "" if r["measured"] is None else f"{r['measured']:.4g}"
            c = "" if r["calibrated_mean"] is None else f"{r['calibrated_mean']:.4g}"
            print(f"  {r['phase']:<5} {r['descriptor']:<22} {m:>10} {c:>10}")
    print(f"wrote {where}/calibration/ (result.json, preset.yaml, two-point.png, index.html) "
          f"in {wall:.1f} s; {result.cost['evaluations_computed']} realizations computed, "
          f"{result.cost['evaluations_reused']} reused")
