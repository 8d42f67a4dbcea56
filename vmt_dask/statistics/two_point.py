"""Two-point probability functions of a voxel phase along the lattice axes, by FFT.

The two-point probability function (two-point correlation function) of a phase with
indicator m is S2(h) = P(m(t) = 1 and m(t + h e_d) = 1) for a lag of h voxels along axis d.
For a stationary random set S2(0) is the volume fraction p and S2(h) -> p^2 for large h.
The estimator here is the non-periodic (minus-sampling) one: the mean of m(t) m(t + h e_d)
over all pairs of voxels that both lie inside the volume, so it is unbiased for a
stationary set and sees no wrap-around.  The lag sums along a line are computed by one
zero-padded real FFT per axis (Wiener-Khinchin), O(N log n).

Pure kernel: numpy in, numpy out.
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.fft

from ..domain import axis_index
from ..errors import InputError

__all__ = ["two_point_probability", "two_point_correlation", "lag_pair_counts"]


def _check(mask, max_lag, axis, name="mask"):
    arr = np.asarray(mask)
    if arr.ndim != 3 or arr.size == 0:
        raise InputError(f"{name} must be a non-empty 3-D array, got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must be a boolean array, got dtype {arr.dtype}")
        if arr.min() < 0 or arr.max() > 1:
            raise InputError(f"{name} must hold 0/1 values, got {arr.min()}..{arr.max()}")
    d = axis_index(axis)
    if isinstance(max_lag, bool) or not isinstance(max_lag, numbers.Integral) or max_lag < 0:
        raise InputError(f"max_lag must be a non-negative integer, got {max_lag!r}")
    if max_lag >= arr.shape[d]:
        raise InputError(
            f"max_lag={max_lag} must be smaller than the volume's length {arr.shape[d]} along axis {d}")
    return arr, d, int(max_lag)


def lag_pair_counts(shape, axis, max_lag: int) -> np.ndarray:
    """Number of voxel pairs at lags 0..max_lag along ``axis`` inside a box of ``shape``."""
    d = axis_index(axis)
    other = int(np.prod(shape)) // int(shape[d])
    return (int(shape[d]) - np.arange(max_lag + 1, dtype=np.float64)) * other


def two_point_probability(mask: np.ndarray, *, axis: "int | str" = 2, max_lag: int,
                          other: "np.ndarray | None" = None) -> np.ndarray:
    """Two-point probability function S2(h), h = 0..max_lag voxels, along one axis.

    Parameters
    ----------
    mask : numpy.ndarray of bool (or 0/1 integers), shape (nx, ny, nz)
        Phase indicator, indexed (x, y, z).
    axis : int or {"x", "y", "z"}
        Lattice axis of the lag vector (default z, the pressing direction).
    max_lag : int
        Largest lag in voxels, ``0 <= max_lag < shape[axis]``.
    other : numpy.ndarray of bool, optional
        Indicator of a second phase, same shape: then the cross function
        S_{12}(h) = P(m(t) = 1, other(t + h e_d) = 1) is returned.

    Returns
    -------
    numpy.ndarray of float64, shape (max_lag + 1,)
        ``S2[h]`` = mean of m(t) other(t + h e_d) over the pairs inside the volume;
        ``S2[0]`` is the volume fraction (or the joint fraction for ``other``).

    Raises
    ------
    TypeError
        A non-boolean, non-integer array.
    vmt_dask.errors.InputError
        Not 3-D, empty, values other than 0/1, shapes differ, bad ``axis`` or ``max_lag``.

    Notes
    -----
    For each line along the axis, sum_t m(t) o(t + h) is the cross-correlation, computed as
    irfft(conj(rfft(m)) rfft(o)) on a zero-padded length >= n + max_lag, so there is no
    periodic wrap-around; the sums are divided by the pair counts (n - h) x (lines).
    The FFT runs in float64 and the lag sums, integers, are rounded to the nearest integer.
    """
    arr, d, L = _check(mask, max_lag, axis)
    if other is None:
        oth = None
    else:
        oth, _, _ = _check(other, max_lag, axis, name="other")
        if oth.shape != arr.shape:
            raise InputError(f"other must have the mask's shape {arr.shape}, got {oth.shape}")
    n = arr.shape[d]
    size = scipy.fft.next_fast_len(n + L, real=True)
    # process slabs along another axis so the complex spectra stay small
    slab_axis = 0 if d != 0 else 1
    sums = np.zeros(L + 1, dtype=np.float64)
    step = max(1, int(2 ** 21 // max(1, arr.size // arr.shape[slab_axis])))
    for s0 in range(0, arr.shape[slab_axis], step):
        sl = [slice(None)] * 3
        sl[slab_axis] = slice(s0, s0 + step)
        a = arr[tuple(sl)].astype(np.float64)
        fa = scipy.fft.rfft(a, n=size, axis=d)
        if oth is None:
            prod = fa.real ** 2 + fa.imag ** 2
        else:
            fo = scipy.fft.rfft(oth[tuple(sl)].astype(np.float64), n=size, axis=d)
            prod = np.conj(fa) * fo
        corr = scipy.fft.irfft(prod, n=size, axis=d)
        corr = np.moveaxis(corr, d, -1)[..., : L + 1]
        sums += corr.reshape(-1, L + 1).sum(axis=0, dtype=np.float64)
    return np.rint(sums) / lag_pair_counts(arr.shape, d, L)


def two_point_correlation(mask: np.ndarray, *, axis: "int | str" = 2, max_lag: int) -> np.ndarray:
    """Normalised indicator covariance c(h) = (S2(h) - p^2) / (p - p^2), h = 0..max_lag.

    ``c(0) = 1``; c(h) -> 0 when the phase decorrelates.  ``p`` is the volume fraction of
    ``mask`` itself.  Arguments, shapes and errors as :func:`two_point_probability`; a phase
    that fills the volume or is absent (p in {0, 1}) gives NaN.
    """
    s2 = two_point_probability(mask, axis=axis, max_lag=max_lag)
    p = float(np.asarray(mask).mean())
    var = p - p * p
    if var <= 0:
        return np.full(max_lag + 1, np.nan)
    return (s2 - p * p) / var
