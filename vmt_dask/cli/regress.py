"""``vmt regress STORE``: fit the M-factor predictors (paper Table 5)."""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "regress",
        help="fit the M-factor regression models M1-M4 (paper Table 5)",
        description=(
            "Fit the predictors M1..M4 of paper Eqs. (18)-(21) to a study's results for AM and SE "
            "(least squares, Eq. 22) on a seeded training split, score them by MAPE and R^2 on the "
            "test split, print the table and store it beside the results: the Zarr group "
            "'regression' of STORE plus <store>-regression.csv and .md next to it. Structures a "
            "fit cannot use (M-factor 0 or NaN, missing or non-positive descriptors) are listed."
        ),
    )
    p.add_argument("store", metavar="STORE", help="study store (path or URL) or Zarr store with a results Dataset")
    p.add_argument("--json", action="store_true", help="print the table and all notes as JSON")
    p.add_argument("--seed", type=int, default=None, help="seed of the train/test split (default 0)")
    p.add_argument("--n-train", type=int, default=None,
                   help="training-set size (default 331 of 495, two thirds otherwise)")
    p.add_argument("--csv", default=None, help="CSV output path (default <store>-regression.csv)")
    p.add_argument("--markdown", default=None, help="Markdown output path (default <store>-regression.md)")
    p.add_argument("--no-save", action="store_true", help="print only; write nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ._args import check_output_path, check_store_exists

    check_store_exists(args.store)  # before the fit's imports (xarray, zarr, scipy)
    if not args.no_save:  # before the results are read or anything fitted
        for option, path in (("--csv", args.csv), ("--markdown", args.markdown)):
            if path is not None:
                check_output_path(path, option)
    from ..regression import DEFAULT_SEED, fit_all
    from ..report.io import load_results, save_table

    seed = DEFAULT_SEED if args.seed is None else args.seed
    results = load_results(args.store)
    incomplete = _incomplete(results)
    table = fit_all(results, seed=seed, n_train=args.n_train)  # InputError for a bad --n-train
    written = {} if args.no_save else save_table(table, args.store, csv=args.csv, markdown=args.markdown)
    if args.json:
        out = table.to_json()
        out["written"] = written
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        if incomplete:
            print(f"warning: {incomplete}")
        print(table.format_text())
        for kind, path in written.items():
            print(f"{kind}: {path}")
    if incomplete and args.json:
        print(f"vmt regress: warning: {incomplete}", file=sys.stderr)
    if not table.fits:
        print("vmt regress: no model could be fitted (see the notes above)", file=sys.stderr)
        return 1
    return 0


def _incomplete(results) -> str:
    """A warning if the study store says its results are not complete yet."""
    if "complete" in results.attrs and not int(results.attrs["complete"]):
        return (f"the study is incomplete ({results.attrs.get('records_present', '?')} of "
                f"{results.attrs.get('records_expected', '?')} records); missing values are NaN and excluded")
    return ""
