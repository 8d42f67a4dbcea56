"""``vmt info INPUT``: what a store or a volume file holds.

For a vmt store: its volumes with their provenance attributes (theta, seed, voxel size,
the generator that made a model realization, phase fractions) where recorded, and the state of volumes that are not intact.  For any other
input vmt reads (TIFF, slices, .npy, .npz, raw, HDF5, Zarr): format, shape, dtype, voxel size
and where it came from, without reading the voxels.
"""
from __future__ import annotations

import argparse
import json
import math

from ..errors import InputError


def register(sub) -> None:
    p = sub.add_parser("info", help="list the volumes of a store, or describe an input file",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", metavar="INPUT", help="store path or URL, or any volume file")
    p.add_argument("--key", default=None, help="array inside a container (see vmt describe)")
    p.add_argument("--axes", default=None, metavar="ORDER",
                   help="stored axis order of an array input, e.g. zyx (see vmt describe)")
    p.add_argument("--raw-shape", default=None, metavar="NX,NY,NZ", help="shape of a raw binary volume")
    p.add_argument("--raw-dtype", default="uint8", help="voxel type of a raw file (default uint8)")
    p.add_argument("--byte-order", default="little", choices=("little", "big"),
                   help="byte order of a raw file (default little)")
    p.add_argument("--raw-offset", default="0", help="header bytes to skip in a raw file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _num(value, fmt: str = "{:.4f}") -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "?"
    return fmt.format(v) if math.isfinite(v) else "?"


def _is_vmt_store(path: str) -> bool:
    from ..storage.location import resolve
    from ..storage.volumes import VOLUMES

    loc = resolve(path)
    try:
        return loc.fs.isdir(loc.path(VOLUMES))
    except OSError:
        return False


def _store_summary(store: str) -> dict:
    from ..storage.volumes import complete_volumes

    checks = complete_volumes(store)
    out = {}
    for key, c in checks.items():
        if c.ok:
            out[key] = dict(c.attrs or {})
        else:
            out[key] = {"state": c.state, "problems": list(c.problems)}
    return out


def _print_volume(key: str, a: dict) -> None:
    if "state" in a and "shape" not in a:
        why = "; ".join(a.get("problems", [])[:2])
        print(f"  {key}: {a['state']}" + (f" ({why})" if why else ""))
        return
    shape = a.get("shape")
    shape_txt = "x".join(map(str, shape)) if isinstance(shape, (list, tuple)) else "?"
    parts = [f"shape {shape_txt}"]
    vs = a.get("voxel_size")
    parts.append(f"voxel {vs} um" if vs is not None else "voxel size not recorded")
    if "seed" in a:
        parts.append(f"seed {a['seed']}")
    if "chi2_dof" in a:
        parts.append(f"chi2_dof {a['chi2_dof']}")
    if a.get("generator"):
        parts.append(f"generator {a['generator']}")
    elif "seed" in a:  # a model realization written before volumes recorded their generator
        parts.append("generator not recorded")
    if a.get("software"):
        parts.append(str(a["software"]))
    print(f"  {key}: " + ", ".join(parts))
    theta = a.get("theta")
    if isinstance(theta, (list, tuple)) and theta:
        print("      theta (" + ", ".join(_num(v, "{:g}") for v in theta) + ")")
    else:
        print("      no provenance attributes (theta, seed) recorded")
    fr = a.get("phase_fractions")
    if isinstance(fr, dict) and fr:
        print("      " + "  ".join(f"{k} {_num(v)}" for k, v in fr.items()))


def _hdf5_path_exists(s: str) -> bool:
    """``file.h5:/dataset``: the file part exists (open_input checks the dataset)."""
    from pathlib import Path

    head, sep, _ = s.partition(":/")
    return bool(sep) and Path(head).is_file()


def run(args: argparse.Namespace) -> int:
    from ..io import open_input

    s = str(args.store)
    if not s.strip():
        raise InputError("INPUT '' is empty: give a store path, URL or volume file")
    from ..storage.location import resolve

    loc = resolve(s)
    if loc.local:
        from pathlib import Path

        p = Path(loc.root)
        if not p.exists() and not _hdf5_path_exists(s):
            raise InputError(f"no such store or file: {s}")
    if _is_vmt_store(s) and args.key is None:
        volumes = _store_summary(s)
        if args.json:
            print(json.dumps(volumes, indent=2, sort_keys=True, default=str))
            return 0
        if not volumes:
            print(f"{s}: no volumes")
            return 0
        print(f"{s}: {len(volumes)} volume(s)")
        for key, a in volumes.items():
            _print_volume(key, a)
        return 0
    from ._args import parse_int, parse_size

    raw_shape = parse_size(args.raw_shape, "--raw-shape") if args.raw_shape is not None else None
    vol = open_input(s, key=args.key, raw_shape=raw_shape, raw_dtype=args.raw_dtype,
                     byte_order=args.byte_order, raw_offset=parse_int(args.raw_offset, "--raw-offset", lo=0),
                     axes=args.axes)
    info = {
        "source": vol.source,
        "format": vol.format,
        "shape": list(vol.shape),
        "dtype": str(vol.dtype),
        "voxel_size_xyz_um": None if vol.voxel_size is None else list(vol.voxel_size),
        "voxel_size_origin": vol.voxel_size_origin,
        "labels": vol.labels,
        "generator": (vol.attrs or {}).get("generator"),
    }
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    vs = ("not recorded (give --voxel-size to the commands)" if vol.voxel_size is None else
          " x ".join(f"{v:g}" for v in vol.voxel_size) + f" um ({vol.voxel_size_origin})")
    print(f"{vol.source}: {vol.format}, shape (x, y, z) {tuple(vol.shape)}, dtype {vol.dtype}")
    print(f"  voxel size: {vs}")
    if vol.labels:
        print("  labels: " + ", ".join(f"{k}={v}" for k, v in vol.labels.items()))
    a = vol.attrs or {}
    if a.get("generator"):
        print(f"  generator: {a['generator']}" + (f", seed {a['seed']}" if "seed" in a else ""))
    elif "seed" in a:  # a model realization written before volumes recorded their generator
        print(f"  generator: not recorded, seed {a['seed']}")
    return 0
