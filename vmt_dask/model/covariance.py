"""How a Gaussian random field with covariance exp(-(alpha h)^2) is put on the voxel lattice.

The model (paper Eq. 3) is a field on continuous space; a voxel image needs one number per
voxel, and the paper does not say which.  Three discretisations (point sampling, cell average,
band limit) and two generators of point sampling are offered, selected by the ``generator``
keyword of :func:`~vmt_dask.model.realize`.  "lattice" uses one white noise for every field;
"point", "cell" and "band" use that noise for the rough fields and spectral coefficients for the
smooth ones, so realizations of one seed under "point", "cell" and "band" differ only through the
discretisation:

``"lattice"`` (the generator and default of the first release, kept bit for bit)
    Point sampling: the value at the voxel centre.  Lattice correlation
    ``rho(h) = exp(-(alpha h)^2)`` at integer lags h.
``"point"``
    The same law as ``"lattice"`` (point sampling, the same lattice correlation), generated
    faster: fields with alpha <= 0.05 per voxel by spectral synthesis on a torus
    (:mod:`vmt_dask.model.spectral`, no white-noise halo), the others as ``"lattice"``.  Its
    realizations differ from ``"lattice"``'s voxel by voxel (other random numbers for the smooth
    fields), not in distribution.  ``"cell"`` and ``"band"`` use the same two paths.
``"fast"``
    The same law as ``"lattice"`` and ``"point"`` (point sampling, the same lattice
    correlation), the fastest generator: smooth fields as ``"point"`` (spectral synthesis,
    the same coefficients), the others by a fused direct convolution of a cheaper
    counter-based noise (:mod:`vmt_dask.model.fast`: one hash per pair of voxels, no FFT, no
    noise volume).  Its rough fields differ from ``"lattice"``'s voxel by voxel, not in
    distribution.  Its bits are fixed as of commit 99e2265 (stores name their generator and
    are resumed with it): a faster variant that changes them needs a new name.
``"simd"``
    The same law as ``"fast"`` (point sampling, the same lattice correlation, the same smooth
    fields), built for vector units: its rough fields are a fused direct convolution with one
    fused multiply-add per symmetric tap pair (no pair-sum tree) and four output rows per step,
    of a noise that LLVM vectorises (a 32-bit counter hash per voxel and Box-Muller pairs in
    float32 polynomials, :mod:`vmt_dask.model.simd`).  Its rough fields differ from
    ``"fast"``'s voxel by voxel (other random numbers), not in distribution; its bits are
    fixed from its first commit on (stores name their generator).
``"simd2"`` (default)
    ``"simd"`` with less work per voxel and other random numbers (the same law): the noise
    word of a voxel is one round of the 32-bit hash on a row-scaled counter instead of two
    rounds (its own noise streams; :mod:`vmt_dask.model.simd`), and the smooth fields'
    spectral synthesis sums its last pass as a register-blocked matrix product (another
    float32 summation order).  Its bits are fixed since its re-pin of session 7 (the first
    version's word made some rows share their noise values).
``"cell"``
    The field averaged over the voxel (a cube of edge 1 voxel), rescaled to unit variance.
    Per axis ``C(h) = int_{-1}^{1} (1 - |t|) exp(-alpha^2 (h + t)^2) dt`` and the lattice
    correlation is ``C(h) / C(0)``.
``"band"``
    Band-limited synthesis at the voxel scale: the continuous spectral density
    ``S(k) ~ exp(-k^2 / (4 alpha^2))`` restricted to ``|k| <= pi`` per axis (no aliasing),
    rescaled to unit variance:
    ``rho(h) = [exp(-alpha^2 h^2) - exp(-p^2) (-1)^h Re w(-alpha h + i p)] / erf(p)`` with
    ``p = pi / (2 alpha)`` and ``w`` the Faddeeva function.

What they do (alpha in 1/voxel, per axis)
-----------------------------------------
For alpha <~ 0.3 (every smooth field of Table 1) the three agree to better than ~1e-3 in the
correlation and the realizations are almost the same voxels.  They part where alpha
approaches or exceeds 1 per voxel (BM03's alpha_Ytilde = 3.29, gradient steps of the study):

* ``lattice``: rho(1) = exp(-alpha^2) -> 0: the field is white noise on the lattice and its
  excursion set is a voxel-scale speckle whose specific surface area is set by the lattice,
  not by alpha (it stops depending on alpha at all).
* ``cell``: the average over a voxel keeps a neighbour correlation that decays only like
  ``1 / (2 sqrt(pi) alpha)`` (0.09 at alpha = 3.3): the speckle is slightly coarser and its
  surface slightly smaller, and the field's derivative in alpha stays non-zero.
* ``band``: the spectrum is almost flat on [-pi, pi]; rho(h) has small ~1/h^2 tails of
  alternating sign and rho(1) -> 0 as well: still white noise.

Measured (BM01, 128^3 x 0.2 um, one alpha or all four raised step by step; docs/fidelity.md):
the specific surface area saturates at the same lattice limit under all three, ~3.0/um with
alpha_Xtilde >= 2 per voxel and ~3.6/um with every field white; "cell" stays 1-3 % below point
sampling, "band" within 0.7 %; constrictivities agree to two decimals; at the Table 1 presets
they differ by <= 2 % in S and <= 0.07 in beta, less than two seeds differ.  No discretisation
bounds S the way the paper's database is bounded (S_SE <= 2.33, S_AM <= 2.61 per um), so the
default stays point sampling.

Thin necks: a neck thinner than a voxel is resolved by none of them; ``cell`` and ``band``
remove the sub-voxel variance (the field is smoother at the voxel scale), so a threshold cuts
fewer isolated voxels and single-voxel bridges than under ``lattice``.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.special

from ..errors import InputError
from .kernels import lattice_kernel

__all__ = ["GENERATORS", "DIRECT_GENERATORS", "DEFAULT_GENERATOR", "lattice_covariance", "generator_kernel",
           "check_generator"]

#: Names of the discretisations, see the module docstring.
GENERATORS = ("lattice", "point", "cell", "band", "fast", "simd", "simd2")
#: The generators that sample the field at the voxel centres (lattice correlation exp(-(alpha h)^2)).
POINT_SAMPLING = ("lattice", "point", "fast", "simd", "simd2")
#: The point-sampling generators built by direct separable convolution on a halo box (numba).
DIRECT_GENERATORS = ("fast", "simd", "simd2")
#: The default: "simd2" (point sampling with the exact lattice covariance, the law of "lattice",
#: "fast" and "simd", the least work: its CPU factor is :data:`.cost.GENERATOR_FACTOR`'s,
#: measured as stated in :mod:`.cost`'s docstring; fidelity checked, docs/fidelity.md).  It was
#: "fast" until session 6 and "simd" until session 7 (each stays available bit for bit; simd2
#: was re-pinned in session 7); a study records its generator in its spec
#: (studies without one use "lattice"), and stored volumes name theirs.
DEFAULT_GENERATOR = "simd2"


def check_generator(generator, name: str = "generator") -> str:
    """Return ``generator`` if it names a discretisation, else raise (TypeError / InputError)."""
    if not isinstance(generator, str):
        raise TypeError(f"{name} must be a string, one of {', '.join(GENERATORS)}; got {generator!r}")
    if generator not in GENERATORS:
        raise InputError(f"{name} must be one of {', '.join(GENERATORS)}; got {generator!r}")
    return generator


def _cell_unnormalised(alpha: float, h: np.ndarray) -> np.ndarray:
    """C(h) = int_{-1}^{1} (1 - |t|) exp(-alpha^2 (h + t)^2) dt for integer h >= 0.

    The triangle is the second difference of the second antiderivative
    Psi(x) = x Phi(x) + (exp(-alpha^2 x^2) - 1) / (2 alpha^2), Phi(x) = sqrt(pi)/(2 alpha) erf(alpha x).
    For h >= 1 the linear parts cancel exactly and erf = 1 - erfc keeps the small values
    accurate: C(h) = -sqrt(pi)/(2 alpha) [(h+1) erfc(alpha(h+1)) - 2h erfc(alpha h)
    + (h-1) erfc(alpha(h-1))] + [e(h+1) - 2 e(h) + e(h-1)] / (2 alpha^2), e(x) = exp(-alpha^2 x^2).
    """
    a = float(alpha)
    h = np.abs(np.asarray(h, dtype=np.float64))
    e = lambda x: np.exp(-(a * x) ** 2)  # noqa: E731
    ec = lambda x: scipy.special.erfc(a * x)  # noqa: E731
    out = (-math.sqrt(math.pi) / (2 * a) * ((h + 1) * ec(h + 1) - 2 * h * ec(h) + (h - 1) * ec(h - 1))
           + (e(h + 1) - 2 * e(h) + e(h - 1)) / (2 * a * a))
    # h = 0: 2 Psi(1) = sqrt(pi)/alpha erf(alpha) + (exp(-alpha^2) - 1) / alpha^2
    c0 = math.sqrt(math.pi) / a * math.erf(a) + math.expm1(-a * a) / (a * a)
    return np.where(h == 0, c0, out)


def lattice_covariance(alpha: float, h, generator: str = DEFAULT_GENERATOR) -> np.ndarray:
    """Correlation of the lattice field at integer lags ``h`` along one axis (float64).

    Parameters
    ----------
    alpha : float
        Covariance parameter in 1/voxel (see :func:`~vmt_dask.model.axis_alphas`), > 0.
    h : int or array of int
        Lags in voxels.
    generator : {"lattice", "point", "cell", "band", "fast", "simd", "simd2"}
        The discretisation (module docstring gives the formulas).

    Returns
    -------
    numpy.ndarray of float64, the shape of ``h``; 1 at h = 0.  The 3-D correlation of a
    field is the product over the axes (the covariance is separable).
    """
    check_generator(generator)
    a = float(alpha)
    if not a > 0:
        raise InputError(f"alpha must be > 0, got {alpha!r}")
    h = np.abs(np.asarray(h, dtype=np.float64))
    if generator in POINT_SAMPLING:
        return np.exp(-(a * h) ** 2)
    if generator == "cell":
        return _cell_unnormalised(a, h) / _cell_unnormalised(a, np.zeros(1))[0]
    p = math.pi / (2 * a)
    sign = np.where(np.mod(h, 2) == 1, -1.0, 1.0)
    w = scipy.special.wofz(-a * h + 1j * p).real
    return (np.exp(-(a * h) ** 2) - math.exp(-p * p) * sign * w) / math.erf(p)


def _truncate(g: np.ndarray, centre: int, tol: float) -> np.ndarray:
    energy = g * g
    total = energy.sum()
    cum = np.cumsum(energy)
    H = 0
    while H < centre:
        kept = cum[centre + H] - (cum[centre - H - 1] if centre - H - 1 >= 0 else 0.0)
        if total - kept <= tol * total:
            break
        H += 1
    kernel = g[centre - H: centre + H + 1].copy()
    kernel = 0.5 * (kernel + kernel[::-1])  # exact symmetry
    kernel /= math.sqrt((kernel * kernel).sum())
    kernel.setflags(write=False)
    return kernel


@lru_cache(maxsize=256)
def generator_kernel(alpha: float, generator: str = DEFAULT_GENERATOR, tol: float = 1e-9) -> np.ndarray:
    """Symmetric 1-D kernel g (float64, odd length) whose autocorrelation is the lattice
    correlation of ``generator`` (see :func:`lattice_covariance`), truncated where the cut
    energy is below ``tol`` and rescaled to unit energy.

    ``"lattice"`` returns :func:`~vmt_dask.model.lattice_kernel` (today's kernel, unchanged), and
    so do the other point-sampling generators ("point", "fast", "simd", "simd2").
    ``"cell"``: g = IDFT(sqrt(DFT(c))) of the sampled correlation, periodised on a grid on
    which it has decayed below 1e-17.  ``"band"``: g = IDFT(sqrt(S)) of the band-limited
    spectral density on a fine frequency grid (its correlation decays only like 1/h^2, so the
    kernel is built from the spectrum, where it is explicit).
    """
    check_generator(generator)
    if not alpha > 0:
        raise InputError(f"alpha must be > 0, got {alpha!r}")
    if generator in POINT_SAMPLING:
        return lattice_kernel(alpha, tol)
    if generator == "cell":
        reach = math.sqrt(-math.log(1e-17)) / alpha + 1.0  # C(h) < 1e-17 C(0) beyond
        half = int(math.ceil(2 * reach)) + 8
        n = scipy.fft.next_fast_len(2 * half, real=True)
        h = np.arange(n, dtype=np.float64)
        h = np.minimum(h, n - h)
        c = lattice_covariance(alpha, h, "cell")
        spectrum = np.clip(scipy.fft.rfft(c).real, 0.0, None)
    else:
        # g decays like 1/h^2 (the periodic sqrt-spectrum has a kink at +-pi): a long grid
        # keeps the wrap-around of the discrete transform below the truncation tolerance
        n = 1 << 16
        k = 2 * math.pi * np.arange(n // 2 + 1) / n  # 0 .. pi
        spectrum = np.exp(-(k / (2 * alpha)) ** 2)
        spectrum *= n / (2 * spectrum[1:-1].sum() + spectrum[0] + spectrum[-1])  # c(0) = 1
    g = scipy.fft.irfft(np.sqrt(spectrum), n=n)
    g = np.roll(g, n // 2)  # lag 0 at index n // 2
    return _truncate(g, n // 2, tol)
