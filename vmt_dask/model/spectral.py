"""Smooth Gaussian fields by spectral synthesis on a torus larger than the volume.

A field whose covariance parameter is small (alpha <~ 0.05 per voxel: correlation lengths of
tens of voxels) needs, in the convolution generator (:mod:`.fields`), a halo of white noise of
~2/alpha voxels on every side: a 64^3 volume with alpha = 0.02 convolves 280^3 noise values.
Its spectrum, however, is concentrated in a few wave numbers.  Here the field is

    f(x) = sum_m sqrt(lam(m)) [a_m cos(2 pi m.x / P) + b_m sin(2 pi m.x / P)],

m in a box of integer wave vectors |m_d| <= M_d, a_m and b_m independent standard normal
(counter-based noise of the mode index, :mod:`.noise`), and lam = lam_x lam_y lam_z with
lam_d the discrete Fourier transform of the lattice correlation periodised with period P_d.
Cov(f(x), f(y)) = sum_m lam(m) cos(2 pi m.(x - y)/P) is the periodised correlation, equal to
the lattice correlation for every pair of voxels of the volume when P_d >= N_d + reach (the
correlation has decayed below 1e-10 at ``reach``): circulant embedding, exact up to that and
the discarded spectral energy (<= 1e-9 per axis).

The torus depends on the whole volume's shape (not on the tile), and every tile evaluates the
same global field at its own voxels, so a realization does not depend on the chunking.  The
period is fixed for every alpha >= ``ALPHA_REF``, so along a study's finite differences within
this path the coefficients (common random numbers) are the same.  Evaluation is separable,
three passes (numba loops): ~2 K_x N^3 real multiply-adds, K_x ~ 2 M_x + 1.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np
import scipy.fft

from .covariance import lattice_covariance
from .fast import split_run
from .noise import noise_region

__all__ = ["spectral_field", "ALPHA_SPECTRAL", "ALPHA_REF", "spectral_modes", "uses_spectral"]

#: Fields whose largest per-axis covariance parameter (1/voxel) is at most this use the spectral path.
ALPHA_SPECTRAL = 0.05
#: The torus is sized for this alpha (or the field's, if smaller): period N + reach(ALPHA_REF).
ALPHA_REF = 0.02
_STREAM = 1 << 24  # noise streams of the mode coefficients: _STREAM + 2 field (+1)
_TAIL = 1e-10
_ENERGY = 1e-9


def uses_spectral(generator: str, alphas) -> bool:
    """Whether :func:`~vmt_dask.model.realize` synthesises a field with per-axis covariance
    parameters ``alphas`` (1/voxel) spectrally: every generator but "lattice", when the largest
    is at most ``ALPHA_SPECTRAL``."""
    return generator != "lattice" and max(alphas) <= ALPHA_SPECTRAL


@lru_cache(maxsize=256)
def spectral_modes(alpha: float, n: int, generator: str) -> tuple[int, int, np.ndarray]:
    """(P, M, sqrt(lam)) for one axis of length ``n``: period, largest |m|, and the square roots
    of the spectral weights of m = -M..M (float64, summing in square to 1)."""
    a_ref = min(alpha, ALPHA_REF)
    reach = int(math.ceil(math.sqrt(math.log(1 / _TAIL)) / a_ref)) + 2
    P = scipy.fft.next_fast_len(n + reach)
    # exact periodisation: c_P(h) = sum_j c(h + j P) over the lags where c is not negligible
    span = int(math.ceil(math.sqrt(math.log(1 / 1e-300)) / alpha)) + 2
    h = np.arange(P, dtype=np.float64)
    c = np.zeros(P)
    for j in range(-(span // P) - 1, span // P + 2):
        lag = h + j * P
        ok = np.abs(lag) <= span
        if ok.any():
            c[ok] += lattice_covariance(alpha, lag[ok], generator)
    lam = np.clip(scipy.fft.rfft(c).real / P, 0.0, None)  # lam(m) = lam(-m), sum over all m = c(0) = 1
    total = lam[0] + 2 * lam[1:(P + 1) // 2].sum() + (lam[P // 2] if P % 2 == 0 else 0.0)
    M = 0
    kept = lam[0]
    while M + 1 < (P + 1) // 2 and total - kept > _ENERGY * total:
        M += 1
        kept += 2 * lam[M]
    w = np.concatenate([lam[M:0:-1], lam[: M + 1]])
    w = np.sqrt(w / w.sum())
    w.setflags(write=False)
    return P, M, w


def _phases(P: int, M: int, lo: int, hi: int) -> np.ndarray:
    """exp(2 pi i m x / P) for m = -M..M (rows) and x in [lo, hi) (columns), complex128."""
    m = np.arange(-M, M + 1, dtype=np.int64)[:, None]
    x = np.arange(lo, hi, dtype=np.int64)[None, :]
    return np.exp(2j * np.pi * ((m * x) % P) / P)


def spectral_field(seed: int, field: int, alphas: tuple[float, float, float], generator: str,
                   shape: tuple[int, int, int], lo, hi, *, out: np.ndarray, square: bool = False,
                   fold: bool = False) -> np.ndarray:
    """Add the field (or its square) on the box [lo, hi) of a volume of ``shape`` to ``out``.

    ``alphas``: covariance parameter per axis in 1/voxel; ``generator``: the discretisation
    whose lattice correlation is reproduced (:func:`~vmt_dask.model.lattice_covariance`).
    ``out``: float32 array of the box's shape.  ``fold``: pair each wave vector m with -m
    before the synthesis, Re(C_m E_m + C_-m E_-m) = Re((C_m + conj(C_-m)) E_m), so only
    m_x >= 0 is summed (half the work; the same field up to float32 rounding; the "fast"
    generator's choice, while "point", "cell" and "band" keep their bits).
    """
    modes = [spectral_modes(float(a), int(n), generator) for a, n in zip(alphas, shape)]
    (Px, Mx, wx), (Py, My, wy), (Pz, Mz, wz) = modes
    a = noise_region(seed, _STREAM + 2 * field, (-Mx, -My, -Mz), (Mx + 1, My + 1, Mz + 1))
    b = noise_region(seed, _STREAM + 2 * field + 1, (-Mx, -My, -Mz), (Mx + 1, My + 1, Mz + 1))
    # f = Re sum_m C_m e^{i m.x} with C = sqrt(lam) (a - i b): cos and sin terms of the docstring
    C = (a.astype(np.complex128) - 1j * b) * (wx[:, None, None] * wy[None, :, None] * wz[None, None, :])
    Ez = _phases(Pz, Mz, lo[2], hi[2]).astype(np.complex64)
    Ey = _phases(Py, My, lo[1], hi[1]).astype(np.complex64)
    Ex = _phases(Px, Mx, lo[0], hi[0])
    if fold:
        # rows m_x = 0..M; row m_x > 0 gets conj(C) of (-m_x, -m_y, -m_z) added (index M - m_x,
        # the y and z axes reversed); the plane m_x = 0 is summed whole, as it is
        D = C[Mx:].copy()
        D[1:] += np.conj(C[Mx - 1::-1, ::-1, ::-1]) if Mx > 0 else 0
        C, Ex = D, Ex[Mx:]
    synth = _synthesize_fast if fold else _synthesize
    if generator == "simd2":  # its own summation order of the x pass (a matrix product)
        if not fold:
            raise ValueError('the "simd2" synthesis is folded (fold=True)')
        synth = _synthesize_gemm
    synth(np.ascontiguousarray(C.astype(np.complex64)), np.ascontiguousarray(Ex.T.astype(np.complex64)),
          Ey.T.astype(np.complex64), Ez, out, square)
    return out


@numba.njit(cache=True, nogil=True)
def _z_pass(C, Ez, G1, a0, a1):
    """G1[kx, ky, z] = sum_kz C[kx, ky, kz] Ez[kz, z] for a0 <= kx < a1 (G1 zeroed)."""
    Ky, Kz = C.shape[1], C.shape[2]
    nz = Ez.shape[1]
    for a in range(a0, a1):
        for b in range(Ky):
            for c in range(Kz):
                w = C[a, b, c]
                for z in range(nz):
                    G1[a, b, z] += w * Ez[c, z]


@numba.njit(cache=True, nogil=True)
def _y_pass(G1, EyT, G2r, G2i, a0, a1):
    """G2[kx, y, z] = sum_ky EyT[y, ky] G1[kx, ky, z] for a0 <= kx < a1, as real and imaginary parts."""
    Ky, nz = G1.shape[1], G1.shape[2]
    ny = EyT.shape[0]
    row = np.zeros(nz, dtype=np.complex64)
    for a in range(a0, a1):
        for y in range(ny):
            row[:] = 0
            for b in range(Ky):
                w = EyT[y, b]
                for z in range(nz):
                    row[z] += w * G1[a, b, z]
            for z in range(nz):
                G2r[a, y, z] = row[z].real
                G2i[a, y, z] = row[z].imag


def _yz_passes(C, EyT, Ez, joined=False):
    """G2[kx, y, z] = sum_ky EyT[y, ky] sum_kz C[kx, ky, kz] Ez[kz, z], as real and imaginary parts.

    The first two of the three separable passes of :func:`_synthesize` (shared by
    :func:`_synthesize_fast`).  Plain loops (no BLAS) on numba's thread count (threads over kx,
    :func:`~vmt_dask.model.fast.split_run`): every value is summed in a fixed order by one
    thread, so the result does not depend on the thread count.  ``joined``: return one
    (2 Kx, ny, nz) array, the real parts above the imaginary ones (the same values).
    """
    Kx, Ky, _ = C.shape
    ny, nz = EyT.shape[0], Ez.shape[1]
    threads = numba.get_num_threads()
    G1 = np.zeros((Kx, Ky, nz), dtype=np.complex64)
    split_run(_z_pass, Kx, threads, C, Ez, G1)
    G2 = np.zeros((2 * Kx, ny, nz), dtype=np.float32)
    G2r, G2i = G2[:Kx], G2[Kx:]
    split_run(_y_pass, Kx, threads, G1, EyT, G2r, G2i)
    return G2 if joined else (G2r, G2i)


def _synthesize(C, ExT, EyT, Ez, out, square):
    """out[x, y, z] += Re sum_m C[m] Ex[mx, x] Ey[my, y] Ez[mz, z] (or its square), separably.

    The work stays on numba's thread count (BLAS would start its own threads, which
    oversubscribes study workers).  ExT is (nx, Kx), EyT (ny, Ky), Ez (Kz, nz).
    """
    G2r, G2i = _yz_passes(C, EyT, Ez)
    split_run(_x_rows, out.shape[0], numba.get_num_threads(), ExT, G2r, G2i, out, square)


@numba.njit(cache=True, nogil=True)
def _x_rows(ExT, G2r, G2i, out, square, x0, x1):
    """out[x, y, z] += Re sum_kx ExT[x, kx] G2[kx, y, z] (or its square) for x0 <= x < x1."""
    Kx = G2r.shape[0]
    _, ny, nz = out.shape
    f = np.zeros(nz, dtype=np.float32)
    for x in range(x0, x1):
        for y in range(ny):
            f[:] = 0
            for a in range(Kx):
                er = ExT[x, a].real
                ei = ExT[x, a].imag
                for z in range(nz):
                    f[z] += er * G2r[a, y, z] - ei * G2i[a, y, z]
            if square:
                for z in range(nz):
                    out[x, y, z] += f[z] * f[z]
            else:
                for z in range(nz):
                    out[x, y, z] += f[z]


def _synthesize_fast(C, ExT, EyT, Ez, out, square):
    """:func:`_synthesize` with the last (x) pass on real arrays four modes at a time (one
    load/store of the accumulator per four modes); used by the "fast" and "simd" generators
    only, so the other generators keep their bits."""
    G2r, G2i = _yz_passes(C, EyT, Ez)
    Er = np.ascontiguousarray(ExT.real, dtype=np.float32)
    Ei = np.ascontiguousarray(ExT.imag, dtype=np.float32)
    split_run(_x_rows4, out.shape[0], numba.get_num_threads(), Er, Ei, G2r, G2i, out, square)


def _synthesize_gemm(C, ExT, EyT, Ez, out, square):
    """:func:`_synthesize_fast` with the x pass as one real matrix product per y-row, out[:, y, :]
    += [Re ExT, -Im ExT] @ [G2r; G2i][:, y, :], each value an FMA chain over the 2 Kx modes in
    order (:func:`~vmt_dask.model.simd.gemm_x_rows`, four x-rows by 16 lanes in registers: ~4x
    fewer loads per multiply-add than :func:`_x_rows4`); the "simd2" generator's, so "fast"
    and "simd" keep their bits."""
    from .simd import gemm_x_rows

    G2 = _yz_passes(C, EyT, Ez, joined=True)
    A = np.ascontiguousarray(np.concatenate([ExT.real, -ExT.imag], axis=1), dtype=np.float32)
    split_run(gemm_x_rows, out.shape[1], numba.get_num_threads(), A, G2, out, np.int64(bool(square)))


@numba.njit(cache=True, nogil=True)
def _x_rows4(Er, Ei, G2r, G2i, out, square, x0, x1):
    """:func:`_x_rows` four modes at a time, for x0 <= x < x1 (``Er``, ``Ei``: the real and
    imaginary parts of ExT)."""
    Kx = G2r.shape[0]
    _, ny, nz = out.shape
    f = np.empty(nz, dtype=np.float32)
    for x in range(x0, x1):
        for y in range(ny):
            f[:] = 0
            a = 0
            while a + 4 <= Kx:
                r0, r1, r2, r3 = Er[x, a], Er[x, a + 1], Er[x, a + 2], Er[x, a + 3]
                i0, i1, i2, i3 = Ei[x, a], Ei[x, a + 1], Ei[x, a + 2], Ei[x, a + 3]
                p0, p1, p2, p3 = G2r[a, y], G2r[a + 1, y], G2r[a + 2, y], G2r[a + 3, y]
                q0, q1, q2, q3 = G2i[a, y], G2i[a + 1, y], G2i[a + 2, y], G2i[a + 3, y]
                for z in range(nz):
                    f[z] += ((r0 * p0[z] - i0 * q0[z]) + (r1 * p1[z] - i1 * q1[z])) + \
                            ((r2 * p2[z] - i2 * q2[z]) + (r3 * p3[z] - i3 * q3[z]))
                a += 4
            while a < Kx:
                r0, i0 = Er[x, a], Ei[x, a]
                p0, q0 = G2r[a, y], G2i[a, y]
                for z in range(nz):
                    f[z] += r0 * p0[z] - i0 * q0[z]
                a += 1
            o = out[x, y]
            if square:
                for z in range(nz):
                    o[z] += f[z] * f[z]
            else:
                for z in range(nz):
                    o[z] += f[z]
