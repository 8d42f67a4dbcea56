"""Gaussian random fields on a box of the lattice: white noise convolved with a separable kernel.

The convolution runs axis by axis with real FFTs over x-slabs of the noise (along z, then y),
then over y-batches of the intermediate (along x).  Each slab or batch is an independent, fixed-shape
computation on one thread, so the result for a given box does not depend on how many threads
run them.  Memory: the intermediate holds (nx + 2 H_x, ny, nz) float32 values.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import scipy.fft

from .noise import noise_region

__all__ = ["gaussian_field", "default_threads"]

_BATCH = 16  # y-planes per x-convolution task
_SLAB = 16  # x-planes of noise per z/y-convolution task (bounds the per-thread temporaries)


def default_threads() -> int:
    """Threads used inside one realization (the cores this process may use)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=64)
def _transfer(kernel_bytes: bytes, n: int) -> np.ndarray:
    g = np.frombuffer(kernel_bytes, dtype=np.float64)
    H = len(g) // 2
    k = np.zeros(n, dtype=np.float64)
    k[: H + 1] = g[H:]
    if H:
        k[n - H:] = g[:H]
    return scipy.fft.rfft(k).real.astype(np.float32)


def _convolve_axis(a: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """Valid part of the convolution of ``a`` with the symmetric kernel ``g`` along ``axis``."""
    H = len(g) // 2
    L = a.shape[axis]
    T = L - 2 * H
    if H == 0:
        return a if g[0] == 1.0 else a * np.float32(g[0])
    n = scipy.fft.next_fast_len(L, real=True)
    G = _transfer(g.tobytes(), n)
    shape = [1, 1, 1]
    shape[axis] = len(G)
    A = scipy.fft.rfft(a, n=n, axis=axis, workers=1)
    A *= G.reshape(shape)
    c = scipy.fft.irfft(A, n=n, axis=axis, workers=1)
    index = [slice(None)] * 3
    index[axis] = slice(H, H + T)
    return c[tuple(index)]


def gaussian_field(seed: int, field: int, kernels: tuple[np.ndarray, np.ndarray, np.ndarray],
                   lo: tuple[int, int, int], hi: tuple[int, int, int], *,
                   out: np.ndarray | None = None, square: bool = False,
                   threads: int | None = None) -> np.ndarray:
    """Unit-variance Gaussian field ``field`` on the lattice box [lo, hi).

    Parameters
    ----------
    seed, field : int
        Identify the white noise (see :mod:`vmt_dask.model.noise`).
    kernels : three 1D float64 arrays
        Symmetric kernels (odd length) along x, y, z (see :func:`lattice_kernel`).
    lo, hi : tuple of int
        The box, in lattice coordinates.
    out : float32 array of the box's shape, optional
        If given, the field (or its square when ``square``) is *added* to it.
    threads : int, optional
        Worker threads (default: all cores of this process).

    Returns
    -------
    numpy.ndarray
        ``out`` (or a new float32 array holding the field).
    """
    gx, gy, gz = kernels
    Hx, Hy, Hz = (len(g) // 2 for g in kernels)
    T = tuple(h - l for l, h in zip(lo, hi))
    if out is None:
        out = np.zeros(T, dtype=np.float32)
        square = False
    # pass 1: x-slabs of noise, convolved along z then y
    x0, x1 = lo[0] - Hx, hi[0] + Hx
    inter = np.empty((x1 - x0, T[1], T[2]), dtype=np.float32)
    cuts = list(range(x0, x1, _SLAB)) + [x1]
    slabs = list(zip(cuts[:-1], cuts[1:]))

    def do_slab(s: tuple[int, int]) -> None:
        s0, s1 = s
        noise = noise_region(seed, field, (s0, lo[1] - Hy, lo[2] - Hz), (s1, hi[1] + Hy, hi[2] + Hz))
        a = _convolve_axis(noise, gz, 2)
        inter[s0 - x0: s1 - x0] = _convolve_axis(a, gy, 1)

    # pass 2: y-batches of the intermediate, convolved along x
    def do_batch(y0: int) -> None:
        y1 = min(y0 + _BATCH, T[1])
        f = _convolve_axis(inter[:, y0:y1], gx, 0)
        if square:
            out[:, y0:y1] += f * f
        else:
            out[:, y0:y1] += f

    starts = range(0, T[1], _BATCH)
    nthreads = threads or default_threads()
    if nthreads == 1:
        for s in slabs:
            do_slab(s)
        for y0 in starts:
            do_batch(y0)
    else:
        with ThreadPoolExecutor(nthreads) as pool:
            list(pool.map(do_slab, slabs))
            list(pool.map(do_batch, starts))
    return out
