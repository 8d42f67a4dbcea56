"""Surrogate-guided search for theta that meets targets, verified by simulation.

1. A **surrogate** maps theta to each objective: least squares on polynomial features of
   x(theta) (log of the alphas and a, the thresholds as they are) of a degree the database
   supports (at least 2 structures per feature: full quadratic from 72 structures, linear
   plus squares from 30, else linear), with a small ridge; predictions are clipped to the
   quantity's physical range (fractions, M-factors and constrictivities in [0, 1],
   tortuosity >= 1, surface area >= 0).  It is fitted on the study database (or on a pilot sample simulated in the region).
2. **Proposal**: a scrambled Sobol sample of the region (scipy.stats.qmc) is scored by the
   surrogate; candidates predicted to meet every target are ranked (by the objectives to
   maximise, else by the smallest target margin), the best is polished with L-BFGS-B on the
   surrogate, and the rest are chosen greedily at a minimum distance from each other
   (diverse candidates, so one wrong region of the surrogate cannot take them all).
3. **Verification**: every candidate is simulated (``simulate``: realizations, descriptors,
   M-factors); it is *verified* when the simulated mean meets every target.  A surrogate
   that is wrong shows up as predicted-feasible candidates that fail verification, and as
   |predicted - simulated| beyond the surrogate's own training error.
4. **Pareto front** of the verified candidates over the objectives (targets count as
   objectives to push in their direction, ``>=`` up and ``<=`` down).

Pure numerics apart from the ``simulate`` callable the orchestration passes in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import scipy.optimize
import scipy.stats.qmc

from ..domain import ALPHA_INDICES, A_INDEX, PARAMETER_NAMES
from ..errors import InputError
from .targets import ALPHA_FLOOR, Target

__all__ = ["Region", "QuadraticSurrogate", "propose", "pareto_mask", "verify", "DesignResult",
           "run_design", "region_from_thetas"]

_LOG = np.array([i in ALPHA_INDICES or i == A_INDEX for i in range(len(PARAMETER_NAMES))])


def to_x(theta: np.ndarray) -> np.ndarray:
    theta = np.asarray(theta, dtype=np.float64)
    return np.where(_LOG, np.log(np.where(_LOG, np.maximum(theta, 1e-300), 1.0)), theta)


def from_x(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.where(_LOG, np.exp(x), x)


@dataclass(frozen=True)
class Region:
    """Box lo <= theta <= hi (7 parameters, paper order)."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]

    def __post_init__(self):
        lo, hi = np.asarray(self.lo, float), np.asarray(self.hi, float)
        if lo.shape != (7,) or hi.shape != (7,) or np.any(lo > hi) or not np.all(np.isfinite(lo)) \
                or not np.all(np.isfinite(hi)):
            raise InputError(f"region: need 7 finite bounds with lo <= hi, got {self.lo} .. {self.hi}")
        if np.any(lo[_LOG] <= 0):
            raise InputError(f"region: alphas and a must be > 0, got lower bounds {lo[_LOG].tolist()}")

    @property
    def x_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return to_x(np.array(self.lo)), to_x(np.array(self.hi))

    def to_dict(self) -> dict:
        return {n: [lo, hi] for n, lo, hi in zip(PARAMETER_NAMES, self.lo, self.hi)}


def region_from_thetas(thetas: np.ndarray, *, alpha_floor: float = ALPHA_FLOOR,
                       override: dict | None = None) -> Region:
    """Bounding box of ``thetas`` (n, 7), alphas raised to ``alpha_floor``, then ``override``."""
    t = np.asarray(thetas, dtype=np.float64)
    t = t[np.all(np.isfinite(t), axis=1)]
    if t.size == 0:
        raise InputError("the study holds no structure with a complete theta to span a region")
    lo, hi = t.min(axis=0), t.max(axis=0)
    for i in ALPHA_INDICES:
        lo[i] = max(lo[i], alpha_floor)
        hi[i] = max(hi[i], lo[i])
    for name, (a, b) in (override or {}).items():
        i = PARAMETER_NAMES.index(name)
        lo[i], hi[i] = a, b
    return Region(tuple(lo), tuple(hi))


class QuadraticSurrogate:
    """Per-objective least-squares quadratic response surface in x(theta) (module doc, item 1).

    ``fit(thetas, values)`` with ``values`` {objective: (n,)}; ``predict(thetas)`` ->
    {objective: (m,)}; ``rmse`` {objective: training root-mean-square error}.
    """

    def __init__(self, ridge: float = 1e-6):
        self.ridge = ridge
        self.coef: dict[str, np.ndarray] = {}
        self.rmse: dict[str, float] = {}
        self.degree = "full"

    def _features(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.centre) / self.scale
        cols = [np.ones(len(Z))] + [Z[:, i] for i in range(Z.shape[1])]
        if self.degree == "full":
            cols += [Z[:, i] * Z[:, j] for i in range(Z.shape[1]) for j in range(i, Z.shape[1])]
        elif self.degree == "squares":
            cols += [Z[:, i] ** 2 for i in range(Z.shape[1])]
        return np.stack(cols, axis=1)

    def fit(self, thetas, values: dict) -> "QuadraticSurrogate":
        X = to_x(np.asarray(thetas, dtype=np.float64))
        if X.ndim != 2 or X.shape[1] != 7 or len(X) < 3:
            raise InputError(f"surrogate: need at least 3 structures with 7 parameters, got {X.shape}")
        self.centre = X.mean(axis=0)
        spread = X.std(axis=0)
        self.scale = np.where(spread > 1e-12, spread, 1.0)
        n = len(X)
        self.degree = "full" if n >= 2 * (1 + 7 + 28) else ("squares" if n >= 2 * (1 + 7 + 7) else "linear")
        F = self._features(X)
        for name, y in values.items():
            y = np.asarray(y, dtype=np.float64)
            ok = np.isfinite(y)
            if ok.sum() < 3:
                raise InputError(f"surrogate: objective {name} has fewer than 3 finite values")
            A = F[ok]
            # ridge on all but the constant: solve [A; sqrt(r) I'] c = [y; 0]
            reg = math.sqrt(self.ridge * max(1.0, float(np.trace(A.T @ A)) / A.shape[1]))
            R = reg * np.eye(A.shape[1])[1:]
            c, *_ = np.linalg.lstsq(np.vstack([A, R]), np.concatenate([y[ok], np.zeros(A.shape[1] - 1)]),
                                    rcond=None)
            self.coef[name] = c
            self.rmse[name] = float(np.sqrt(np.mean((A @ c - y[ok]) ** 2)))
        return self

    def predict(self, thetas) -> dict:
        X = to_x(np.atleast_2d(np.asarray(thetas, dtype=np.float64)))
        F = self._features(X)
        return {name: _clip(name, F @ c) for name, c in self.coef.items()}


def _clip(name: str, values: np.ndarray) -> np.ndarray:
    """Physical range of a quantity (extrapolated polynomials leave it easily)."""
    if name.startswith(("m_factor", "volume_fraction", "constrictivity")):
        return np.clip(values, 0.0, 1.0)
    if name.startswith("tortuosity"):
        return np.maximum(values, 1.0)
    if name.startswith("specific_surface_area"):
        return np.maximum(values, 0.0)
    return values


def _score(pred: dict, targets: Sequence[Target], maximize: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    n = len(next(iter(pred.values())))
    margin = np.full(n, np.inf)
    for t in targets:
        margin = np.minimum(margin, np.array([t.margin(v) for v in pred[t.objective]]))
    if maximize:
        score = np.sum([pred[m] for m in maximize], axis=0)
    else:
        score = margin.copy()
    return margin, score


def propose(surrogate, region: Region, targets: Sequence[Target], maximize: Sequence[str], *,
            n: int = 6, samples: int = 2048, seed: int = 0, min_distance: float = 0.15) -> np.ndarray:
    """``n`` diverse candidate thetas (n, 7), best first (module doc, item 2).

    When nothing is predicted feasible, the candidates with the largest (least negative)
    target margin are returned, so verification still reports how far off they are.
    """
    lo, hi = region.x_bounds
    width = np.where(hi > lo, hi - lo, 1.0)
    m = int(2 ** math.ceil(math.log2(max(samples, 16))))
    U = scipy.stats.qmc.Sobol(d=7, scramble=True, seed=seed).random(m)
    X = lo + U * (hi - lo)
    pred = surrogate.predict(from_x(X))
    margin, score = _score(pred, targets, maximize)
    feasible = margin >= 0
    order = np.argsort(-score) if feasible.any() else np.argsort(-margin)
    if feasible.any():
        order = order[feasible[order]]
    # polish the best on the surrogate: maximise score subject to margin >= 0 (penalty)

    def neg(xv):
        p = surrogate.predict(from_x(xv[None, :]))
        mg, sc = _score(p, targets, maximize)
        return float(-sc[0] + 100.0 * max(0.0, -mg[0]) ** 2 * (1 if maximize else 0))

    best_x = X[order[0]]
    res = scipy.optimize.minimize(neg, best_x, method="L-BFGS-B", bounds=list(zip(lo, hi)))
    chosen = []
    if res.success and np.all(np.isfinite(res.x)):
        p = surrogate.predict(from_x(res.x[None, :]))
        mg, _ = _score(p, targets, maximize)
        if mg[0] >= 0 or not feasible.any():
            chosen.append(res.x)
    for i in order:
        if len(chosen) >= n:
            break
        if all(np.max(np.abs((X[i] - c) / width)) >= min_distance for c in chosen):
            chosen.append(X[i])
    return np.array([from_x(c) for c in chosen])


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Non-dominated rows of ``values`` (n, k), every column to be maximised."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not np.all(np.isfinite(v[i])):
            keep[i] = False
            continue
        for j in range(n):
            if i != j and np.all(np.isfinite(v[j])) and np.all(v[j] >= v[i]) and np.any(v[j] > v[i]):
                keep[i] = False
                break
    return keep


@dataclass
class DesignResult:
    """Candidates with predicted and simulated objectives (see :func:`run_design`)."""

    targets: list
    maximize: list
    region: Region
    objectives: list
    candidates: list = field(default_factory=list)  # dicts
    surrogate_rmse: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)

    @property
    def verified(self) -> list:
        return [c for c in self.candidates if c["verified"]]

    @property
    def pareto(self) -> list:
        return [c for c in self.candidates if c["pareto"]]

    def to_dict(self) -> dict:
        return {"targets": [str(t) for t in self.targets], "maximize": list(self.maximize),
                "region": self.region.to_dict(), "objectives": self.objectives,
                "candidates": self.candidates, "surrogate_rmse": self.surrogate_rmse, "cost": self.cost}


def verify(thetas: np.ndarray, predicted: dict, simulate: Callable, targets: Sequence[Target],
           maximize: Sequence[str], rmse: dict) -> list[dict]:
    """Simulate each candidate and compare with the prediction (module doc, items 3-4).

    ``simulate(thetas)`` returns, per theta, ``{objective: (mean, sd, n)}``.
    """
    objectives = sorted({t.objective for t in targets} | set(maximize))
    sims = simulate([list(map(float, t)) for t in thetas])
    out = []
    for k, (theta, sim) in enumerate(zip(thetas, sims)):
        row = {"theta": dict(zip(PARAMETER_NAMES, map(float, theta))), "predicted": {}, "simulated": {},
               "simulated_sd": {}, "mismatch": {}}
        for o in objectives:
            mean, sd, n = sim[o]
            p = float(predicted[o][k])
            row["predicted"][o] = p
            row["simulated"][o] = float(mean)
            row["simulated_sd"][o] = float(sd)
            # surrogate error beyond what its training error and the sampling error explain
            tol = 3.0 * math.sqrt(rmse.get(o, 0.0) ** 2 + (sd ** 2 / max(n, 1) if math.isfinite(sd) else 0.0))
            row["mismatch"][o] = bool(abs(p - mean) > tol) if math.isfinite(mean) else True
        row["predicted_feasible"] = all(t.satisfied(row["predicted"][t.objective]) for t in targets)
        row["verified"] = all(t.satisfied(row["simulated"][t.objective]) for t in targets)
        out.append(row)
    # Pareto front of the verified candidates: >= targets and maximised objectives go up,
    # <= targets go down
    sense = {}
    for t in targets:
        sense[t.objective] = 1.0 if t.op == ">=" else -1.0
    for o in maximize:
        sense[o] = 1.0
    cols = sorted(sense)
    V = np.array([[sense[o] * r["simulated"][o] for o in cols] for r in out]) if out else np.zeros((0, 0))
    ver = np.array([r["verified"] for r in out], dtype=bool)
    mask = np.zeros(len(out), dtype=bool)
    if ver.any():
        idx = np.nonzero(ver)[0]
        mask[idx[pareto_mask(V[idx])]] = True
    for r, m in zip(out, mask):
        r["pareto"] = bool(m)
    return out


def run_design(database_thetas, database_values: dict, targets: Sequence[Target], maximize: Sequence[str],
               region: Region, simulate: Callable, *, n_candidates: int = 6, seed: int = 0,
               surrogate=None) -> DesignResult:
    """Fit the surrogate (unless given), propose, verify; see the module docstring."""
    import time

    t0 = time.perf_counter()
    objectives = sorted({t.objective for t in targets} | set(maximize))
    missing = [o for o in objectives if o not in database_values]
    if missing:
        raise InputError(f"objective {missing[0]} is not in the database (has: {', '.join(sorted(database_values))})")
    if surrogate is None:
        surrogate = QuadraticSurrogate().fit(database_thetas, {o: database_values[o] for o in objectives})
    thetas = propose(surrogate, region, targets, maximize, n=n_candidates, seed=seed)
    predicted = surrogate.predict(thetas)
    t1 = time.perf_counter()
    rows = verify(thetas, predicted, simulate, targets, maximize, getattr(surrogate, "rmse", {}))
    res = DesignResult(list(targets), list(maximize), region, objectives, rows,
                       dict(getattr(surrogate, "rmse", {})))
    res.cost = {"candidates": len(rows), "propose_seconds": t1 - t0,
                "verify_seconds": time.perf_counter() - t1}
    return res
