"""Serial numba kernels run over chunks of their outer loop by Python threads.

The descriptor kernels are compiled serially (``nogil=True``, no ``parallel=True``): a
parallel (parfor) kernel costs about three times the compile time of the same loop
compiled serially (2.2 s vs 0.75 s CPU for the local-thickness containment scan, fresh
cache), and the descriptors' cold compile sits on the demo's first run.  Each kernel takes
the half-open range ``[lo, hi)`` of its outer loop as its two last arguments; this module
hands those ranges to threads that take the next chunk as they finish one (dynamic
schedule: the work per x-plane is uneven for the local thickness), and runs small jobs on
the calling thread without starting any.
"""
from __future__ import annotations

import itertools
import threading

__all__ = ["n_threads", "run_chunks"]

#: Below this many elements of work a job runs on the calling thread (starting a thread
#: costs ~0.1 ms; a 32^3 volume takes well under a millisecond per pass).
SERIAL_BELOW = 1 << 16


def n_threads() -> int:
    """Threads for one kernel: numba's thread count of the calling thread.

    :func:`numba.set_num_threads` is per calling thread, so a caller that runs several
    kernels at once in threads (``describe_all(workers=2)``) gives each its share.
    """
    import numba

    return max(1, int(numba.get_num_threads()))


def run_chunks(kernel, args: tuple, n: int, *, work: int | None = None, chunks: int | None = None,
               threads: int | None = None) -> None:
    """Call ``kernel(*args, lo, hi)`` over chunks ``[lo, hi)`` covering ``range(n)``.

    Parameters
    ----------
    kernel : numba dispatcher (``nogil=True``) or callable
        Processes the outer-loop indices ``lo <= i < hi``; chunks must be independent
        (disjoint writes), so the result does not depend on the chunking.
    args : tuple
        Leading arguments.
    n : int
        Length of the outer loop.
    work : int, optional
        Total elements of work (default ``n``); below :data:`SERIAL_BELOW` one call on
        the calling thread.
    chunks : int, optional
        Number of chunks (default ``4 * threads``, at most ``n``).
    threads : int, optional
        Threads (default :func:`n_threads`).
    """
    n = int(n)
    if n <= 0:
        return
    t = n_threads() if threads is None else max(1, int(threads))
    if t == 1 or n == 1 or (n if work is None else int(work)) < SERIAL_BELOW:
        kernel(*args, 0, n)
        return
    c = min(n, 4 * t if chunks is None else max(1, int(chunks)))
    bounds = [s * n // c for s in range(c + 1)]
    counter = itertools.count()  # next() is atomic under the GIL
    errors: list[BaseException] = []

    def worker():
        try:
            while True:
                s = next(counter)
                if s >= c or errors:
                    return
                kernel(*args, bounds[s], bounds[s + 1])
        except BaseException as exc:  # re-raised on the calling thread
            errors.append(exc)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(min(t, c) - 1)]
    for th in pool:
        th.start()
    worker()  # the calling thread takes chunks as well
    for th in pool:
        th.join()
    if errors:
        raise errors[0]
