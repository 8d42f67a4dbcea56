"""Least-squares fitting of the M-factor predictors (paper Eq. 22).

The pure solver :func:`fit_power_law` takes descriptor arrays and M-factors;
:func:`fit` and :func:`fit_all` take a study results Dataset (see
``docs/results-schema.md``), screen it for values a power law cannot use,
split it, fit on the training part and score on the test part.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import minimize

from ..errors import InputError
from .metrics import mape, r2
from .models import MODEL_NAMES, Model, descriptor_variable, get_model, predict
from .split import DEFAULT_SEED, train_test_split

__all__ = [
    "PHASES",
    "EXPONENT_BOUND",
    "Exclusion",
    "PowerLawFit",
    "FitResult",
    "fit_power_law",
    "screen",
    "fit",
    "fit_all",
]

log = logging.getLogger(__name__)

PHASES: tuple[str, ...] = ("AM", "SE")

#: Bound on every exponent, |c_k| <= EXPONENT_BOUND.  The paper's largest is
#: |c4| = 21.5 (AM, M2); an exponent at this bound means the descriptor barely
#: varies and the fit is not identifiable, which is reported.
EXPONENT_BOUND = 100.0

#: Convergence tolerance: largest cosine between the residual vector and a
#: column of the Jacobian at the solution (0 at an exact optimum).
GRADIENT_COSINE_TOL = 1e-4

#: Bounds of M1's exponent c1 (the paper requires c1 > 0).
M1_BOUNDS = (1e-6, EXPONENT_BOUND)


@dataclass(frozen=True)
class Exclusion:
    """A structure left out of a fit, and why.

    Attributes
    ----------
    position : int
        Position along the ``structure`` dimension.
    label : str
        The structure's coordinate value with its provenance (pair, t,
        function, h), for messages.
    reason : str
        What is wrong with it, naming the variable and value.
    """

    position: int
    label: str
    reason: str

    def __str__(self) -> str:
        return f"{self.label}: {self.reason}"


@dataclass(frozen=True)
class PowerLawFit:
    """Outcome of :func:`fit_power_law`.

    Attributes
    ----------
    coefficients : ndarray
        ``c1 .. cK`` in the paper's order.
    start : ndarray
        Starting values (log-linear least squares), same order.
    objective : float
        ``g(C)`` of Eq. (22) at the solution (sum of squared residuals).
    start_objective : float
        ``g`` at the starting values.
    converged : bool
        The residual is orthogonal to the model's tangent space:
        ``gradient_cosine <= GRADIENT_COSINE_TOL``.
    message : str
        The optimizer's message.
    n_iter : int
        L-BFGS-B iterations.
    gradient_cosine : float
        Largest cosine between the residual and a free Jacobian column at the
        solution (0 at an exact optimum).
    warnings : tuple of str
        Problems that do not stop the fit (exponent at its bound, constant
        descriptor, no convergence).
    """

    coefficients: np.ndarray
    start: np.ndarray
    objective: float
    start_objective: float
    converged: bool
    message: str
    n_iter: int
    gradient_cosine: float = 0.0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FitResult:
    """One fitted predictor for one phase, scored on the test set.

    Attributes
    ----------
    phase, model : str
        ``"AM"``/``"SE"`` and ``"M1"`` .. ``"M4"``.
    coefficients : tuple of float
        ``c1 .. cK`` (paper Table 5 order).
    mape, r2 : float
        MAPE (percent, Eq. 23) and R^2 (Eq. 24) on the test set; R^2 is NaN
        when the test M-factors are all equal (reported in ``warnings``).
    mape_train, r2_train : float
        The same on the training set.
    train, test : ndarray of int
        Structure positions used for training and testing (after exclusions).
    observed_train, predicted_train, observed_test, predicted_test : ndarray
        Simulated and predicted M-factors.
    exclusions : tuple of Exclusion
        Structures left out, with reasons.
    fit : PowerLawFit
        Optimizer details (start, objective, convergence).
    seed : int or None
        Seed of the train/test split.
    warnings : tuple of str
        Everything the user should know about this fit.
    """

    phase: str
    model: str
    coefficients: tuple[float, ...]
    mape: float
    r2: float
    mape_train: float
    r2_train: float
    train: np.ndarray
    test: np.ndarray
    observed_train: np.ndarray
    predicted_train: np.ndarray
    observed_test: np.ndarray
    predicted_test: np.ndarray
    exclusions: tuple[Exclusion, ...]
    fit: PowerLawFit
    seed: int | None
    warnings: tuple[str, ...] = field(default=())

    @property
    def converged(self) -> bool:
        """Whether the optimizer converged."""
        return self.fit.converged

    @property
    def n_train(self) -> int:
        return int(self.train.size)

    @property
    def n_test(self) -> int:
        return int(self.test.size)

    def to_dict(self) -> dict:
        """JSON-serialisable summary (no per-structure arrays)."""
        return {
            "phase": self.phase,
            "model": self.model,
            "formula": get_model(self.model).formula(),
            "coefficients": {f"c{i + 1}": float(c) for i, c in enumerate(self.coefficients)},
            "mape_percent": _json_float(self.mape),
            "r2": _json_float(self.r2),
            "mape_train_percent": _json_float(self.mape_train),
            "r2_train": _json_float(self.r2_train),
            "n_train": self.n_train,
            "n_test": self.n_test,
            "converged": self.converged,
            "optimizer_message": self.fit.message,
            "n_iter": self.fit.n_iter,
            "objective": self.fit.objective,
            "start": [float(c) for c in self.fit.start],
            "seed": self.seed,
            "excluded": [{"position": e.position, "structure": e.label, "reason": e.reason}
                         for e in self.exclusions],
            "warnings": list(self.warnings),
        }


def _json_float(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


# ----------------------------------------------------------------------------
# pure solver
# ----------------------------------------------------------------------------


def fit_power_law(
    model: str | Model,
    descriptors: Mapping[str, np.ndarray],
    observed: np.ndarray,
    *,
    exponent_bound: float = EXPONENT_BOUND,
) -> PowerLawFit:
    """Least-squares fit of one predictor of Eqs. (18)-(21).

    Parameters
    ----------
    model : {"M1", "M2", "M3", "M4"} or Model
        The predictor.
    descriptors : mapping of str to ndarray
        Descriptor values by short name (``eps``, ``mu_tau``, ``sigma_tau``,
        ``beta``), 1-D, all positive and finite.
    observed : ndarray
        Simulated M-factors ``m_j``, positive and finite, same length.
    exponent_bound : float, default 100
        Every exponent is bounded to ``[-exponent_bound, exponent_bound]``
        (M1's exponent to ``[1e-6, exponent_bound]``); prefactors are
        positive by construction.

    Returns
    -------
    PowerLawFit

    Raises
    ------
    ValueError
        If the arrays differ in length, contain non-positive or non-finite
        values, or there are fewer data than coefficients.

    Notes
    -----
    Minimises Eq. (22), ``g(C) = sum_j (m_j - M_C(V_j))^2``, with
    ``scipy.optimize.minimize(method="L-BFGS-B")`` and the analytic gradient.

    Starting values come from ordinary least squares of ``log m`` on the log
    descriptors (the model is linear there).  The optimizer works in
    standardised variables, which does not change the minimiser of Eq. (22):
    with ``z_k = (log x_k - mean_k) / s_k`` the prediction is
    ``exp(b0 + sum_k u_k z_k)``, ``c_k = u_k / s_k`` and
    ``log c1 = b0 - sum_k c_k mean_k``.  This removes the strong correlation
    between the prefactor and the exponents (the descriptors' logs are far
    from 0 and vary little: log mu(tau) spans about 0.03 for AM) and puts all
    variables on one scale, so L-BFGS-B's tolerances mean the same thing
    for every coefficient.  The objective is divided by its value at the
    start so that the relative tolerance ``ftol`` applies to a number of
    order 1.
    """
    m = get_model(model)
    y = np.asarray(observed, dtype=float).ravel()
    n = y.size
    if n < m.n_coefficients:
        raise ValueError(
            f"{m.name} has {m.n_coefficients} coefficients but only {n} data points were given"
        )
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError("observed M-factors must be positive and finite")
    logs = []
    for name in m.exponents:
        x = np.asarray(descriptors[name], dtype=float).ravel()
        if x.size != n:
            raise ValueError(f"descriptor {name!r} has {x.size} values, observed has {n}")
        if not np.all(np.isfinite(x)) or np.any(x <= 0):
            raise ValueError(f"descriptor {name!r} must be positive and finite")
        logs.append(np.log(x))
    L = np.column_stack(logs)  # (n, K_exp)
    logy = np.log(y)
    notes: list[str] = []

    if m.prefactor:
        mean = L.mean(axis=0)
        s = L.std(axis=0)
        const = np.ptp(L, axis=0) == 0
        for k in np.flatnonzero(const):
            notes.append(
                f"{m.exponents[k]} is constant over the training set; its exponent "
                f"c{k + 2} is not identifiable and was fixed at 0"
            )
        s = np.where(const, 1.0, s)
        Z = np.column_stack([np.ones(n), (L - mean) / s])
        lo = np.concatenate([[-np.inf], np.where(const, 0.0, -exponent_bound * s)])
        hi = np.concatenate([[np.inf], np.where(const, 0.0, exponent_bound * s)])
    else:
        # M1: log M = c1 log eps, no intercept; scale by the rms of log eps.
        s = np.sqrt(np.mean(L**2, axis=0))
        s = np.where(s == 0, 1.0, s)
        mean = np.zeros(L.shape[1])
        Z = L / s
        lo = np.asarray(M1_BOUNDS[:1]) * s
        hi = np.asarray([exponent_bound]) * s

    # Starting values: log-linear least squares, clipped into the bounds.
    u0, *_ = np.linalg.lstsq(Z, logy, rcond=None)
    u0 = np.clip(u0, lo, hi)

    def to_coefficients(u: np.ndarray) -> np.ndarray:
        if m.prefactor:
            c = u[1:] / s
            return np.concatenate([[np.exp(u[0] - c @ mean)], c])
        return u / s

    def sse(u: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            pred = np.exp(Z @ u)
            r = y - pred
            g = float(r @ r)
            grad = -2.0 * (Z.T @ (r * pred))
        return g, grad

    g0, _ = sse(u0)
    scale = g0 if np.isfinite(g0) and g0 > 0 else 1.0

    def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
        g, grad = sse(u)
        if not np.isfinite(g):
            return np.inf, np.zeros_like(u)
        return g / scale, grad / scale

    bounds = list(zip(lo, hi))
    res = minimize(
        objective,
        u0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 20000, "ftol": 1e-14, "gtol": 1e-10, "maxls": 50},
    )
    u = res.x
    g, grad = sse(u)
    # Convergence test, scale-free (the orthogonality test of MINPACK's gtol):
    # at a least-squares optimum the residual r is orthogonal to every
    # column of the Jacobian J_k = pred * z_k, so the cosines
    # |J_k . r| / (|J_k| |r|) vanish; an exact fit (r = 0) has converged.
    # Columns held at an active bound are left out (projected gradient).
    # L-BFGS-B's own flag is neither sufficient (it also stops when a line
    # search stalls) nor necessary (it stops "abnormally" at a minimum that
    # is flat to machine precision).
    with np.errstate(over="ignore", invalid="ignore"):
        pred = np.exp(Z @ u)
        r = y - pred
        Jc = Z * pred[:, None]
        rn = float(np.linalg.norm(r))
        cos = np.abs(Jc.T @ r) / np.maximum(np.linalg.norm(Jc, axis=0) * rn, np.finfo(float).tiny)
    at_lo = np.isclose(u, lo) & (grad > 0)
    at_hi = np.isclose(u, hi) & (grad < 0)
    fixed = hi <= lo
    cos = np.where(at_lo | at_hi | fixed, 0.0, cos)
    worst = float(np.max(cos)) if rn > 1e-12 * float(np.linalg.norm(y)) else 0.0
    converged = bool(np.isfinite(g) and worst <= GRADIENT_COSINE_TOL)
    if not converged:
        notes.append(
            f"L-BFGS-B did not converge ({res.message}; largest cosine between residual "
            f"and Jacobian column {worst:.3g} > {GRADIENT_COSINE_TOL:g})"
        )
    c = to_coefficients(u)
    c_start = to_coefficients(u0)
    offset = 1 if m.prefactor else 0
    for k in range(len(m.exponents)):
        free = hi[k + offset] > lo[k + offset]
        if free and (np.isclose(u[k + offset], lo[k + offset]) or np.isclose(u[k + offset], hi[k + offset])):
            notes.append(
                f"exponent c{k + 1 + offset} of {m.exponents[k]} is at its bound "
                f"({c[k + offset]:.6g}); the descriptor varies too little to identify it"
            )
    return PowerLawFit(
        coefficients=c,
        start=c_start,
        objective=float(g),
        start_objective=float(g0),
        converged=converged,
        message=str(res.message),
        gradient_cosine=worst,
        n_iter=int(res.nit),
        warnings=tuple(notes),
    )


# ----------------------------------------------------------------------------
# Dataset level
# ----------------------------------------------------------------------------


def _check_phase(phase: str) -> str:
    if not isinstance(phase, str):
        raise TypeError(f"phase must be 'AM' or 'SE', got {type(phase).__name__}")
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {list(PHASES)}, got {phase!r}")
    return phase


def _check_results(results) -> int:
    import xarray as xr

    if not isinstance(results, xr.Dataset):
        raise TypeError(f"results must be an xarray.Dataset, got {type(results).__name__}")
    if "structure" not in results.dims:
        raise InputError(
            f"results have no 'structure' dimension (dimensions: {list(results.dims)}); "
            "expected the study results Dataset of docs/results-schema.md"
        )
    return int(results.sizes["structure"])


def structure_labels(results) -> list[str]:
    """One readable label per structure: its coordinate and provenance.

    For example ``"structure 17 (BM01-BM03 t=0.5 point 2, volume_fraction_AM h=+0.2)"``.
    """
    n = int(results.sizes["structure"])

    def coord(name):
        if name in results.coords and results[name].dims == ("structure",):
            return results[name].values
        return None

    ids = coord("structure")
    pair, t, point, func, h = (coord(k) for k in ("pair", "t", "point", "function", "h"))
    labels = []
    for j in range(n):
        head = f"structure {ids[j] if ids is not None else j}"
        bits = []
        if pair is not None:
            bits.append(str(pair[j]))
        if t is not None:
            bits.append(f"t={float(t[j]):.4g}")
        if point is not None:
            bits.append(f"point {point[j]}")
        prov = " ".join(bits)
        if func is not None and str(func[j]):
            step = str(func[j]) + (f" h={float(h[j]):+.4g}" if h is not None else "")
            prov = f"{prov}, {step}" if prov else step
        labels.append(f"{head} ({prov})" if prov else head)
    return labels


def _variable(results, name: str, n: int) -> np.ndarray:
    da = results[name]
    if da.dims != ("structure",):
        raise InputError(f"results variable {name!r} has dimensions {da.dims}, expected ('structure',)")
    return np.asarray(da.values, dtype=float).reshape(n)


def screen(results, *, phase: str, model: str | Model) -> tuple[np.ndarray, dict, np.ndarray, list[Exclusion]]:
    """Pick the structures a power-law fit of *model* for *phase* can use.

    Parameters
    ----------
    results : xarray.Dataset
        Study results (``docs/results-schema.md``).
    phase : {"AM", "SE"}
    model : {"M1", "M2", "M3", "M4"} or Model

    Returns
    -------
    usable : ndarray of bool, shape (n_structures,)
    descriptors : dict of str to ndarray
        All structures' values of the model's descriptors.
    observed : ndarray
        All structures' M-factors.
    exclusions : list of Exclusion
        The structures that are not usable, each with the reason: an M-factor
        that is NaN, zero (the phase does not percolate) or negative, or a
        descriptor that is NaN (missing) or not positive (its logarithm, which
        the power law and the log-linear start need, does not exist).

    Raises
    ------
    InputError
        If a needed variable is absent from *results*.
    """
    _check_phase(phase)
    mdl = get_model(model)
    n = _check_results(results)
    m_name = f"m_factor_{phase}"
    needed = [m_name] + [descriptor_variable(d, phase) for d in mdl.descriptors]
    absent = [v for v in needed if v not in results.variables]
    if absent:
        raise InputError(
            f"results lack {absent}, needed to fit {mdl.name} for {phase}; "
            f"present: {sorted(map(str, results.data_vars))}"
        )
    observed = _variable(results, m_name, n)
    desc = {d: _variable(results, descriptor_variable(d, phase), n) for d in mdl.descriptors}
    reasons: list[list[str]] = [[] for _ in range(n)]
    for j in np.flatnonzero(np.isnan(observed)):
        reasons[j].append(f"{m_name} is NaN (no M-factor computed)")
    for j in np.flatnonzero(observed == 0):
        reasons[j].append(f"{m_name} = 0 (the {phase} phase does not percolate)")
    for j in np.flatnonzero(observed < 0):
        reasons[j].append(f"{m_name} = {observed[j]:.6g} is negative")
    for j in np.flatnonzero(np.isinf(observed)):
        reasons[j].append(f"{m_name} = {observed[j]} is not finite")
    for d, x in desc.items():
        var = descriptor_variable(d, phase)
        for j in np.flatnonzero(np.isnan(x)):
            reasons[j].append(f"{var} is NaN (missing, or the phase does not percolate)")
        for j in np.flatnonzero(x <= 0):
            reasons[j].append(f"{var} = {x[j]:.6g} is not positive (the power law needs its logarithm)")
        for j in np.flatnonzero(np.isinf(x)):
            reasons[j].append(f"{var} = {x[j]} is not finite")
    usable = np.array([not r for r in reasons], dtype=bool)
    exclusions: list[Exclusion] = []
    if not usable.all():
        labels = structure_labels(results)
        exclusions = [Exclusion(int(j), labels[j], "; ".join(reasons[j])) for j in np.flatnonzero(~usable)]
    return usable, desc, observed, exclusions


def _summarise(exclusions: Sequence[Exclusion], limit: int = 5) -> str:
    shown = "; ".join(str(e) for e in exclusions[:limit])
    more = f"; and {len(exclusions) - limit} more" if len(exclusions) > limit else ""
    return shown + more


def fit(
    results,
    *,
    phase: str,
    model: str | Model,
    seed: int | None = DEFAULT_SEED,
    n_train: int | None = None,
    split: tuple[np.ndarray, np.ndarray] | None = None,
) -> FitResult:
    """Fit one predictor for one phase and score it on the test set.

    Parameters
    ----------
    results : xarray.Dataset
        Study results with dimension ``structure`` (``docs/results-schema.md``).
    phase : {"AM", "SE"}
        Phase whose M-factor is predicted.
    model : {"M1", "M2", "M3", "M4"}
        Predictor, Eqs. (18)-(21).
    seed : int, default 0
        Seed of the train/test split (recorded in the result).
    n_train : int, optional
        Training-set size; default 331 of 495, two thirds otherwise.
    split : (train, test) arrays of int, optional
        Explicit structure positions; overrides *seed* and *n_train* (the
        split :func:`fit_all` shares among all fits).

    Returns
    -------
    FitResult
        Coefficients (paper Table 5 order), MAPE and R^2 on the test set,
        the structures excluded and why, and the optimizer's report.

    Raises
    ------
    InputError
        If a needed variable is missing, there are too few structures to
        split, or too few usable structures remain on either side of the
        split after the exclusions (the message lists them).

    Notes
    -----
    All structures are split first, so every model and phase sees the same
    training and test structures; a structure that a model cannot use
    (see :func:`screen`) is then dropped from that model's fit and scoring
    and listed in ``exclusions``.  Fit: Eq. (22); scores: Eqs. (23), (24).
    """
    mdl = get_model(model)
    n = _check_results(results)
    usable, desc, observed, exclusions = screen(results, phase=phase, model=mdl)
    if split is None:
        try:
            train_all, test_all = train_test_split(n, seed=seed, n_train=n_train)
        except ValueError as exc:
            raise InputError(f"cannot fit {mdl.name} for {phase}: {exc}") from None
    else:
        train_all, test_all = (np.asarray(a, dtype=int) for a in split)
    train = train_all[usable[train_all]]
    test = test_all[usable[test_all]]
    need_train = mdl.n_coefficients + 1
    if train.size < need_train or test.size < 2:
        excl = f"; excluded {len(exclusions)} of {n}: {_summarise(exclusions)}" if exclusions else ""
        raise InputError(
            f"too few usable structures to fit {mdl.name} for {phase}: {train.size} for training "
            f"(need {need_train}) and {test.size} for testing (need 2) of {n}{excl}"
        )
    notes: list[str] = []
    if exclusions:
        notes.append(f"excluded {len(exclusions)} of {n} structures: {_summarise(exclusions)}")
        log.info("%s %s: %s", phase, mdl.name, notes[-1])
    d_train = {k: v[train] for k, v in desc.items()}
    d_test = {k: v[test] for k, v in desc.items()}
    plf = fit_power_law(mdl, d_train, observed[train])
    notes.extend(plf.warnings)
    for w in plf.warnings:
        log.info("%s %s: %s", phase, mdl.name, w)
    p_train = predict(mdl, plf.coefficients, d_train)
    p_test = predict(mdl, plf.coefficients, d_test)

    def score(obs, pred, which):
        try:
            r = r2(obs, pred)
        except ValueError as exc:
            notes.append(f"R^2 on the {which} set: {exc}")
            r = float("nan")
        return mape(obs, pred), r

    mape_test, r2_test = score(observed[test], p_test, "test")
    mape_train, r2_train = score(observed[train], p_train, "training")
    return FitResult(
        phase=phase,
        model=mdl.name,
        coefficients=tuple(float(c) for c in plf.coefficients),
        mape=mape_test,
        r2=r2_test,
        mape_train=mape_train,
        r2_train=r2_train,
        train=train,
        test=test,
        observed_train=observed[train],
        predicted_train=p_train,
        observed_test=observed[test],
        predicted_test=p_test,
        exclusions=tuple(exclusions),
        fit=plf,
        seed=seed,
        warnings=tuple(notes),
    )


def fit_all(
    results,
    *,
    phases: Iterable[str] = PHASES,
    models: Iterable[str] = MODEL_NAMES,
    seed: int | None = DEFAULT_SEED,
    n_train: int | None = None,
):
    """Fit every predictor for every phase: the whole Table 5.

    Parameters
    ----------
    results : xarray.Dataset
        Study results (``docs/results-schema.md``).
    phases : iterable of str, default ("AM", "SE")
    models : iterable of str, default ("M1", "M2", "M3", "M4")
    seed : int, default 0
        Seed of the train/test split, shared by all fits.
    n_train : int, optional
        Training-set size; default 331 of 495, two thirds otherwise.

    Returns
    -------
    RegressionTable
        The fits; a (phase, model) that cannot be fitted (missing variable,
        too few usable structures) is recorded in ``skipped`` with the reason
        instead of raising, so one bad column does not hide the others.

    Raises
    ------
    InputError
        If the results have no ``structure`` dimension or fewer than 3
        structures (nothing can be split).
    """
    from .table import RegressionTable

    phases = tuple(_check_phase(p) for p in phases)
    models = tuple(get_model(m).name for m in models)
    n = _check_results(results)
    try:
        split = train_test_split(n, seed=seed, n_train=n_train)
    except ValueError as exc:
        raise InputError(f"cannot fit the regression models: {exc}") from None
    fits: dict[tuple[str, str], FitResult] = {}
    skipped: dict[tuple[str, str], str] = {}
    exclusions: dict[tuple[str, str], tuple[Exclusion, ...]] = {}
    for phase in phases:
        for model in models:
            try:
                res = fit(results, phase=phase, model=model, seed=seed, split=split)
            except InputError as exc:
                skipped[(phase, model)] = str(exc)
                log.info("skipped %s %s: %s", phase, model, exc)
                try:
                    exclusions[(phase, model)] = tuple(screen(results, phase=phase, model=model)[3])
                except InputError:
                    exclusions[(phase, model)] = ()
                continue
            fits[(phase, model)] = res
            exclusions[(phase, model)] = res.exclusions
    labels = structure_labels(results)
    return RegressionTable(
        phases=phases,
        models=models,
        fits=fits,
        skipped=skipped,
        exclusions=exclusions,
        seed=seed,
        train=split[0],
        test=split[1],
        structure=np.asarray(results["structure"].values) if "structure" in results.coords else np.arange(n),
        labels=tuple(labels),
    )
