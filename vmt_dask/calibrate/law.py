"""Exact one- and two-point laws of the model's excursion sets (paper Eqs. 1-6), n = 2.

X = X' + X'' with X' = X~_1^2 + X~_2^2 (chi-square, n = 2 degrees of freedom) and X'' standard
Gaussian, all independent (paper Eqs. 1-2; docs/conventions.md fixes n = 2).

One point
    X' is exponential with mean 2, so for a threshold lambda

        P(X >= lambda) = Phi_bar(lambda) + exp(1/8 - lambda/2) Phi(lambda - 1/2)

    (condition on X'' = g: P(X' >= lambda - g) = 1 for g >= lambda, exp(-(lambda - g)/2)
    otherwise; integrate against the normal density and complete the square).  With
    Table 1's BM01 threshold 1.87 this gives 0.438, the measured SE fraction (docs/conventions.md).
    SE = {X >= lambda_X} and AM = {X < lambda_X, Y >= lambda_Y} with X, Y independent, so
    eps_SE = P(X >= lambda_X) and eps_AM = (1 - eps_SE) P(Y >= lambda_Y): both thresholds
    follow from the two volume fractions by inverting this monotone closed form.

Two points
    For two points at lag h with correlations rho1 = rho_{alpha~}(h) of the chi-square's
    Gaussian components and rho2 = rho_{alpha''}(h) of X'',
    F(lambda; rho1, rho2) = P(X(0) >= lambda, X(h) >= lambda).  Given |X~(0)|^2 = e, the
    vector X~(h) is Gaussian with mean rho1 X~(0) and covariance (1 - rho1^2) I, so
    X'(h) / (1 - rho1^2) is non-central chi-square with 2 degrees of freedom and
    non-centrality rho1^2 e / (1 - rho1^2); X''(h) given X''(0) = g is N(rho2 g, 1 - rho2^2).
    Conditioning on X'(0) and X'(h) leaves a bivariate normal orthant probability for the
    pair (X''(0), X''(h)), which is closed form (Owen's T function); the remaining smooth
    integral over X'(0) and the Gaussian innovation of X~(h) is done by Gauss quadrature
    (:func:`pair_exceedance`).  :func:`pair_law` tabulates F on a polar grid in
    q = sqrt(1 - rho) (F has a cone at rho1 = rho2 = 1 in rho but is smooth there in polar
    coordinates of q) and interpolates with a bicubic spline (fitted by scipy's
    RectBivariateSpline, evaluated by a fused numba loop: the fit's hot path).

Pure kernel: numpy/scipy in and out.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np
import scipy.interpolate
import scipy.optimize
import scipy.special
import scipy.stats

from ..errors import InputError

__all__ = ["exceedance", "threshold", "thresholds_from_fractions", "fractions_from_thresholds",
           "pair_exceedance", "pair_law", "bivariate_normal_survival"]


def exceedance(lam: "float | np.ndarray") -> "float | np.ndarray":
    """P(X' + X'' >= lambda) for X' ~ chi-square(2) and X'' ~ N(0, 1) independent (closed form).

    Parameters
    ----------
    lam : float or array
        Threshold(s).

    Returns
    -------
    float or numpy.ndarray of float64, in (0, 1)
    """
    lam = np.asarray(lam, dtype=np.float64)
    # exp(1/8 - lam/2) Phi(lam - 1/2) in logs: no overflow for very negative lam
    second = np.exp(0.125 - lam / 2 + scipy.special.log_ndtr(lam - 0.5))
    out = scipy.special.ndtr(-lam) + second
    return float(out) if out.ndim == 0 else out


def threshold(probability: float, *, name: str = "probability") -> float:
    """The lambda with P(X' + X'' >= lambda) = ``probability`` (inverse of :func:`exceedance`).

    Raises
    ------
    vmt_dask.errors.InputError
        ``probability`` not strictly between 0 and 1.
    """
    p = float(probability)
    if not 0.0 < p < 1.0 or not math.isfinite(p):
        raise InputError(f"{name} must be strictly between 0 and 1, got {probability!r}")
    # exceedance is strictly decreasing from 1 (lam -> -inf) to 0 (lam -> inf)
    return float(scipy.optimize.brentq(lambda x: exceedance(x) - p, -40.0, 80.0, xtol=1e-13,
                                       rtol=1e-14, maxiter=500))


def thresholds_from_fractions(eps_se: float, eps_am: float) -> tuple[float, float]:
    """Thresholds (lambda_X, lambda_Y) that reproduce the volume fractions of SE and AM.

    eps_SE = P(X >= lambda_X), eps_AM = (1 - eps_SE) P(Y >= lambda_Y) (paper Eqs. 4-5 with
    X, Y independent), inverted with the closed form of :func:`exceedance`.

    Raises
    ------
    vmt_dask.errors.InputError
        A fraction outside (0, 1), or eps_SE + eps_AM >= 1 (no pore left: lambda_Y = -inf).
    """
    eps_se, eps_am = float(eps_se), float(eps_am)
    lx = threshold(eps_se, name="volume fraction of SE")
    if not 0.0 < eps_am < 1.0 - eps_se:
        raise InputError(
            f"volume fraction of AM must be in (0, 1 - eps_SE) = (0, {1 - eps_se:.4g}), got {eps_am!r}")
    ly = threshold(eps_am / (1.0 - eps_se), name="AM fraction of the non-SE space")
    return lx, ly


def fractions_from_thresholds(lambda_x: float, lambda_y: float) -> tuple[float, float, float]:
    """Expected volume fractions (pore, SE, AM) of the model with thresholds lambda_X, lambda_Y."""
    pse = exceedance(lambda_x)
    pam = (1.0 - pse) * exceedance(lambda_y)
    return 1.0 - pse - pam, pse, pam


# --------------------------------------------------------------------------- two points
_NE, _NR, _NPHI = 24, 14, 10


@lru_cache(maxsize=1)
def _nodes():
    te, we = scipy.special.roots_laguerre(_NE)
    tr, wr = scipy.special.roots_laguerre(_NR)
    phi = (np.arange(_NPHI) + 0.5) * math.pi / _NPHI        # midpoint rule on [0, pi]
    return 2.0 * te, we, np.sqrt(2.0 * tr), wr, np.cos(phi), np.full(_NPHI, 1.0 / _NPHI)


def bivariate_normal_survival(a, b, rho) -> np.ndarray:
    """P(G0 >= a, G1 >= b) for standard normals with correlation ``rho`` (Owen's T).

    ``a``, ``b`` and ``rho`` broadcast.  Uses
    Phi2(h, k; rho) = (Phi(h) + Phi(k)) / 2 - T(h, (k - rho h) / (h s)) - T(k, (h - rho k) / (k s))
    - delta with s = sqrt(1 - rho^2), delta = 1/2 when h k < 0 (or h k = 0 and h + k < 0),
    else 0 (Owen 1956), at (h, k) = (-a, -b); |rho| = 1 is the degenerate limit.
    """
    h = -np.asarray(a, dtype=np.float64)
    k = -np.asarray(b, dtype=np.float64)
    rho = np.asarray(rho, dtype=np.float64)
    h, k, rho = np.broadcast_arrays(h, k, rho)
    s = np.sqrt(np.clip(1.0 - rho * rho, 0.0, None))
    degenerate = s < 1e-12
    ss = np.where(degenerate, 1.0, s)
    tiny = 1e-300
    hh = np.where(h == 0.0, tiny, h)
    kk = np.where(k == 0.0, tiny, k)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        t1 = scipy.special.owens_t(hh, (kk - rho * hh) / (hh * ss))
        t2 = scipy.special.owens_t(kk, (hh - rho * kk) / (kk * ss))
    delta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), 0.5, 0.0)
    out = 0.5 * (scipy.special.ndtr(h) + scipy.special.ndtr(k)) - t1 - t2 - delta
    if degenerate.any():
        pos = scipy.special.ndtr(np.minimum(h, k))                          # rho = 1
        neg = np.clip(scipy.special.ndtr(h) - scipy.special.ndtr(-k), 0.0, None)   # rho = -1
        out = np.where(degenerate, np.where(rho > 0, pos, neg), out)
    return np.clip(out, 0.0, 1.0)


def pair_exceedance(lam: float, rho1, rho2) -> "float | np.ndarray":
    """F = P(X(0) >= lambda, X(h) >= lambda) for correlations rho1 (of X~) and rho2 (of X'').

    Parameters
    ----------
    lam : float
        Threshold.
    rho1, rho2 : float or array in [-1, 1]
        Correlation at the lag of the Gaussian components X~_j and of X'' (they broadcast).

    Returns
    -------
    float or numpy.ndarray of float64
        F in [p^2, p] for non-negative correlations, p = :func:`exceedance`; F = p^2 when
        both rho are 0 and p when both are 1 (independent and identical points).

    Notes
    -----
    Condition on the chi-square parts: X'(0) = e (exponential, mean 2: Gauss-Laguerre) and,
    rotating X~(0) onto the first axis, X'(h) = |rho1 sqrt(e) e_1 + s1 W|^2 =
    rho1^2 e + 2 rho1 s1 sqrt(e) r cos(phi) + s1^2 r^2 with the innovation W = r (cos phi,
    sin phi) standard normal in the plane: r^2 exponential with mean 2 (Gauss-Laguerre) and
    phi uniform (midpoint rule, exponentially convergent for this periodic integrand),
    s1 = sqrt(1 - rho1^2).  Given both, the
    Gaussian pair (X''(0), X''(h)) must exceed (lambda - X'(0), lambda - X'(h)): a bivariate
    normal orthant probability with correlation rho2, in closed form
    (:func:`bivariate_normal_survival`).  The integrand is smooth in (e, w1, w2).  Absolute
    error about 3e-4 or better against Monte Carlo with 2e6 pairs (tests).
    """
    lam = float(lam)
    r1, r2 = np.broadcast_arrays(np.asarray(rho1, dtype=np.float64), np.asarray(rho2, dtype=np.float64))
    shape = r1.shape
    r1, r2 = r1.reshape(-1, 1, 1, 1), r2.reshape(-1, 1, 1, 1)
    e, we, rr, wr, cphi, wphi = _nodes()
    s1 = np.sqrt(np.clip(1.0 - r1 * r1, 0.0, None))
    sq = np.sqrt(e)[None, :, None, None]
    rad = rr[None, None, :, None]
    eh = r1 * r1 * e[None, :, None, None] + 2.0 * r1 * s1 * sq * rad * cphi[None, None, None, :] \
        + (s1 * rad) ** 2
    e0 = e[None, :, None, None]
    orth = bivariate_normal_survival(lam - e0, lam - eh, r2)
    w = we[:, None, None] * wr[:, None] * wphi[None, :]
    out = (orth * w[None]).sum(axis=(1, 2, 3)).reshape(shape)
    return float(out) if out.ndim == 0 else out


class _PairLaw:
    """F(lambda; rho1, rho2) as a bicubic spline in polar coordinates of (q1, q2).

    With q_i = sqrt(1 - rho_i), F = p - r f(phi) + O(r^2) near rho1 = rho2 = 1 (r, phi the
    polar coordinates of (q1, q2)): a cone in (q1, q2) but smooth in (r, phi).  The grid
    covers r in [0, sqrt 2] (correlations down to -1 where r > 1), phi in [0, pi/2].
    """

    def __init__(self, lam: float, nr: int = 15, nphi: int = 9):
        self.lam = float(lam)
        self.p = exceedance(self.lam)
        r = np.linspace(0.0, math.sqrt(2.0), nr)
        phi = np.linspace(0.0, 0.5 * math.pi, nphi)
        q1 = np.clip(r[:, None] * np.cos(phi)[None, :], 0.0, math.sqrt(2.0))
        q2 = np.clip(r[:, None] * np.sin(phi)[None, :], 0.0, math.sqrt(2.0))
        self.table = pair_exceedance(self.lam, 1 - q1 * q1, 1 - q2 * q2)
        self._spline = scipy.interpolate.RectBivariateSpline(r, phi, self.table, kx=3, ky=3, s=0)

        tx, ty, c = self._spline.tck
        kx, ky = self._spline.degrees
        assert kx == ky == 3
        self._tx, self._ty = np.asarray(tx, dtype=np.float64), np.asarray(ty, dtype=np.float64)
        self._c = np.ascontiguousarray(np.asarray(c, dtype=np.float64).reshape(len(tx) - 4, len(ty) - 4))

    def __call__(self, rho1, rho2) -> np.ndarray:
        rho1, rho2 = np.broadcast_arrays(np.asarray(rho1, dtype=np.float64),
                                         np.asarray(rho2, dtype=np.float64))
        out = np.empty(rho1.size, dtype=np.float64)
        _polar_spline(np.ascontiguousarray(rho1).ravel(), np.ascontiguousarray(rho2).ravel(),
                      self._tx, self._ty, self._c, self.p * self.p, self.p, out)
        return out.reshape(rho1.shape)

    def reference(self, rho1, rho2) -> np.ndarray:
        """The same values by scipy's spline evaluation (for tests)."""
        rho1, rho2 = np.broadcast_arrays(np.asarray(rho1, dtype=np.float64),
                                         np.asarray(rho2, dtype=np.float64))
        q1 = np.sqrt(np.clip(1.0 - rho1, 0.0, 1.0))
        q2 = np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0))
        out = self._spline(np.hypot(q1, q2).ravel(), np.arctan2(q2, q1).ravel(), grid=False)
        return np.clip(out.reshape(rho1.shape), self.p * self.p, self.p)


@numba.njit(inline="always")
def _cubic_basis(t, x, h, left, right):
    """Span l (t[l] <= x < t[l+1], clamped to the spline's base interval) and the four cubic
    B-splines N_{l-3..l}(x) in ``h`` (Cox-de Boor recursion; ``left``, ``right``: scratch)."""
    n = t.shape[0]
    x = min(max(x, t[3]), t[n - 4])
    lo, hi = 3, n - 5  # binary search for the span
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if t[mid] <= x:
            lo = mid
        else:
            hi = mid - 1
    h[0] = 1.0
    for j in range(1, 4):
        left[j] = x - t[lo + 1 - j]
        right[j] = t[lo + j] - x
        saved = 0.0
        for r in range(j):
            temp = h[r] / (right[r + 1] + left[j - r])
            h[r] = saved + right[r + 1] * temp
            saved = left[j - r] * temp
        h[j] = saved
    return lo


@numba.njit(cache=True, nogil=True)
def _polar_spline(rho1, rho2, tx, ty, c, lo_clip, hi_clip, out):
    """out = clip(S(hypot(q1, q2), atan2(q2, q1)), lo_clip, hi_clip), q = sqrt(clip(1 - rho, 0, 1)),
    S the bicubic spline (knots tx, ty, coefficients c[i, j])."""
    hx = np.empty(4)
    hy = np.empty(4)
    left = np.empty(4)
    right = np.empty(4)
    for p in range(rho1.shape[0]):
        q1 = math.sqrt(min(max(1.0 - rho1[p], 0.0), 1.0))
        q2 = math.sqrt(min(max(1.0 - rho2[p], 0.0), 1.0))
        lx = _cubic_basis(tx, math.hypot(q1, q2), hx, left, right)
        ly = _cubic_basis(ty, math.atan2(q2, q1), hy, left, right)
        s = 0.0
        for i in range(4):
            row = 0.0
            for j in range(4):
                row += hy[j] * c[lx - 3 + i, ly - 3 + j]
            s += hx[i] * row
        out[p] = min(max(s, lo_clip), hi_clip)


@lru_cache(maxsize=16)
def pair_law(lam: float) -> _PairLaw:
    """Callable ``F(rho1, rho2)`` (arrays broadcast) for threshold ``lam``; cached per lambda.

    Building the table costs 15 x 9 quadratures (under a second); evaluation is a spline.
    """
    return _PairLaw(round(float(lam), 12))
