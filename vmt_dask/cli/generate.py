"""``vmt generate``: one model realization into a Zarr store.

Memory, disk and time are estimated before anything is created: a volume that cannot fit is
refused with the figures (``--force`` tries anyway), and so is one whose estimated run time
exceeds ``--max-minutes`` (default 30; ``--allow-long`` runs it anyway).  The time estimate
counts the realization's work (noise, convolution taps, spectral modes) and prices it with the
CPU rates measured by ``python -m vmt_dask.bench generate`` (:mod:`vmt_dask.model.cost`).
The volume is computed tile by tile and streamed to the store chunk by chunk, so memory grows
with the tile and the number of chunks, not with the volume.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

from ..errors import InputError
from ._args import parse_int, parse_size, parse_theta, theta_values

#: Compressed bytes per voxel of a stored label volume, upper bound used for the disk check
#: (measured on BM01/BM03/BM10 realizations at 128^3: 0.093, 0.117, 0.087 bytes/voxel with
#: zstd + bitshuffle; 0.5 leaves room for finer, noisier structures and users' theta).
STORED_BYTES_PER_VOXEL = 0.5
#: Longest estimated run (minutes) started without ``--allow-long``.
MAX_MINUTES = 30.0


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate one realization into a store",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="calibrated parameters: BM01, BM03 or BM10")
    src.add_argument("--theta", help="seven comma-separated values: alpha_xt,alpha_yt,alpha_x,alpha_y,a,lambda_x,lambda_y")
    p.add_argument("--size", required=True, help="N or NX,NY,NZ voxels")
    p.add_argument("--seed", required=True, help="non-negative integer seed (< 2^63)")
    p.add_argument("--out", required=True, help="store path or URL")
    p.add_argument("--name", help="volume key (default: <preset|custom>-<size>-s<seed>)")
    p.add_argument("--voxel-size", default="0.2", help="micrometres per voxel (default 0.2)")
    p.add_argument("--chi2-dof", default="2", help="chi-square degrees of freedom (default 2)")
    # literal (importing the model here would load numba for every `vmt --help`); kept equal to
    # model.covariance.GENERATORS / DEFAULT_GENERATOR by tests/model/test_model_cli_generator.py
    p.add_argument("--generator", default="simd2", choices=["lattice", "point", "cell", "band", "fast", "simd", "simd2"],
                   help="discretisation of the Gaussian fields (default simd2, the law of lattice; "
                        "see vmt_dask.model.covariance)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing volume of that name")
    p.add_argument("--force", action="store_true",
                   help="generate even if the memory or disk estimate says it cannot fit")
    p.add_argument("--max-minutes", default=str(MAX_MINUTES),
                   help=f"refuse a run whose time estimate exceeds this (default {MAX_MINUTES:g})")
    p.add_argument("--allow-long", action="store_true",
                   help="generate even if the time estimate exceeds --max-minutes")
    p.set_defaults(func=run)


def _float(text: str, option: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"{option} {text!r}: must be a positive number") from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{option} {text}: must be a positive number")
    return value


def _free_disk(out: str) -> int | None:
    """Free bytes on the filesystem that would hold a local store; None for remote stores."""
    import shutil

    from ..storage.location import resolve

    loc = resolve(out)
    if not loc.local:
        return None
    p = os.path.abspath(loc.root)
    while p and not os.path.exists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def _duration(seconds: float) -> str:
    """A rounded duration for messages: "< 0.1 s" below a tenth of a second (an estimate of
    milliseconds is not "~0.0 s"), then s, min or h."""
    if seconds < 0.1:
        return "< 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _about(seconds: float) -> str:
    """"~12 s", or "< 0.1 s" (no "~" in front of a bound)."""
    d = _duration(seconds)
    return d if d.startswith("<") else f"~{d}"


def run(args: argparse.Namespace) -> int:
    from ..domain import PRESET_NAMES, preset_name

    # validate the arguments before the heavy imports (the model's numba, dask, zarr: seconds)
    # and before touching the store
    if args.preset is not None:
        try:
            preset = preset_name(args.preset)
        except ValueError:
            raise InputError(f"--preset {args.preset!r}: expected one of {', '.join(PRESET_NAMES)}") from None
    else:
        theta_values(args.theta)
        preset = None
    shape = parse_size(args.size)
    seed = parse_int(args.seed, "--seed", lo=0, hi=2**63 - 1)
    voxel_size = _float(args.voxel_size, "--voxel-size")
    chi2_dof = parse_int(args.chi2_dof, "--chi2-dof", lo=1, hi=64)
    max_minutes = _float(args.max_minutes, "--max-minutes")
    if not str(args.out).strip():
        raise InputError("--out '' is empty: give a directory path or URL for the store")

    from .. import resources
    from ..chunked import realize_dask
    from ..model import CALIBRATED, DEFAULT_TILE
    from ..model.cost import estimate_cpu_seconds
    from ..model.realize import _check_inputs
    from ..store import check_key, check_writable, volume_exists, write_volume

    theta = CALIBRATED[preset] if preset is not None else parse_theta(args.theta)
    try:
        _check_inputs(theta, shape, seed, voxel_size, chi2_dof, DEFAULT_TILE)
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from None
    size_txt = "x".join(map(str, shape)) if len(set(shape)) > 1 else str(shape[0])
    key = args.name or f"{preset or 'custom'}-{size_txt}-s{seed}"
    check_key(key)

    threads = os.cpu_count() or 1
    chunks = tuple(min(128, s) for s in shape)
    need = resources.generate_bytes(shape, tile=DEFAULT_TILE, chunks=chunks, threads=threads)
    what = f"vmt generate of {'x'.join(map(str, shape))} voxels"
    resources.check_fits(need, what, force=args.force, hint="use a smaller --size")
    cpu_s = estimate_cpu_seconds(theta, shape, voxel_size=voxel_size, chi2_dof=chi2_dof, tile=DEFAULT_TILE,
                                 generator=args.generator)
    eta = cpu_s / threads
    if eta > 60 * max_minutes and not args.allow_long:
        raise InputError(f"--size {args.size}: {what} would take about {_duration(eta)} on {threads} "
                         f"thread{'s' if threads > 1 else ''} ({_duration(cpu_s)} of CPU at the measured rate "
                         f"of the {args.generator!r} generator), more than --max-minutes {max_minutes:g}; "
                         "use a smaller --size, or --allow-long to run it anyway")
    check_writable(args.out)
    disk = _free_disk(args.out)
    stored = math.prod(shape) * STORED_BYTES_PER_VOXEL
    if disk is not None and stored > disk and not args.force:
        raise InputError(f"{what} may need up to {resources.format_bytes(stored)} on disk, but "
                         f"{resources.format_bytes(disk)} is free under {args.out!r}; free space, "
                         "or --force to try anyway")
    if not args.overwrite and volume_exists(args.out, key):
        raise InputError(f"volume {key!r} already exists in {args.out!r} (use --overwrite)")

    t0 = time.perf_counter()
    print(f"generating {key}: shape {shape}, voxel {voxel_size} um, seed {seed} "
          f"(memory estimate {resources.format_bytes(need)}, time estimate {_about(eta)} "
          f"on {threads} thread{'s' if threads > 1 else ''})", file=sys.stderr)
    labels = realize_dask(theta, shape, seed=seed, voxel_size=voxel_size,
                          chi2_dof=chi2_dof, threads=None, generator=args.generator)
    attrs = write_volume(args.out, key, labels, theta=theta, seed=seed,
                         voxel_size=voxel_size, chi2_dof=chi2_dof,
                         overwrite=args.overwrite, progress=True, chunks=chunks,
                         extra_attrs={"generator": args.generator})
    fr = attrs["phase_fractions"]
    print(f"wrote {os.fspath(args.out)}[{key}] in {time.perf_counter() - t0:.1f} s: "
          f"SE {fr['SE']:.4f}, AM {fr['AM']:.4f}, pore {fr['pore']:.4f}")
    return 0
