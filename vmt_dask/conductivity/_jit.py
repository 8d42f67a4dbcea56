"""Numba compilation of the solver's kernels: one parallel and one serial variant each.

A ``parallel=True`` kernel costs 2-4x the compile time of the same loop compiled
serially (parfor analysis, one gufunc per ``prange`` loop, each optimised by LLVM on
its own): measured on a cold cache, the first M-factor of a 48^3 structure with
one numba thread compiled in 67.9 s CPU with parallel kernels and 27.6 s with the
same kernels serial (2-core machine, load 3-9).  A study worker runs one numba thread
(``NUMBA_NUM_THREADS=1``), and small volumes and coarse levels run single-threaded
anyway (:func:`serial_if_small`), so :class:`Kernel` compiles the serial variant for
those and the parallel one only where a call may use several threads.  Exceptions:
the fine-level Gauss-Seidel half sweep and matvec of ``_stencil`` ran 25-45 % slower
compiled serially, so they are compiled with ``parallel=True`` only; since the fused
fine kernels (``_fused``, both variants) they are off the solver's default path, so a
one-thread process compiles serial kernels only.  ``prange``
is a plain ``range`` in the serial variant, so both compute the same thing in the
same order per loop iteration; only reductions that sum per-slab partials in
parallel could differ, and the kernels here sum them in a fixed order.
"""
from __future__ import annotations

import functools
import threading
import types
from contextlib import contextmanager

import numba

__all__ = ["Kernel", "kernel", "JIT", "JIT_EXACT", "serial_if_small", "SERIAL_CELLS"]

# error_model="numpy": no ZeroDivisionError checks (they are branches that stop
# vectorization); fastmath without nnan/ninf: reassociation lets the float64
# reductions vectorize, and inactive lanes may hold inf/nan before the select.
_FM = {"reassoc", "contract", "arcp", "nsz"}
JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=_FM)
# Helpers that other kernels call (not inlined) and whose float results must not depend on
# how the process got the code: without "reassoc" (see _fused for why).
JIT_EXACT = dict(JIT, fastmath=_FM - {"reassoc"})

# Grids below this many cells run their kernels on one thread: a parallel
# kernel launch costs a thread wake-up and barrier (tens of microseconds, far
# more on a loaded machine), which exceeds the work of a small level.
SERIAL_CELLS = 1 << 17

# The process was started with one numba thread (a study worker): serial variants only.
_ONE_THREAD = numba.config.NUMBA_NUM_THREADS == 1
_LOCAL = threading.local()     # numba's thread count is per calling thread, so is this flag


def _serial() -> bool:
    return _ONE_THREAD or getattr(_LOCAL, "serial", False)


@contextmanager
def serial_if_small(n_cells: int):
    """Run the kernels single-threaded (their serial variants) inside the block if
    ``n_cells`` is small; nested blocks cost one attribute look-up."""
    if n_cells >= SERIAL_CELLS or _serial():
        yield
        return
    old = numba.get_num_threads()
    if old != 1:
        numba.set_num_threads(1)
    _LOCAL.serial = True
    try:
        yield
    finally:
        _LOCAL.serial = False
        if old != 1:
            numba.set_num_threads(old)


def _renamed(func, suffix: str):
    """A copy of ``func`` under another qualified name (numba's on-disk cache keys its
    files by qualified name and its index by signature, not by compile options, so the
    two variants of one function must not share a name)."""
    out = types.FunctionType(func.__code__, func.__globals__, func.__name__ + suffix,
                             func.__defaults__, func.__closure__)
    out.__qualname__ = func.__qualname__ + suffix
    out.__module__ = func.__module__
    out.__doc__ = func.__doc__
    out.__kwdefaults__ = func.__kwdefaults__
    return out


class Kernel:
    """A numba kernel with a parallel and a serial variant, each compiled on first use.

    Calling it runs the serial variant when the calling thread runs numba on one
    thread (``NUMBA_NUM_THREADS=1`` at start, or inside :func:`serial_if_small`) and
    the parallel one otherwise.  ``.parallel`` and ``.serial`` are the two numba
    dispatchers.
    """

    def __init__(self, func):
        functools.update_wrapper(self, func)
        self.parallel = numba.njit(parallel=True, **JIT)(func)
        self.serial = numba.njit(**JIT)(_renamed(func, "_serial"))

    def __call__(self, *args):
        if _serial():
            return self.serial(*args)
        return self.parallel(*args)


def kernel(func) -> Kernel:
    """Decorator: :class:`Kernel` of ``func`` (a function written with ``numba.prange``)."""
    return Kernel(func)
