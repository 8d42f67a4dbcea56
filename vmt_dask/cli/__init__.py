"""The ``vmt`` command line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed arguments and returning an exit status.  Modules are found by
name, so adding a subcommand means adding a module.

Errors reach the user as one line on stderr, never as a traceback:

* bad input (:class:`~vmt_dask.errors.InputError`, raised before any work) -> exit 2;
* the operating system refusing (disk full, read-only or missing path, permission) -> exit 2,
  with the path and the reason;
* running out of memory -> exit 2, naming ``--crop`` / a smaller volume;
* an interrupt -> exit 130;
* the reader of the output going away (``vmt info STORE | head``) -> no message, exit 141
  (128 + SIGPIPE, as a shell reports a command its pipe reader left);
* argparse's own errors (an unknown option, a missing argument, an invalid choice) -> one line
  naming the value and the subcommand, with a pointer to its ``--help``, exit 2;
* anything else is a bug: one line naming it and ``-v`` -> exit 1 (``-v`` shows the traceback).
"""
from __future__ import annotations

import argparse
import errno
import importlib
import contextlib
import logging
import os
import pkgutil
import sys

from ..errors import InputError

__all__ = ["main", "build_parser"]

log = logging.getLogger(__name__)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose own errors (an unknown option, a missing argument, an invalid
    choice or number) are the one line every other bad input gets, naming the value, with a
    pointer to ``--help`` instead of the usage block; exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(str(message).split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = OneLineParser(
        prog="vmt", description="Virtual materials testing of ASSB cathodes on Dask."
    )
    parser.add_argument("--version", action="version", version=f"vmt-dask {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def _os_message(exc: OSError) -> str:
    """One line for an OSError: the reason in words and the path(s) involved."""
    reason = exc.strerror or os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    elif exc.errno == errno.EROFS:
        reason = "read-only file system"
    paths = [p for p in (exc.filename, exc.filename2) if p]
    where = " -> ".join(os.fspath(p) for p in paths)
    text = f"{where}: {reason}" if where else str(reason)
    return " ".join(text.split())


@contextlib.contextmanager
def _quiet_dask():
    """Dask's INFO chatter (cluster start-up, nanny shutdown) stays out of the commands' output,
    in this process and in worker processes it starts (they read the environment); -v keeps it.
    Both are restored afterwards, so a caller that runs ``main`` in-process keeps its settings."""
    key = "DASK_LOGGING__DISTRIBUTED"
    previous_env = os.environ.get(key)
    log = logging.getLogger("distributed")
    previous_level = log.level
    os.environ.setdefault(key, "error")  # read by worker processes at start
    log.setLevel(logging.ERROR)          # this process
    try:
        yield
    finally:
        log.setLevel(previous_level)
        if previous_env is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous_env


#: Options whose value may start with "-" (a negative number, which argparse would take for an
#: option): ``--voxel-size -1,0.2,0.2`` is passed on as ``--voxel-size=-1,0.2,0.2`` so that the
#: value reaches its validation and gets the usual one-line error.
_NUMERIC_OPTIONS = frozenset({"--voxel-size", "--theta", "--size", "--seed", "--crop", "--raw-offset",
                              "--raw-shape", "--target"})


def _attach_negative_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if token in _NUMERIC_OPTIONS and nxt is not None and len(nxt) > 1 and nxt[0] == "-" \
                and (nxt[1].isdigit() or nxt[1] == "."):
            out.append(f"{token}={nxt}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = _attach_negative_values(list(sys.argv[1:] if argv is None else argv))
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named by the subcommand that was given them, not by the top-level parser
        words = ["vmt", args.command] + [str(v) for k, v in sorted(vars(args).items())
                                         if k.endswith("_command") and isinstance(v, str)]
        if unknown[0] in argv and argv.index(args.command) > argv.index(unknown[0]):
            words = ["vmt"]  # given before the subcommand: the top level's
        prog = " ".join(words)
        print(f"{prog}: error: unrecognized arguments: {' '.join(unknown)} (see {prog} --help)",
              file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    prog = f"vmt {args.command}"
    try:
        with contextlib.nullcontext() if args.verbose else _quiet_dask():
            return int(args.func(args) or 0)
    except InputError as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing to say, nothing to flush
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141
    except MemoryError:
        print(f"{prog}: error: out of memory; use a smaller volume or --crop", file=sys.stderr)
        return 2
    except OverflowError as exc:
        print(f"{prog}: error: a number is too large ({' '.join(str(exc).split())})", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.verbose:
            log.exception("operating system error")
        print(f"{prog}: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line for the user, the traceback with -v
        if args.verbose:
            log.exception("internal error")
        text = " ".join(str(exc).split())[:300]
        print(f"{prog}: internal error: {type(exc).__name__}: {text} (run with -v for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
