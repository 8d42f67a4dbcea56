"""``vmt design --target ... --around STORE_OR_PRESET --out STORE``: inverse design, verified.

    vmt design --target "m_factor_SE>=0.2,m_factor_AM>=0.25" [--maximize m_factor_SE]
               --around STORE_OR_PRESET --out STORE [--region alpha_xt=0.02:0.1,...]
               [--candidates 6] [--realizations 3] [--pilot 16] [--size N] [--voxel-size UM]
               [--seed 0] [--scheduler ADDRESS] [--workers N] [--local]

A quadratic surrogate of each objective in theta, fitted on the study database of
--around (a study store), or on a pilot sample simulated in the region of a preset's
endpoints, proposes diverse candidates inside the region the study spans (alpha >= 0.05, or
--region).  Every candidate is simulated on Dask (realizations, descriptors, M-factors of SE
and AM); the report gives predicted versus simulated values and the verified Pareto front.
Writes STORE/design/{result.json, candidates.csv, pareto.png, slices.png, index.html}.
Objectives: <quantity>_<SE|AM> with quantity m_factor, volume_fraction,
specific_surface_area, tortuosity_mean or constrictivity.
"""
from __future__ import annotations

import argparse
import time

from ..errors import InputError
from ._args import JobProgress, parse_int

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser("design", help="inverse design: theta meeting targets, verified by simulation",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True, help='e.g. "m_factor_SE>=0.2,m_factor_AM>=0.25"')
    p.add_argument("--maximize", action="append", default=[], metavar="OBJECTIVE",
                   help="objective to maximise among the feasible (repeatable)")
    p.add_argument("--around", required=True, metavar="STORE_OR_PRESET",
                   help="study store (its database and region) or preset: paper, demo, smoke, BM01, ... or a spec file")
    p.add_argument("--out", required=True, metavar="STORE", help="output store")
    p.add_argument("--region", default=None, help="search box NAME=LO:HI,... (overrides the study's)")
    p.add_argument("--candidates", default="6", help="candidates to verify (default 6)")
    p.add_argument("--realizations", default="3", help="realizations per candidate (default 3)")
    p.add_argument("--pilot", default="16", help="pilot points simulated around a preset (default 16)")
    p.add_argument("--size", default=None, help="grid N or NX,NY,NZ of the simulations (default: the study's)")
    p.add_argument("--voxel-size", default=None, help="voxel edge in micrometres (default: the study's)")
    p.add_argument("--seed", default="0", help="root seed (default 0)")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    p.add_argument("--workers", default=None, help="worker processes of the embedded cluster")
    p.add_argument("--local", action="store_true", help="no Dask: simulate in this process")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..inverse import parse_objective, parse_region, parse_targets
    from ..inverse.study import design, dask_simulator, load_around, write_design_outputs

    # everything checked before any work
    targets = parse_targets(args.target)
    maximize = [parse_objective(m) for m in args.maximize]
    region = parse_region(args.region) if args.region else None
    n_cand = parse_int(args.candidates, "--candidates", lo=1)
    R = parse_int(args.realizations, "--realizations", lo=1)
    pilot = parse_int(args.pilot, "--pilot", lo=3)
    seed = parse_int(args.seed, "--seed", lo=0)
    if args.workers is not None:
        parse_int(args.workers, "--workers", lo=1)
    shape = None
    if args.size is not None:
        from ._args import parse_size

        shape = parse_size(args.size)
    voxel = None
    if args.voxel_size is not None:
        try:
            voxel = float(args.voxel_size)
        except ValueError:
            raise InputError(f"--voxel-size {args.voxel_size!r}: expected a positive number") from None
        if not voxel > 0:
            raise InputError(f"--voxel-size {args.voxel_size!r}: expected a positive number")
    if not str(args.out).strip():
        raise InputError("--out '': expected a store path or URL")
    around = load_around(args.around, shape=shape, voxel_size=voxel)
    from ..storage import acquire_lease, resolve

    loc = resolve(args.out)
    if loc.local:
        from ..store import check_writable

        check_writable(args.out)
    t0 = time.perf_counter()
    with acquire_lease(args.out, owner="vmt design"):
        client = cluster = None
        progress = JobProgress("simulations")
        try:
            if not args.local:
                import os

                from distributed import Client

                address = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
                if address:
                    client = Client(address)
                else:
                    from ..study.coordinator import make_cluster

                    cluster = make_cluster(parse_int(args.workers, "--workers", lo=1) if args.workers else None)
                    client = Client(cluster)

            sim = dask_simulator(client=client, store=args.out, shape=around["shape"],
                                 voxel_size=around["voxel_size"], axis=around["axis"], realizations=R,
                                 seed=seed, progress=progress)
            result = design(targets, maximize, around, simulate=sim, region_override=region,
                            n_candidates=n_cand, pilot=pilot, seed=seed)
        finally:
            progress.close()
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        result.cost.update(sim.runner.cost())
        result.cost["wall_seconds"] = time.perf_counter() - t0
        write_design_outputs(args.out, result, shape=around["shape"], voxel_size=around["voxel_size"], seed=seed,
                             extra={"around": around["name"], "shape": list(around["shape"]),
                                    "voxel_size": around["voxel_size"], "realizations": R})
    objs = result.objectives
    print(f"{'#':>2} " + " ".join(f"{o + ' pred':>22} {o + ' sim':>22}" for o in objs) + "  status")
    for k, r in enumerate(result.candidates):
        cells = " ".join(f"{r['predicted'][o]:22.4g} {r['simulated'][o]:22.4g}" for o in objs)
        status = ("verified, Pareto-optimal" if r["pareto"] else "verified") if r["verified"] else "not verified"
        print(f"{k:>2} {cells}  {status}")
    print(f"{len(result.verified)} of {len(result.candidates)} candidates verified; wrote "
          f"{loc.display()}/design/ in {result.cost['wall_seconds']:.1f} s "
          f"({result.cost['evaluations_computed']} simulations, {result.cost['evaluations_reused']} reused)")
    return 0 if result.verified else 1
