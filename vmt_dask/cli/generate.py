"""``vmt generate``: one model realization into a Zarr store."""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

from ..errors import InputError
from ._args import parse_size, parse_theta


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate one realization into a store",
                       description="Generate one realization of the three-phase model into a Zarr store.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="calibrated parameters: BM01, BM03 or BM10")
    src.add_argument("--theta", help="seven comma-separated values: alpha_xt,alpha_yt,alpha_x,alpha_y,a,lambda_x,lambda_y")
    p.add_argument("--size", required=True, help="N or NX,NY,NZ voxels")
    p.add_argument("--seed", required=True, type=int, help="non-negative integer seed")
    p.add_argument("--out", required=True, help="store path or URL")
    p.add_argument("--name", help="volume key (default: <preset|custom>-<size>-s<seed>)")
    p.add_argument("--voxel-size", type=float, default=0.2, help="micrometres per voxel (default 0.2)")
    p.add_argument("--chi2-dof", type=int, default=2, help="chi-square degrees of freedom (default 2)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing volume of that name")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model import CALIBRATED, DEFAULT_TILE, realize_dask
    from ..model.realize import _check_inputs
    from ..store import check_key, check_writable, volume_exists, write_volume

    # validate everything before touching the store
    if args.preset is not None:
        if args.preset not in CALIBRATED:
            raise InputError(f"--preset {args.preset!r}: expected one of {', '.join(CALIBRATED)}")
        theta = CALIBRATED[args.preset]
    else:
        theta = parse_theta(args.theta)
    shape = parse_size(args.size)
    if args.seed < 0:
        raise InputError(f"--seed {args.seed}: must be a non-negative integer")
    if not (math.isfinite(args.voxel_size) and args.voxel_size > 0):
        raise InputError(f"--voxel-size {args.voxel_size}: must be a positive number")
    if args.chi2_dof < 1:
        raise InputError(f"--chi2-dof {args.chi2_dof}: must be a positive integer")
    _check_inputs(theta, shape, args.seed, args.voxel_size, args.chi2_dof, DEFAULT_TILE)
    size_txt = "x".join(map(str, shape)) if len(set(shape)) > 1 else str(shape[0])
    key = args.name or f"{args.preset or 'custom'}-{size_txt}-s{args.seed}"
    check_key(key)
    check_writable(args.out)
    if not args.overwrite and volume_exists(args.out, key):
        raise InputError(f"volume {key!r} already exists in {args.out!r} (use --overwrite)")

    t0 = time.perf_counter()
    print(f"generating {key}: shape {shape}, voxel {args.voxel_size} um, seed {args.seed}",
          file=sys.stderr)
    labels = realize_dask(theta, shape, seed=args.seed, voxel_size=args.voxel_size,
                          chi2_dof=args.chi2_dof, threads=None)
    attrs = write_volume(args.out, key, labels, theta=theta, seed=args.seed,
                         voxel_size=args.voxel_size, chi2_dof=args.chi2_dof,
                         overwrite=args.overwrite, progress=True)
    fr = attrs["phase_fractions"]
    print(f"wrote {os.fspath(args.out)}[{key}] in {time.perf_counter() - t0:.1f} s: "
          f"SE {fr['SE']:.4f}, AM {fr['AM']:.4f}, pore {fr['pore']:.4f}")
    return 0
