"""``vmt rev INPUT``: is the sample large enough?  Descriptors and M on growing centred cubes.

    vmt rev INPUT --phase NAME|VALUE|all [--sizes 16,32,64] [--steps 5] [--axis z]
            [--no-conduct] [--plot FILE.png] [--json] (+ the input options of vmt describe)

For each edge length L the centred cube of L^3 voxels (clipped to the volume along a thinner
axis) is cut out of the volume and described: volume fraction, specific surface area, mean
geodesic tortuosity, constrictivity and the M-factor along the transport axis.  A volume is
a representative volume element (RVE) for a descriptor when the values stop drifting as L
grows; the table shows the relative change from the previous size, and ``--plot`` draws each
descriptor against L (in micrometres).
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from ..errors import InputError
from ._args import (add_input_arguments, json_value, load_input, parse_axis, parse_int,
                    print_table, resolve_phases)

__all__ = ["register", "run", "cube_sizes", "centred_cube"]

#: Quantities tabulated per size (descriptors of vmt_dask.descriptors.describe, then M).
#: A cube narrower than this many r_max (the CPSD radius of the phase) holds too few bulges
#: for constrictivity: intrusion from the inlet plane reaches most of them directly, so the
#: estimate tends to 1.  Ten times r_max is about five bulge diameters across the window.
SMALL_WINDOW = 10

QUANTITIES = ("volume_fraction", "specific_surface_area", "tortuosity_mean", "constrictivity",
              "m_factor")


def register(sub) -> None:
    p = sub.add_parser("rev", help="descriptors and M-factor on growing centred cubes (RVE check)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_arguments(p)
    p.add_argument("--sizes", default=None,
                   help="cube edge lengths in voxels, comma-separated (default: --steps sizes "
                        "doubling up to the volume's smallest edge)")
    p.add_argument("--steps", default="5", help="number of sizes when --sizes is not given (default 5)")
    p.add_argument("--axis", default="z", help="transport direction x, y or z (default z)")
    p.add_argument("--no-conduct", action="store_true", help="skip the M-factor (faster)")
    p.add_argument("--rtol", default="1e-5", help="relative residual of the M-factor solve")
    p.add_argument("--plot", default=None, metavar="FILE", help="write a PNG plot of the values vs size")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def cube_sizes(shape, *, sizes: str | None = None, steps: int = 5) -> list[int]:
    """Edge lengths of the cubes: given, or ``steps`` sizes growing geometrically to min(shape)."""
    nmax = min(shape)
    if sizes is not None:
        out = []
        for part in str(sizes).split(","):
            part = part.strip()
            if not part:
                continue
            v = parse_int(part, "--sizes", lo=2)
            if v > max(shape):
                raise InputError(f"--sizes {sizes!r}: {v} is larger than the volume {tuple(shape)}")
            out.append(v)
        if not out:
            raise InputError(f"--sizes {sizes!r}: expected comma-separated edge lengths in voxels")
        return sorted(set(out))
    if nmax < 4:
        raise InputError(f"volume {tuple(shape)} is too small for an RVE study (need 4+ voxels per edge)")
    lo = max(4, nmax // 2 ** (steps - 1))
    out = sorted({int(round(lo * (nmax / lo) ** (i / max(1, steps - 1)))) for i in range(steps)})
    return [s for s in out if 2 <= s <= nmax]


def centred_cube(shape, edge: int) -> tuple[slice, slice, slice]:
    """Slices of the cube of edge ``edge`` centred in ``shape`` (clipped to thinner axes)."""
    out = []
    for n in shape:
        e = min(edge, n)
        a = (n - e) // 2
        out.append(slice(a, a + e))
    return tuple(out)


def _rel(a, b) -> str:
    if a is None or b is None or not all(map(math.isfinite, (a, b))) or b == 0:
        return ""
    return f"{100 * (a - b) / abs(b):+.1f}%"


def _plot(path: str, table: dict, voxel_size: float, phases) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qs = [q for q in QUANTITIES if any(q in row for rows in table.values() for row in rows)]
    fig, axes = plt.subplots(1, len(qs), figsize=(3.2 * len(qs), 3.0), squeeze=False)
    for ax, q in zip(axes[0], qs):
        for name in phases:
            rows = table[name]
            xs = [r["edge_um"] for r in rows if r.get(q) is not None]
            ys = [r[q] for r in rows if r.get(q) is not None]
            ax.plot(xs, ys, "o-", label=name)
        ax.set_xlabel("cube edge (um)")
        ax.set_title(q.replace("_", " "), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    from pathlib import Path

    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(out)


def run(args: argparse.Namespace) -> int:
    from .conduct import conduct_phases
    from .describe import describe_phases

    axis = parse_axis(args.axis)
    steps = parse_int(args.steps, "--steps", lo=2, hi=20)
    try:
        rtol = float(args.rtol)
    except ValueError:
        raise InputError(f"--rtol {args.rtol!r}: expected a number in (0, 1)") from None
    if not 0 < rtol < 1:
        raise InputError(f"--rtol {args.rtol!r}: expected a number in (0, 1)")
    if args.plot is not None:
        if not str(args.plot).strip():
            raise InputError("--plot '' is empty: give a .png file name")
        if not str(args.plot).lower().endswith(".png"):
            raise InputError(f"--plot {args.plot!r}: expected a .png file name")
    kernels = ["describe"] + ([] if args.no_conduct else ["conduct"])
    loaded = load_input(args, kernels=kernels, what="vmt rev")
    phases, absent = resolve_phases(args.phase, loaded, allow_absent=args.allow_absent,
                                    solids_only=True)
    labels = loaded.labels
    sizes = cube_sizes(labels.shape, sizes=args.sizes, steps=steps)
    notes: list[str] = []
    edge_unit = loaded.voxel_size[axis]
    table: dict[str, list[dict]] = {p.name: [] for p in phases}
    absent_names = {p.name for p in absent}
    kernel_phases = loaded.kernel_phases(phases)
    for edge in sizes:
        sub = labels[centred_cube(labels.shape, edge)]
        print(f"vmt rev: cube {edge} ({'x'.join(map(str, sub.shape))} voxels) ...", file=sys.stderr)
        for ph in kernel_phases:
            row: dict = {"edge": edge, "edge_um": edge * edge_unit, "shape": list(sub.shape)}
            if ph.name in absent_names or not (sub == ph.value).any():
                row.update({"volume_fraction": 0.0, "specific_surface_area": 0.0,
                            "tortuosity_mean": None, "constrictivity": None})
                if not args.no_conduct:
                    row["m_factor"] = 0.0
            else:
                d = describe_phases(sub, [ph], [], voxel_size=loaded.voxel_size, axes=[axis],
                                    notes=notes)[ph.name][axis]
                row.update({q: json_value(d[q]) for q in QUANTITIES if q in d})
                r_max = d.get("r_max")
                row["r_max"] = json_value(r_max)
                edge_um = min(n * v for n, v in zip(sub.shape, loaded.voxel_size))
                if r_max is not None and r_max == r_max and r_max > 0 and edge_um < SMALL_WINDOW * r_max:
                    # a window only a few bulges wide: the intrusion from the inlet reaches
                    # almost every bulge directly, so beta tends to 1 whatever the bottlenecks
                    row["constrictivity_small_window"] = True
                    if math.isfinite(r_max):
                        notes.append(f"phase {ph.name}, cube {edge}: constrictivity from a window "
                                     f"{edge_um:.3g} um wide, less than {SMALL_WINDOW} x r_max = "
                                     f"{SMALL_WINDOW * r_max:.3g} um: not representative (marked *)")
                    else:   # the phase fills the window: no ball radius bounds the CPSD
                        notes.append(f"phase {ph.name}, cube {edge}: the phase fills the {edge_um:.3g} "
                                     f"um window (r_max unbounded): constrictivity not representative "
                                     f"(marked *)")
                if not args.no_conduct:
                    c = conduct_phases(sub, [ph], [], voxel_size=loaded.voxel_size, axes=[axis],
                                       rtol=rtol)[ph.name][axis]
                    row["m_factor"] = json_value(c["m_factor"])
            table[ph.name].append(row)
    if args.plot:
        _plot(args.plot, table, edge_unit, [p.name for p in phases])
    if args.json:
        json.dump({"source": loaded.source, "shape": list(labels.shape),
                   "voxel_size_xyz_um": list(loaded.voxel_size), "axis": args.axis,
                   "sizes": sizes, "phases": table, "plot": args.plot, "notes": notes},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"{loaded.header()}, transport along {args.axis}")
    qs = [q for q in QUANTITIES if not (q == "m_factor" and args.no_conduct)]
    for ph in phases:
        rows = [["edge", "edge um", *qs]]
        prev = None
        for r in table[ph.name]:
            cells = [str(r["edge"]), f"{r['edge_um']:.4g}"]
            for q in qs:
                v = r.get(q)
                txt = "undefined" if v is None else f"{v:.4g}"
                if q == "constrictivity" and r.get("constrictivity_small_window"):
                    txt += "*"
                if prev is not None and v is not None:
                    d = _rel(v, prev.get(q))
                    txt += f" ({d})" if d else ""
                cells.append(txt)
            rows.append(cells)
            prev = r
        print(f"\nphase {ph.name} (label {ph.value}); change from the previous size in brackets")
        print_table(rows)
    if args.plot:
        print(f"\nplot: {args.plot}")
    for note in notes:
        print(f"vmt rev: note: {note}", file=sys.stderr)
    return 0
