"""The statistics a calibration matches: two-point functions and specific surface areas.

For a label volume (0 = pore, 1 = SE, 2 = AM) the statistic vector holds, for SE and AM,
the normalised two-point correlation c(h) = (S2(h) - p^2) / (p - p^2) in the x-y plane
(mean of the x and y directions: the model is isotropic in-plane) and along z, at lags
``h`` voxels, and the specific surface area (Crofton estimator).  The same vector is
predicted for the model (paper Eqs. 1-6) in closed form up to one 3-D quadrature
(:mod:`vmt_dask.calibrate.law`): with rho(v) = exp(-sum_d (alpha_d v_d)^2) the lattice
covariance of a field (exact on the lattice for the model's kernels),

    S2_SE(v) = F_X(rho_X~(v), rho_X''(v))
    S2_AM(v) = (1 - 2 p_X + F_X(v)) F_Y(rho_Y~(v), rho_Y''(v))

(X and Y independent; AM = {X < lambda_X} and {Y >= lambda_Y}), and the Crofton estimator's
expectation is S_V = (2 / l) sum_j w_j 2 (p - S2(v_j)) / |v_j| over its 13 lattice
directions v_j (l: voxel size), because the estimator counts phase changes between the
lattice neighbours along v_j.

Pure numerics: numpy in, numpy out.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from ..descriptors.surface_area import CROFTON_DIRECTIONS, CROFTON_WEIGHTS, specific_surface_area
from ..domain import AM, SE
from ..model.kernels import axis_alphas
from ..statistics.two_point import two_point_probability
from .law import exceedance, pair_law

__all__ = ["DEFAULT_LAGS", "default_lags", "statistic_names", "measure_statistics",
           "expected_statistics", "window_variance", "FIT_PHASES"]

#: Lags (voxels) of the two-point functions, before trimming to the volume.
DEFAULT_LAGS: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 11, 16, 22, 32)
#: Phases whose statistics are matched.
FIT_PHASES: tuple[str, ...] = ("SE", "AM")
_CODES = {"SE": SE, "AM": AM}


def default_lags(shape: Sequence[int]) -> tuple[int, ...]:
    """The default lags shorter than half the smallest edge of ``shape``."""
    n = min(int(s) for s in shape)
    lags = tuple(h for h in DEFAULT_LAGS if h <= max(1, n // 2))
    return lags or (1,)


def statistic_names(lags: Sequence[int]) -> list[str]:
    """Names of the fitted statistics in vector order: ``c_SE_xy[1]``, ..., ``S_V_AM``."""
    names = []
    for ph in FIT_PHASES:
        for d in ("xy", "z"):
            names += [f"c_{ph}_{d}[{h}]" for h in lags]
    names += [f"S_V_{ph}" for ph in FIT_PHASES]
    return names


def _corr(s2: np.ndarray, p: float) -> np.ndarray:
    var = p - p * p
    if var <= 0:
        return np.full(s2.shape, np.nan)
    return (s2 - p * p) / var


def measure_statistics(labels: np.ndarray, *, voxel_size: float, lags: Sequence[int]) -> dict:
    """Measured statistics of a label volume.

    Parameters
    ----------
    labels : numpy.ndarray of uint8, shape (nx, ny, nz)
        0 = pore, 1 = SE, 2 = AM; indexed (x, y, z), z the pressing direction.
    voxel_size : float
        Edge of a (cubic) voxel, micrometres.
    lags : sequence of int
        Lags in voxels, each < the volume's edge along every axis.

    Returns
    -------
    dict
        ``volume_fraction_SE``, ``volume_fraction_AM`` (floats) and ``vector`` (numpy float64
        array in the order of :func:`statistic_names`).
    """
    lags = [int(h) for h in lags]
    L = max(lags)
    out = {}
    vec = []
    for ph in FIT_PHASES:
        mask = labels == _CODES[ph]
        p = float(mask.mean())
        out[f"volume_fraction_{ph}"] = p
        sx = two_point_probability(mask, axis=0, max_lag=L)
        sy = two_point_probability(mask, axis=1, max_lag=L)
        sz = two_point_probability(mask, axis=2, max_lag=L)
        cxy = _corr(0.5 * (sx + sy), p)
        cz = _corr(sz, p)
        vec += [cxy[lags], cz[lags]]
    sv = [specific_surface_area(labels == _CODES[ph], voxel_size=voxel_size) for ph in FIT_PHASES]
    vec.append(np.array(sv))
    out["vector"] = np.concatenate(vec).astype(np.float64)
    return out


def _rho(alpha: float, a: float, voxel_size: float, vectors_sq: np.ndarray) -> np.ndarray:
    """exp(-sum_d (alpha_d v_d)^2) for lag vectors given by their squared components (k, 3)."""
    ad = np.array(axis_alphas(alpha, a, voxel_size))
    return np.exp(-(vectors_sq @ (ad * ad)))


@lru_cache(maxsize=32)
def _window_weights(n: int, cap: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Lags 0..n-1 along one axis and their pair multiplicities 2 (n - v) (1 x n for v = 0).

    Beyond ``cap`` lags a uniform stride is used and each kept lag carries the weight of
    the lags it stands for (the covariance is smooth there).
    """
    v = np.arange(n)
    w = np.where(v == 0, n, 2 * (n - v)).astype(np.float64)
    if n <= cap:
        return v.astype(np.float64), w
    head = 6
    stride = int(np.ceil((n - head) / (cap - head)))
    keep_v, keep_w = list(v[:head]), list(w[:head])
    for s0 in range(head, n, stride):
        block = slice(s0, min(n, s0 + stride))
        keep_v.append(float(np.average(v[block], weights=w[block])))
        keep_w.append(float(w[block].sum()))
    return np.array(keep_v, dtype=np.float64), np.array(keep_w)


@lru_cache(maxsize=8)
def _window_grid(shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    grids = [_window_weights(int(n)) for n in shape]
    vx, vy, vz = np.meshgrid(grids[0][0], grids[1][0], grids[2][0], indexing="ij")
    w = grids[0][1][:, None, None] * grids[1][1][None, :, None] * grids[2][1][None, None, :]
    V = float(np.prod([int(n) for n in shape]))
    return np.stack([vx.ravel(), vy.ravel(), vz.ravel()], axis=-1), w.ravel() / (V * V)


def window_variance(s2_fn, p: float, shape: Sequence[int]) -> float:
    """Variance of the volume fraction measured in a box: (1 / V^2) sum_{x, y} C(x - y).

    ``s2_fn(vectors)`` gives S2 at lag vectors (k, 3); C = S2 - p^2 is even in each
    component, so the sum runs over the non-negative octant with multiplicities (beyond
    8 lags per axis on a stride, each kept lag weighted for the lags it stands for).
    """
    vectors, w = _window_grid(tuple(int(n) for n in shape))
    return float(((s2_fn(vectors) - p * p) * w).sum())


def expected_statistics(theta: Sequence[float], *, voxel_size: float, lags: Sequence[int],
                        shape: "Sequence[int] | None" = None) -> np.ndarray:
    """Model expectation of the statistic vector (order of :func:`statistic_names`).

    Parameters
    ----------
    theta : sequence of 7 floats
        (alpha_xt, alpha_yt, alpha_x, alpha_y, a, lambda_x, lambda_y), paper Eq. 8.
    voxel_size : float
        Voxel edge, micrometres (alphas are in 1/l0, l0 = 0.2 micrometre).
    lags : sequence of int
        Lags in voxels.

    Returns
    -------
    numpy.ndarray of float64

    shape : (nx, ny, nz), optional
        Box of the measured volume.  The normalised correlation uses the box's own volume
        fraction p^ (not the model's p), which biases it: E[S2^ - p^2^] = S2 - p^2 - Var p^.
        With ``shape`` the expectation includes this window bias, to first order
        E[c^] = (S2 - p^2 - Var p^) / (p - p^2 - Var p^), with Var p^ from the model's
        covariance summed over the box (:func:`window_variance`).  Without it, the
        infinite-window values are returned.

    Notes
    -----
    Exact for the lattice generator (whose lattice covariance is exp(-(alpha h)^2) at integer
    lags) up to the quadrature and spline error of :func:`~vmt_dask.calibrate.law.pair_law`
    (about 1e-3 on c(h)); see the module docstring for the formulas.
    """
    axt, ayt, ax, ay, a, lx, ly = (float(v) for v in theta)
    lags = np.asarray([int(h) for h in lags], dtype=np.float64)
    zero = np.zeros_like(lags)
    vxy = np.stack([lags, zero, zero], axis=-1)
    vz = np.stack([zero, zero, lags], axis=-1)
    vc = CROFTON_DIRECTIONS.astype(np.float64)
    vectors = np.concatenate([vxy, vz, vc])
    FX, FY = pair_law(lx), pair_law(ly)
    px, py = exceedance(lx), exceedance(ly)
    n_main = vectors.shape[0]
    if shape is not None:
        wvec, wgt = _window_grid(tuple(int(n) for n in shape))
        vectors = np.concatenate([vectors, wvec])
    vsq = vectors * vectors
    s2x = FX(_rho(axt, a, voxel_size, vsq), _rho(ax, a, voxel_size, vsq))
    s2y = FY(_rho(ayt, a, voxel_size, vsq), _rho(ay, a, voxel_size, vsq))
    s2_se_all = s2x
    s2_am_all = (1.0 - 2.0 * px + s2x) * s2y
    p_se, p_am = px, (1.0 - px) * py
    n = lags.size
    lengths = np.sqrt((vc * vc).sum(axis=1))
    vec = []
    svs = []
    for s2_all, p in ((s2_se_all, p_se), (s2_am_all, p_am)):
        s2 = s2_all[:n_main]
        varp = 0.0 if shape is None else float(((s2_all[n_main:] - p * p) * wgt).sum())
        c = (s2 - p * p - varp) / max(p - p * p - varp, 1e-12)
        vec += [c[:n], c[n:2 * n]]
        svs.append(2.0 / voxel_size * float((CROFTON_WEIGHTS * 2.0 * (p - s2[2 * n:]) / lengths).sum()))
    vec.append(np.array(svs))
    return np.concatenate(vec)
