"""Shared helpers for benchmarks: wall time and peak memory of a call.

Peak memory is measured in a fresh child process (``resource.getrusage`` of the
child's maximum resident set), so each figure is that of the measured work alone.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
import traceback
from typing import Any, Callable

__all__ = ["measure_in_child", "format_table", "positive_ints", "positive_int", "positive_float",
           "choices_list"]


def _child(conn, func, args, kwargs):
    try:
        t0 = time.perf_counter()
        value = func(*args, **kwargs)
        wall = time.perf_counter() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn.send(("ok", wall, peak_kib / 1024.0, value))
    except BaseException:  # report any failure to the parent
        conn.send(("error", 0.0, 0.0, traceback.format_exc()))
    finally:
        conn.close()


def measure_in_child(func: Callable[..., Any], *args, timeout: float | None = None, **kwargs):
    """Run ``func(*args, **kwargs)`` in a fresh process.

    Returns ``(wall_seconds, peak_rss_mib, value)``; ``value`` must be picklable.
    The wall time covers the call only (not process start-up or imports done
    before the call).  Raises ``RuntimeError`` with the child's traceback on failure
    and ``TimeoutError`` if ``timeout`` seconds pass.
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, func, args, kwargs))
    proc.start()
    child.close()
    if not parent.poll(timeout):
        proc.kill()
        proc.join()
        raise TimeoutError(f"{getattr(func, '__name__', func)} exceeded {timeout} s")
    status, wall, peak, value = parent.recv()
    proc.join()
    if status != "ok":
        raise RuntimeError(value)
    return wall, peak, value


def format_table(rows: list[dict], columns: list[str]) -> str:
    """Plain-text table with a header line, columns padded to their widest cell."""
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c)
              for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))
    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def positive_ints(text: str) -> list[int]:
    """argparse ``type=``: ``"64,128"`` -> ``[64, 128]``; anything else is a one-line usage error
    (exit 2) naming the bad value."""
    out = []
    for part in text.split(","):
        try:
            v = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not an integer") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"{v} is not positive")
        out.append(v)
    return out


def choices_list(*choices: str) -> Callable[[str], list[str]]:
    """argparse ``type=`` factory: a comma-separated subset of ``choices``, in the given order."""
    def parse(text: str) -> list[str]:
        out = [c.strip() for c in text.split(",") if c.strip()]
        bad = [c for c in out if c not in choices]
        if bad or not out:
            raise argparse.ArgumentTypeError(
                f"{(bad or [text])[0]!r} is not one of {', '.join(choices)}")
        return out
    return parse


def positive_int(text: str) -> int:
    """argparse ``type=``: one integer >= 1, else a one-line usage error naming the value."""
    if "," in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not one integer")
    return positive_ints(text)[0]


def positive_float(text: str) -> float:
    """argparse ``type=``: one finite number > 0, else a one-line usage error naming the value."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"{text} is not a positive finite number")
    return v
