"""``vmt info``: the volumes of a store with their attributes and phase fractions."""
from __future__ import annotations

import argparse
import json

from ..errors import InputError


def register(sub) -> None:
    p = sub.add_parser("info", help="list the volumes of a store",
                       description="List the volumes of a store with attributes and phase fractions.")
    p.add_argument("store", help="store path or URL")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..store import is_local, list_volumes, local_path

    if is_local(args.store) and not local_path(args.store).exists():
        raise InputError(f"no such store: {args.store}")
    volumes = list_volumes(args.store)
    if args.json:
        print(json.dumps(volumes, indent=2, sort_keys=True))
        return 0
    if not volumes:
        print(f"{args.store}: no volumes")
        return 0
    print(f"{args.store}: {len(volumes)} volume(s)")
    for key, a in volumes.items():
        fr = a.get("phase_fractions", {})
        theta = ", ".join(f"{v:g}" for v in a.get("theta", []))
        print(f"  {key}: shape {'x'.join(map(str, a['shape']))}, voxel {a['voxel_size']} um, "
              f"seed {a['seed']}, chi2_dof {a.get('chi2_dof')}, {a.get('software', '')}")
        print(f"      theta ({theta})")
        print(f"      SE {fr.get('SE', float('nan')):.4f}  AM {fr.get('AM', float('nan')):.4f}  "
              f"pore {fr.get('pore', float('nan')):.4f}")
    return 0
