"""``vmt report STORE --out DIR``: figures and a self-contained HTML report."""
from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write the study report (figures, regression table, HTML)",
        description=(
            "Write PNG figures and one self-contained HTML page for a study: distributions of the "
            "descriptors and M-factors (paper Fig. 5), predicted vs simulated M-factors for M1..M4 "
            "and both phases (Figs. 6-7), descriptors along the gradient steps, mid-plane slices of "
            "BM01/BM03/BM10 (Fig. 1) and the regression table (Table 5)."
        ),
    )
    p.add_argument("store", metavar="STORE", help="study store (path or URL) or Zarr store with a results Dataset")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument("--seed", type=int, default=None, help="seed of the train/test split (default 0)")
    p.add_argument("--slice-size", type=int, default=128,
                   help="largest edge of the calibrated realizations shown as slices (default 128)")
    p.add_argument("--no-slices", action="store_true", help="leave out the slices of the calibrated structures")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ._args import check_store_exists

    if args.slice_size is not None and args.slice_size < 8:
        raise InputError(f"--slice-size must be >= 8, got {args.slice_size}")
    check_store_exists(args.store)  # before the report's imports (xarray, zarr, matplotlib)
    from ..report.io import load_results
    from ..report.report import write_report

    results = load_results(args.store)
    rep = write_report(results, args.out, seed=args.seed, slice_size=None if args.no_slices else args.slice_size,
                       source=str(args.store))
    if rep.table is not None:
        print(rep.table.format_text())
    for note in rep.notes:
        if note.startswith(("regression:", "Predicted", "Distributions", "Descriptors", "Calibrated")):
            print(f"note: {note}")
    for name, path in rep.figures.items():
        print(f"figure {name}: {path}")
    print(f"report: {rep.html}")
    return 0
