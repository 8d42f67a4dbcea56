"""Least-squares solver of the M-factor predictors (paper Eq. 22).

Pure numerics: descriptor arrays and M-factors in, coefficients and a report out.  The
Dataset-level API (:mod:`vmt_dask.regression.fit`) and the screening of unusable structures
(:mod:`vmt_dask.regression.screening`) sit on top of it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy.optimize import least_squares

from ..errors import InputError
from .models import Model, get_model

__all__ = [
    "EXPONENT_BOUND",
    "GRADIENT_COSINE_TOL",
    "M1_BOUNDS",
    "Note",
    "PowerLawFit",
    "fit_power_law",
]

#: Bound on every exponent, |c_k| <= EXPONENT_BOUND.  The paper's largest is
#: |c4| = 21.5 (AM, M2); an exponent at this bound means the descriptor barely
#: varies and the fit is not identifiable, which is reported.
EXPONENT_BOUND = 100.0

#: Convergence tolerance: largest cosine between the residual vector and a free
#: column of the Jacobian at the solution (0 at an exact optimum).
GRADIENT_COSINE_TOL = 1e-4

#: Bounds of M1's exponent c1 (the paper requires c1 > 0).
M1_BOUNDS = (1e-6, EXPONENT_BOUND)

#: Termination tolerances of ``least_squares`` (relative change of the cost and of the
#: variables, and the scaled gradient).  Two orders of magnitude above machine epsilon, so
#: each condition stays active (scipy disables a condition set below epsilon) and the
#: iteration stops only where rounding dominates further progress.
_TOL = 1e-14


@dataclass(frozen=True)
class Note:
    """A message for the user about one fit, with a machine-readable kind.

    Attributes
    ----------
    kind : str
        ``"excluded"`` (structures left out), ``"constant_descriptor"``,
        ``"exponent_at_bound"``, ``"not_converged"`` or ``"r2_undefined"``.
    text : str
        The message, one line.
    """

    kind: str
    text: str

    def __str__(self) -> str:
        return self.text


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
        ``least_squares`` stopped on one of its tolerances (``status > 0``) and the
        residual is orthogonal to the model's tangent space
        (``gradient_cosine <= GRADIENT_COSINE_TOL``).
    message : str
        The optimizer's message.
    n_iter : int
        Trust-region iterations (Jacobian evaluations of ``least_squares``).
    gradient_cosine : float
        Largest cosine between the residual and a free Jacobian column at the
        solution (0 at an exact optimum).
    notes : tuple of Note
        Problems that do not stop the fit (exponent at its bound, constant
        descriptor, no convergence).
    status : int
        ``least_squares``' status (1..4: a tolerance was met; 0: the evaluation
        budget ran out; no fit is run and the status is 1 when the data fix every
        coefficient).
    """

    coefficients: np.ndarray
    start: np.ndarray
    objective: float
    start_objective: float
    converged: bool
    message: str
    n_iter: int
    gradient_cosine: float = 0.0
    notes: tuple[Note, ...] = ()
    status: int = 1

    @property
    def warnings(self) -> tuple[str, ...]:
        """The notes' texts."""
        return tuple(n.text for n in self.notes)


def _logs(m: Model, descriptors: Mapping[str, np.ndarray], observed) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``log x`` columns (n, K_exp) and observed M-factors (n,)."""
    y = np.asarray(observed, dtype=float).ravel()
    n = y.size
    if n < m.n_coefficients:
        raise InputError(
            f"{m.name} has {m.n_coefficients} coefficients but only {n} data points were given"
        )
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise InputError("observed M-factors must be positive and finite")
    logs = []
    for name in m.exponents:
        if name not in descriptors:
            raise InputError(f"descriptors for {m.name} lack {name!r}")
        x = np.asarray(descriptors[name], dtype=float).ravel()
        if x.size != n:
            raise InputError(f"descriptor {name!r} has {x.size} values, observed has {n}")
        if not np.all(np.isfinite(x)) or np.any(x <= 0):
            raise InputError(f"descriptor {name!r} must be positive and finite")
        logs.append(np.log(x))
    return np.column_stack(logs), y


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
    InputError
        If the arrays differ in length, contain non-positive or non-finite
        values, or there are fewer data than coefficients.
    TypeError, InputError
        From :func:`~vmt_dask.regression.get_model` for an unknown model.

    Notes
    -----
    Minimises Eq. (22), ``g(C) = sum_j (m_j - M_C(V_j))^2``, with
    ``scipy.optimize.least_squares`` (trust-region reflective, bounds, the
    analytic Jacobian).

    Starting values come from ordinary least squares of ``log m`` on the log
    descriptors (the model is linear there).  The solver works in
    standardised variables, which does not change the minimiser of Eq. (22):
    with ``z_k = (log x_k - mean_k) / s_k`` the prediction is
    ``exp(b0 + sum_k u_k z_k)``, ``c_k = u_k / s_k`` and
    ``log c1 = b0 - sum_k c_k mean_k``.  This removes the strong correlation
    between the prefactor and the exponents (the descriptors' logs are far
    from 0 and vary little: log mu(tau) spans about 0.03 for AM) and puts all
    variables on one scale, so the solver's relative tolerances mean the same
    thing for every coefficient.  A descriptor that is constant over the data
    gets exponent 0 and is left out of the solve (its exponent is not
    identifiable); this is reported in ``notes``.

    Convergence is judged scale-free, as MINPACK's ``gtol`` test: at a
    least-squares optimum the residual is orthogonal to every free column of
    the Jacobian, so the largest cosine between them must be at most
    :data:`GRADIENT_COSINE_TOL` (an exact fit has converged; a column held at
    an active bound is left out, the projected gradient).
    """
    m = get_model(model)
    L, y = _logs(m, descriptors, observed)
    n = y.size
    logy = np.log(y)
    notes: list[Note] = []

    if m.prefactor:
        mean = L.mean(axis=0)
        s = L.std(axis=0)
        const = np.ptp(L, axis=0) == 0
        for k in np.flatnonzero(const):
            notes.append(Note(
                "constant_descriptor",
                f"{m.exponents[k]} is constant over the training set; its exponent "
                f"c{k + 2} is not identifiable and was fixed at 0",
            ))
        s = np.where(const, 1.0, s)
        Z = np.column_stack([np.ones(n), (L - mean) / s])
        fixed = np.concatenate([[False], const])
        lo = np.concatenate([[-np.inf], -exponent_bound * s])
        hi = np.concatenate([[np.inf], exponent_bound * s])
    else:
        # M1: log M = c1 log eps, no intercept; scale by the rms of log eps.
        s = np.sqrt(np.mean(L**2, axis=0))
        s = np.where(s == 0, 1.0, s)
        mean = np.zeros(L.shape[1])
        Z = L / s
        fixed = np.zeros(1, dtype=bool)
        lo = np.asarray(M1_BOUNDS[:1]) * s
        hi = np.asarray([exponent_bound]) * s
    lo = np.where(fixed, 0.0, lo)
    hi = np.where(fixed, 0.0, hi)
    free = ~fixed

    # Starting values: log-linear least squares on the free columns, clipped into the bounds.
    u0 = np.zeros(Z.shape[1])
    u0[free], *_ = np.linalg.lstsq(Z[:, free], logy, rcond=None)
    u0 = np.clip(u0, lo, hi)

    def to_coefficients(u: np.ndarray) -> np.ndarray:
        if m.prefactor:
            c = u[1:] / s
            return np.concatenate([[np.exp(u[0] - c @ mean)], c])
        return u / s

    Zf = Z[:, free]

    def residual(v: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(Zf @ v) - y

    def jacobian(v: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return Zf * np.exp(Zf @ v)[:, None]

    r0 = residual(u0[free])
    g0 = float(r0 @ r0)
    # least_squares needs a start strictly inside the bounds; trf moves a start on a bound
    # inwards by itself, so only the clip above is needed.
    res = least_squares(
        residual, u0[free], jac=jacobian, bounds=(lo[free], hi[free]), method="trf",
        ftol=_TOL, xtol=_TOL, gtol=_TOL, max_nfev=2000,
    )
    u = u0.copy()
    u[free] = res.x
    r = residual(res.x)
    g = float(r @ r)
    # The solver's own status is necessary but not sufficient: xtol also stops a stalled
    # step; the orthogonality of residual and Jacobian columns is the optimality test.
    with np.errstate(over="ignore", invalid="ignore"):
        J = jacobian(res.x)
        rn = float(np.linalg.norm(r))
        cos = np.abs(J.T @ r) / np.maximum(np.linalg.norm(J, axis=0) * rn, np.finfo(float).tiny)
        grad = J.T @ r  # gradient of g/2 in the free variables
    at_lo = np.isclose(res.x, lo[free]) & (grad > 0)
    at_hi = np.isclose(res.x, hi[free]) & (grad < 0)
    cos = np.where(at_lo | at_hi, 0.0, cos)
    worst = float(np.max(cos)) if cos.size and rn > 1e-12 * float(np.linalg.norm(y)) else 0.0
    converged = bool(np.isfinite(g) and res.status > 0 and worst <= GRADIENT_COSINE_TOL)
    if not converged:
        notes.append(Note(
            "not_converged",
            f"least_squares did not converge ({res.message}; largest cosine between residual "
            f"and Jacobian column {worst:.3g}, tolerance {GRADIENT_COSINE_TOL:g})",
        ))
    c = to_coefficients(u)
    offset = 1 if m.prefactor else 0
    for k in range(len(m.exponents)):
        j = k + offset
        if free[j] and (np.isclose(u[j], lo[j]) or np.isclose(u[j], hi[j])):
            notes.append(Note(
                "exponent_at_bound",
                f"exponent c{j + 1} of {m.exponents[k]} is at its bound "
                f"({c[j]:.6g}); the descriptor varies too little to identify it",
            ))
    return PowerLawFit(
        coefficients=c,
        start=to_coefficients(u0),
        objective=g,
        start_objective=g0,
        converged=converged,
        message=str(res.message),
        n_iter=int(res.njev if res.njev is not None else res.nfev),
        gradient_cosine=worst,
        notes=tuple(notes),
        status=int(res.status),
    )
