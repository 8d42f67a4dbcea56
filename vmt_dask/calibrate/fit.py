"""Calibrate the model's parameters theta to a segmented three-phase image.

Method (paper Section 2.2 model; statistics in :mod:`vmt_dask.calibrate.statistics`):

1. **Thresholds in closed form.**  lambda_X, lambda_Y from the image's SE and AM volume
   fractions by inverting P(X' + X'' >= lambda) (:mod:`vmt_dask.calibrate.law`).
2. **Covariance parameters and a from the two-point statistics.**  The five remaining
   parameters u = log(alpha_xt, alpha_yt, alpha_x, alpha_y, a) minimise the weighted squared
   difference between the image's statistics (normalised two-point correlations of SE and
   AM in the x-y plane and along z, specific surface areas) and the model's expectation of
   the same estimators in a box of the image's shape (exact up to quadrature, including the
   window bias of the normalised correlation).  Optimiser: ``scipy.optimize.least_squares``
   (trust-region reflective with bounds) from each of a few starts: the residuals are
   smooth in u, bounded, few (about 40) and cheap, the textbook case for a bounded
   Gauss-Newton/Levenberg method; it also returns the Jacobian used for the error estimate.
   The two fields of a phase can trade roles (a long-range chi-square part with a short-range
   Gaussian part, or the reverse; e.g. BM03 at 32^3 x 0.6 um): both are local minima, so
   the best solution is continued with alpha_xt <-> alpha_x, alpha_yt <-> alpha_y and both
   exchanged, and the distinct minima are refitted with the whitened weights of step 3.
3. **Sampling spread from model realizations with common random numbers.**  ``realizations``
   realizations at the fitted theta (seeds from ``numpy.random.SeedSequence(seed)``, the same
   for every theta) give the spread sigma_k of each statistic; the fit is repeated with
   weights 1 / sigma_k^2.  These evaluations run as Dask futures when a client is given, with
   one record per realization in the store (resume).
4. **Optional refinement by simulation** (``refine_budget`` > 0): Nelder-Mead
   (``scipy.optimize.minimize``, derivative-free, so it tolerates the small jumps of a
   thresholded simulation even with common random numbers) on the discrepancy between the
   image and the mean statistics of the realizations at theta, with at most
   ``refine_budget`` evaluations of ``realizations`` realizations each.  It corrects what
   the analytic expectation does not model (another generator's lattice covariance).
5. **Discrepancy and acceptance.**  Per statistic z_k = (s_k - m_k(theta)) / sigma_k.  If the
   model holds at theta, each z_k is approximately Student-t with R - 1 degrees of freedom
   (sigma_k estimated from R realizations); the fit is accepted when max_k |z_k| is below
   the Bonferroni bound t_{R-1}(1 - level / (2K)) (family-wise false rejection <= level).
6. **Parameter standard errors** (sandwich): with J = d m / d u, W = diag(sigma^-2) and the
   deviations d_i of each realization's statistics from their mean, the linearised estimate
   error of realization i is G^-1 J^T W d_i (G = J^T W J); their sample covariance estimates
   Cov(u-hat).  A parameter the statistics do not constrain (e.g. a correlation length
   beyond the box) gets a large or infinite standard error.  A second minimum that a
   likelihood-ratio test at ``level`` does not separate from the best (2 delta-cost below
   the chi-square(1) quantile) makes the estimate a coin flip between the two: each
   parameter's variance gets (distance / 2)^2 added, the variance of an equal two-point
   mixture (``cost["tied_minima"]`` counts them).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import scipy.optimize
import scipy.stats

from ..domain import AM, PARAMETER_NAMES, SE, TABLE1
from ..errors import InputError
from ..validation import check_spacing
from .law import thresholds_from_fractions
from .runner import Runner
from .statistics import default_lags, expected_statistics, measure_statistics, statistic_names

__all__ = ["fit_theta", "CalibrationResult", "discrepancy", "seeds_for", "FREE_PARAMETERS",
           "LOWER", "UPPER"]

#: Parameters fitted from the two-point statistics (the thresholds come in closed form).
FREE_PARAMETERS: tuple[str, ...] = ("alpha_xt", "alpha_yt", "alpha_x", "alpha_y", "a")
_FREE_IDX = [PARAMETER_NAMES.index(n) for n in FREE_PARAMETERS]
#: Bounds of the free parameters during the fit (alpha >= 0.01: a correlation length of
#: 100 l0 = 20 micrometres, beyond any calibration image; smaller alphas also make the
#: generator's kernels, and so every realization, very expensive).
LOWER = np.array([0.01, 0.01, 0.01, 0.01, 0.3])
UPPER = np.array([10.0, 10.0, 10.0, 10.0, 3.0])
#: Tolerance of the nominal-weight fits that only locate the basins (step 2a).
BASIN_TOL = 1e-4


def seeds_for(seed: int, n: int) -> list[int]:
    """``n`` realization seeds from ``SeedSequence(seed)`` (the common random numbers)."""
    ss = np.random.SeedSequence(int(seed))
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in ss.spawn(n)]


@dataclass
class CalibrationResult:
    """Outcome of :func:`fit_theta` (all arrays in the order of ``names``)."""

    theta: tuple[float, ...]
    names: list[str]
    lags: list[int]
    observed: np.ndarray
    expected: np.ndarray
    simulated_mean: np.ndarray
    sigma: np.ndarray
    z: np.ndarray
    bound: float
    level: float
    std_errors: dict            # standard error: of log(parameter) for alphas and a, of lambda itself
    volume_fractions: dict
    shape: tuple[int, int, int]
    voxel_size: float
    seeds: list[int]
    cost: dict
    history: list = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """max |z| within the Bonferroni bound."""
        return bool(np.nanmax(np.abs(self.z)) <= self.bound)

    @property
    def conclusive(self) -> bool:
        """Whether the test can reject a fit at all: the t bound of R - 1 degrees of freedom at
        most ``CONCLUSIVE_FACTOR`` times the bound with sigma known (the normal quantile at the
        same Bonferroni level).  With too few realizations the estimated spread makes the bound
        huge (R = 2, K = 38 statistics, level 0.01: t_1 ~ 2400 vs 3.9), so "within the bound"
        says nothing."""
        return bool(self.bound <= _conclusive_limit(len(self.z), self.level))

    @property
    def verdict(self) -> str:
        """"REJECTED" (max |z| above the bound), "accepted", or "inconclusive" (within a bound
        too wide to reject anything, see ``conclusive``: use more realizations)."""
        if not self.accepted:
            return "REJECTED"
        return "accepted" if self.conclusive else "inconclusive"

    @property
    def max_abs_z(self) -> float:
        return float(np.nanmax(np.abs(self.z)))

    def theta_dict(self) -> dict:
        return dict(zip(PARAMETER_NAMES, self.theta))

    def to_dict(self) -> dict:
        def arr(a):
            return [None if not math.isfinite(float(x)) else float(x) for x in a]
        return {
            "theta": self.theta_dict(),
            "std_errors_log": {k: (None if not math.isfinite(v) else v) for k, v in self.std_errors.items()},
            "accepted": self.accepted, "conclusive": self.conclusive, "verdict": self.verdict,
            "max_abs_z": self.max_abs_z, "bound": self.bound,
            "level": self.level,
            "statistics": [{"name": n, "observed": o, "expected": e, "simulated_mean": m, "sigma": s,
                            "z": z} for n, o, e, m, s, z in zip(
                self.names, arr(self.observed), arr(self.expected), arr(self.simulated_mean),
                arr(self.sigma), arr(self.z))],
            "lags": self.lags, "volume_fractions": self.volume_fractions,
            "shape": list(self.shape), "voxel_size": self.voxel_size, "seeds": self.seeds,
            "cost": self.cost, "history": self.history,
        }


def _theta(u: np.ndarray, lx: float, ly: float) -> np.ndarray:
    th = np.empty(7)
    th[_FREE_IDX] = np.exp(u)
    th[5], th[6] = lx, ly
    return th


# A bound at most 3x the known-sigma bound still rejects a discrepancy of ~3 normal bounds
# (~12 standard deviations at K = 38, level 0.01); R = 6 (the CLI default) meets it up to
# K ~ 100 statistics at level 0.01 (a 48^3 fit has 38), R = 2-4 never does.
CONCLUSIVE_FACTOR = 3.0


def _conclusive_limit(K: int, level: float) -> float:
    return CONCLUSIVE_FACTOR * float(scipy.stats.norm.ppf(1.0 - level / (2.0 * max(K, 1))))


def min_conclusive_realizations(K: int, level: float) -> int:
    """Smallest R whose Bonferroni t bound is conclusive (``FitResult.conclusive``) for K statistics."""
    limit = _conclusive_limit(K, level)
    R = 2
    while _bonferroni_bound(R, K, level) > limit and R < 1000:
        R += 1
    return R


def _bonferroni_bound(R: int, K: int, level: float) -> float:
    return float(scipy.stats.t.ppf(1.0 - level / (2.0 * K), df=max(R - 1, 1)))


def discrepancy(observed: np.ndarray, model: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Per-statistic z = (observed - model) / sigma (NaN where sigma is not positive)."""
    sigma = np.asarray(sigma, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sigma > 0, (np.asarray(observed) - np.asarray(model)) / sigma, np.nan)


def _check_labels(labels) -> np.ndarray:
    from ..validation import as_labels

    labels = as_labels(labels)   # TypeError / DTypeError / InputError per the contract
    if min(labels.shape) < 8:
        raise InputError(f"labels need at least 8 voxels along every axis, got shape {labels.shape}")
    bad = np.setdiff1d(np.unique(labels), [0, SE, AM])
    if bad.size:
        raise InputError(f"labels must be 0 = pore, 1 = SE, 2 = AM, found {bad[:5].tolist()}")
    return labels


def _check_voxel(voxel_size) -> float:
    sp = check_spacing(voxel_size)
    if max(sp) - min(sp) > 1e-9 * max(sp):
        raise InputError(f"voxel_size: calibration needs cubic voxels, got {voxel_size!r}")
    return float(sp[0])


def fit_theta(labels: np.ndarray, *, voxel_size: "float | Sequence[float]" = 0.2,
              lags: "Sequence[int] | None" = None, realizations: int = 4, seed: int = 0,
              sim_shape: "Sequence[int] | None" = None, refine_budget: int = 0,
              level: float = 0.01, client=None, store: "str | None" = None,
              progress: "Callable | None" = None) -> CalibrationResult:
    """Calibrate theta to a label image (see the module docstring for the method).

    Parameters
    ----------
    labels : numpy.ndarray of integers, shape (nx, ny, nz), each >= 8
        0 = pore, 1 = SE, 2 = AM, indexed (x, y, z) with z the pressing direction.
    voxel_size : float or (dx, dy, dz)
        Cubic voxel edge in micrometres (default 0.2, the paper's grid).
    lags : sequence of int, optional
        Two-point lags in voxels (default :func:`~vmt_dask.calibrate.statistics.default_lags`).
    realizations : int
        R >= 2 model realizations (common seeds) for the sampling spread and the refinement.
    seed : int
        Root of the realization seeds (``SeedSequence(seed).spawn(R)``).
    sim_shape : (nx, ny, nz), optional
        Grid of the realizations (default: the image's).  The spread is rescaled to the
        image's volume (variance of a spatial mean ~ 1 / volume).
    refine_budget : int
        Largest number of simulation-based Nelder-Mead evaluations (0: none).
    level : float
        Family-wise false-rejection level of the acceptance bound.
    client : distributed.Client, optional
        Run the realizations as Dask futures.
    store : str, optional
        Store for one record per realization (a rerun reuses them).
    progress : callable, optional
        ``progress(done, total, stage)``.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    TypeError
        ``labels`` is not a numpy array, or not integer/boolean (``DTypeError``).
    vmt_dask.errors.InputError
        Not 3-D, too small, labels other than 0/1/2, a phase absent or filling the image,
        non-cubic voxels, bad ``realizations``/``lags``.
    """
    t_start = time.perf_counter()
    labels = _check_labels(labels)
    v = _check_voxel(voxel_size)
    if isinstance(realizations, bool) or not isinstance(realizations, int) or realizations < 2:
        raise InputError(f"realizations must be an integer >= 2, got {realizations!r}")
    if isinstance(refine_budget, bool) or not isinstance(refine_budget, int) or refine_budget < 0:
        raise InputError(f"refine_budget must be a non-negative integer, got {refine_budget!r}")
    shape = tuple(int(s) for s in labels.shape)
    lags = list(default_lags(shape) if lags is None else (int(h) for h in lags))
    if not lags or min(lags) < 1 or max(lags) >= min(shape):
        raise InputError(f"lags must be positive and shorter than the image's edges {shape}, got {lags!r}")
    sim_shape = shape if sim_shape is None else tuple(int(s) for s in sim_shape)
    if len(sim_shape) != 3 or min(sim_shape) <= max(lags):
        raise InputError(f"sim_shape must be three edges longer than the largest lag, got {sim_shape!r}")

    # 1. thresholds in closed form
    eps_se = float(np.mean(labels == SE))
    eps_am = float(np.mean(labels == AM))
    for name, eps in (("SE", eps_se), ("AM", eps_am)):
        if eps <= 0.0 or eps >= 1.0:
            raise InputError(f"volume fraction of {name} is {eps:g}: the phase must be present and not fill the image")
    lx, ly = thresholds_from_fractions(eps_se, eps_am)
    obs = measure_statistics(labels, voxel_size=v, lags=lags)["vector"]
    names = statistic_names(lags)
    K = len(names)
    is_sv = np.array([n.startswith("S_V") for n in names])

    def model(u):
        return expected_statistics(_theta(u, lx, ly), voxel_size=v, lags=lags, shape=shape)

    lo, hi = np.log(LOWER), np.log(UPPER)
    history: list = []

    def fit_analytic(u0_list, sigma, keep=2, tol=1e-8):
        """Local fits from the ``keep`` starts of lowest cost; all results, best first.
        ``tol``: ftol = xtol = gtol of least_squares (1e-8 is its default)."""
        u0_list = [np.clip(u0, lo + 1e-9, hi - 1e-9) for u0 in u0_list]
        if len(u0_list) > keep:  # run from the `keep` best starts only
            costs = [float(np.nansum(((model(u0) - obs) / sigma) ** 2)) for u0 in u0_list]
            u0_list = [u0_list[i] for i in np.argsort(costs)[:keep]]
        out = []
        for u0 in u0_list:
            res = scipy.optimize.least_squares(lambda u: (model(u) - obs) / sigma, u0, bounds=(lo, hi),
                                               x_scale=1.0, diff_step=1e-4, max_nfev=80,
                                               ftol=tol, xtol=tol, gtol=tol)
            history.append({"stage": "analytic", "start": _theta(u0, lx, ly).tolist(),
                            "theta": _theta(res.x, lx, ly).tolist(), "cost": float(res.cost),
                            "nfev": int(res.nfev)})
            out.append(res)
        return sorted(out, key=lambda r: r.cost)

    # 2a. nominal weights: 0.03 on a correlation, 5 % on a surface area (only to find the basin)
    sigma0 = np.where(is_sv, 0.05 * np.abs(obs) + 1e-6, 0.03)
    starts = [np.log(np.array(t)[_FREE_IDX]) for t in TABLE1.values()]
    starts.append(np.log(np.array([0.1, 0.3, 0.1, 0.3, 1.0])))
    # (only the basin matters here: step 2b refits every minimum to least_squares' default
    # tolerance, so these stop at 1e-4 relative change)
    # Every start is fitted (until session 5 only the two of lowest initial cost: T4 at 32^3 x
    # 0.6 um, image seed 12346, lost the basin of the truth that way, reached from the BM03 and
    # BM10 starts, initial costs 231 and 764 against 55 and 128: alpha_xt 13.3 SE off).
    found = fit_analytic(starts, sigma0, keep=len(starts), tol=BASIN_TOL)
    # The two fields of each phase can trade roles (a long-range chi-square part X' with a
    # short-range Gaussian X'', or the reverse): both are local minima of the two-point
    # statistics, and which one a start falls into is chance.  So every fit is continued from
    # the best solution with the roles exchanged (X pair, Y pair, both) and all minima compete.
    found += fit_analytic(_role_swaps(found[0].x), sigma0, keep=3, tol=BASIN_TOL)
    found.sort(key=lambda r: r.cost)
    first = found[0]

    # 3. sampling spread from R realizations at the first fit (common random numbers)
    runner = Runner(client=client, store=store, name="calibrate", progress=progress)
    seeds = seeds_for(seed, realizations)

    def simulate(u):
        th = _theta(u, lx, ly)
        jobs = [{"kind": "stats", "theta": [float(x) for x in th], "seed": s, "shape": list(sim_shape),
                 "voxel_size": v, "lags": lags} for s in seeds]
        recs = runner.run(jobs)
        # statistics, then the two volume fractions (for the thresholds' errors)
        return np.array([list(r["vector"]) + [r["volume_fraction_SE"], r["volume_fraction_AM"]]
                         for r in recs], dtype=np.float64)

    sims = simulate(first.x)[:, :K]
    scale = math.sqrt(float(np.prod(sim_shape)) / float(np.prod(shape)))
    sd = np.nanstd(sims, axis=0, ddof=1) * scale
    # floor: a statistic that never varies across R realizations still has sampling noise;
    # 1/4 of the nominal scale keeps the weights finite
    sigma = np.maximum(np.nan_to_num(sd, nan=np.inf), 0.25 * sigma0)
    # 2b. whitened refit from the distinct minima of 2a (their ranking can change with the
    # weights)
    minima = []
    for r in found:
        if all(np.max(np.abs(r.x - m)) > 1e-3 for m in minima):
            minima.append(r.x)
    # every distinct minimum is refitted whitened: which one is lowest is decided here, not by
    # the nominal weights (fitting every start but refitting only the two of lowest whitened
    # start cost lost BM01 at 12345 and BM10 at 12347 to their wrong modes)
    whitened = fit_analytic(minima, sigma, keep=len(minima))
    second = whitened[0]
    u_hat = second.x
    # minima the image cannot tell from the best: a likelihood-ratio test at the fit's level
    # (2 delta-cost against chi-square with 1 degree of freedom; cost = sum z^2 / 2) does not
    # separate them.  The estimator then lands in either by chance, so its spread includes
    # the distance between them (item 6).
    tie = 0.5 * float(scipy.stats.chi2.ppf(1.0 - level, df=1))
    rivals = [r.x for r in whitened[1:] if r.cost - second.cost <= tie and np.max(np.abs(r.x - second.x)) > 1e-3]

    # 4. optional refinement by simulation (Nelder-Mead, budgeted)
    sim_at = {tuple(first.x.round(12)): runner_last(runner)}
    if refine_budget > 0:
        sig_sim = sigma * math.sqrt(1.0 + 1.0 / realizations)

        def objective(u):
            key = tuple(np.asarray(u).round(12))
            if key not in sim_at:
                sim_at[key] = simulate(np.asarray(u))
            m = np.nanmean(sim_at[key][:, :K], axis=0)
            val = float(np.nansum(((obs - m) / sig_sim) ** 2))
            history.append({"stage": "simulation", "theta": _theta(np.asarray(u), lx, ly).tolist(),
                            "objective": val})
            return val

        step = 0.1
        simplex = np.array([u_hat] + [u_hat + step * np.eye(5)[i] for i in range(5)])
        simplex = np.clip(simplex, lo, hi)
        res = scipy.optimize.minimize(objective, u_hat, method="Nelder-Mead", bounds=list(zip(lo, hi)),
                                      options={"maxfev": refine_budget, "initial_simplex": simplex,
                                               "xatol": 1e-3, "fatol": 1e-2})
        u_hat = np.asarray(res.x)

    key = tuple(np.asarray(u_hat).round(12))
    if key not in sim_at:
        sim_at[key] = simulate(u_hat)
    fractions_hat = sim_at[key][:, K:]
    sims_hat = sim_at[key][:, :K]
    sim_mean = np.nanmean(sims_hat, axis=0)
    expected = model(u_hat)
    # 5. discrepancy against the realizations' mean (variance sigma^2 (1 + 1/R))
    z = discrepancy(obs, sim_mean, sigma * math.sqrt(1.0 + 1.0 / realizations))
    bound = _bonferroni_bound(realizations, K, level)

    # 6. sandwich standard errors of u from the realizations' deviations
    dlam = _threshold_deviations(fractions_hat, lx, ly) * scale     # (R, 2)

    def model_lam(lam):
        return expected_statistics(_theta(u_hat, lam[0], lam[1]), voxel_size=v, lags=lags, shape=shape)

    std_err = _standard_errors(model, u_hat, sigma, (sims_hat - sim_mean) * scale, model_lam,
                               np.array([lx, ly]), dlam)
    for j, name in enumerate(FREE_PARAMETERS):
        # a two-point mixture of the modes, equal weights: variance + (distance / 2)^2
        gap = max((abs(float(r[j] - u_hat[j])) for r in rivals), default=0.0)
        if gap > 0 and math.isfinite(std_err[name]):
            std_err[name] = math.hypot(std_err[name], gap / 2)
    std_err.update({"lambda_x": float(np.std(dlam[:, 0], ddof=1)),
                    "lambda_y": float(np.std(dlam[:, 1], ddof=1))})
    theta = tuple(float(x) for x in _theta(u_hat, lx, ly))
    runner.finish()
    cost = dict(runner.cost())
    cost["analytic_evaluations"] = int(sum(h.get("nfev", 0) for h in history))
    cost["wall_seconds"] = time.perf_counter() - t_start
    cost["tied_minima"] = len(rivals)
    return CalibrationResult(
        theta=theta, names=names, lags=lags, observed=obs, expected=expected, simulated_mean=sim_mean,
        sigma=sigma, z=z, bound=bound, level=level, std_errors=std_err,
        volume_fractions={"SE": eps_se, "AM": eps_am, "pore": 1.0 - eps_se - eps_am},
        shape=shape, voxel_size=v, seeds=seeds, cost=cost, history=history)


def _role_swaps(u: np.ndarray) -> list[np.ndarray]:
    """``u`` (log alpha_xt, alpha_yt, alpha_x, alpha_y, a) with alpha_xt <-> alpha_x, with
    alpha_yt <-> alpha_y, and with both exchanged."""
    out = []
    for pairs in (((0, 2),), ((1, 3),), ((0, 2), (1, 3))):
        w = np.array(u, dtype=float)
        for a, b in pairs:
            w[a], w[b] = u[b], u[a]
        out.append(w)
    return out


def runner_last(runner) -> np.ndarray:
    return np.array([list(r["vector"]) + [r["volume_fraction_SE"], r["volume_fraction_AM"]]
                     for r in runner.last_records], dtype=np.float64)


def _threshold_deviations(fractions, lx, ly) -> np.ndarray:
    """Deviation of each realization's thresholds from the mean, (R, 2), by the delta method.

    lambda = P^-1(eps) so d lambda = -d eps / |dP/d lambda| with dP/d lambda from the closed
    form; lambda_Y depends on eps_AM / (1 - eps_SE).
    """
    from .law import exceedance

    e_se, e_am = fractions[:, 0], fractions[:, 1]
    q = e_am / np.maximum(1.0 - e_se, 1e-12)
    h = 1e-5
    dpx = abs(exceedance(lx + h) - exceedance(lx - h)) / (2 * h)
    dpy = abs(exceedance(ly + h) - exceedance(ly - h)) / (2 * h)
    return np.stack([-(e_se - e_se.mean()) / dpx, -(q - q.mean()) / dpy], axis=1)


def _standard_errors(model, u, sigma, deviations, model_lam, lam, dlam) -> dict:
    """Log-scale standard errors of the free parameters (module docstring, item 6).

    The estimate solves m(u, lambda-hat) ~ s, so to first order
    J du + J_lambda d lambda = d s and du = G^-1 J^T W (d s - J_lambda d lambda): the
    thresholds' own sampling error (from the volume fractions) is propagated too.
    """
    h = 1e-4
    m0 = model(u)
    J = np.empty((m0.size, u.size))
    for j in range(u.size):
        du = np.zeros_like(u)
        du[j] = h
        J[:, j] = (model(u + du) - m0) / h
    w = 1.0 / sigma ** 2
    G = J.T @ (J * w[:, None])
    evals, evecs = np.linalg.eigh(G)
    floor = max(float(evals.max()), 1e-300) * 1e-12
    Ginv = (evecs / np.maximum(evals, floor)) @ evecs.T
    m_lam = model_lam(lam)
    J_lam = np.empty((m0.size, 2))
    hl = 1e-3
    for j in range(2):
        dl = np.zeros(2)
        dl[j] = hl
        J_lam[:, j] = (model_lam(lam + dl) - m_lam) / hl
    D = np.nan_to_num(deviations) - dlam @ J_lam.T
    du_i = (Ginv @ (J.T @ (D * w[None, :]).T)).T            # (R, 5)
    cov = np.cov(du_i, rowvar=False, ddof=1)
    var = np.diag(np.atleast_2d(cov)).copy()
    # directions G cannot see: infinite error
    weak = evals < floor * 10
    if weak.any():
        for k in np.nonzero(weak)[0]:
            var[np.abs(evecs[:, k]) > 0.1] = np.inf
    return {n: float(math.sqrt(x)) if math.isfinite(x) else math.inf for n, x in zip(FREE_PARAMETERS, var)}
