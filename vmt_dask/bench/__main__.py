from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __path__ as _path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmt_dask.bench")
    sub = parser.add_subparsers(dest="name", metavar="NAME")
    sub.required = True
    modules = {}
    for info in sorted(pkgutil.iter_modules(_path), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"vmt_dask.bench.{info.name}")
        p = sub.add_parser(info.name, help=(mod.__doc__ or "").strip().splitlines()[0])
        mod.add_arguments(p)
        modules[info.name] = mod
    args = parser.parse_args(argv)
    return int(modules[args.name].run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
