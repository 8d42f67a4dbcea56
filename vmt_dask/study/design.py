"""The design of the parameter study (paper Section 2.4), as pure functions.

No I/O, no dask: these functions turn a :class:`~vmt_dask.study.spec.StudySpec` into
interpolated points, perturbed parameter vectors, seeds, gradients and stepped
parameter vectors.  The coordinator, the results reader and the tests all use them,
so there is exactly one definition of every design number.

Seeds
-----
Every seed is drawn from ``numpy.random.SeedSequence(spec.seed, spawn_key=(kind, point, i))``
with ``kind`` 0 for the realizations of the gradient evaluations and 1 for the database
structures.  The seed of a realization therefore depends only on the master seed and its
position in the design, never on the order in which tasks run.  The ``realizations``
seeds of point k are shared by its base evaluation and its 7 perturbed evaluations
(common random numbers): the finite difference of Eq. (10) then compares images of the
same underlying noise, which removes most of the sampling noise from the quotient.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .spec import A_INDEX, ALPHA_INDICES, FUNCTIONS, PARAMETERS, StudySpec

__all__ = [
    "Point",
    "Structure",
    "interpolation_points",
    "perturbed_thetas",
    "evaluation_seeds",
    "structure_seed",
    "function_values",
    "function_means",
    "gradient_from_means",
    "step_theta",
    "point_structures",
]

_KIND_EVALUATION = 0
_KIND_STRUCTURE = 1


@dataclass(frozen=True)
class Point:
    """An interpolated parameter vector theta_{d1,d2}(t), Eq. (9)."""

    index: int
    pair: tuple[str, str]
    t: float
    theta: tuple[float, ...]

    @property
    def pair_name(self) -> str:
        """``"BM01-BM03"``."""
        return f"{self.pair[0]}-{self.pair[1]}"


@dataclass(frozen=True)
class Structure:
    """One database microstructure: a point (function ``""``, h = 0) or a step from it."""

    index: int          # global index in the database, 0 .. n_structures - 1
    point: int
    local: int          # index within the point, 0 = the point itself
    function: str
    h: float
    theta: tuple[float, ...]
    seed: int


def interpolation_points(spec: StudySpec) -> list[Point]:
    """All points theta_{d1,d2}(t) = theta_d1 + t (theta_d2 - theta_d1), pair-major order."""
    points = []
    for d1, d2 in spec.pairs:
        a = np.asarray(spec.endpoints[d1], dtype=float)
        b = np.asarray(spec.endpoints[d2], dtype=float)
        for t in spec.t:
            theta = a + t * (b - a)
            points.append(Point(len(points), (d1, d2), float(t), tuple(float(x) for x in theta)))
    return points


def perturbed_thetas(theta, delta: float) -> np.ndarray:
    """Evaluation parameter vectors of one point, shape (8, 7).

    Row 0 is theta, row q + 1 is theta + delta e_q (Eq. 10), q = 0 .. 6 in the order of
    :data:`~vmt_dask.study.spec.PARAMETERS`.  The perturbations are not clipped: they are
    part of the difference quotient, not database structures.
    """
    theta = np.asarray(theta, dtype=float)
    out = np.repeat(theta[None, :], len(PARAMETERS) + 1, axis=0)
    out[1:] += delta * np.eye(len(PARAMETERS))
    return out


def _seed(master: int, kind: int, point: int, i: int) -> int:
    ss = np.random.SeedSequence(master, spawn_key=(kind, point, i))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))  # fits int64


def evaluation_seeds(spec: StudySpec, point: int) -> list[int]:
    """The ``spec.realizations`` seeds shared by the 8 evaluations of one point."""
    return [_seed(spec.seed, _KIND_EVALUATION, point, r) for r in range(spec.realizations)]


def structure_seed(spec: StudySpec, point: int, local: int) -> int:
    """Seed of database structure ``local`` (0 = the point itself) of one point."""
    return _seed(spec.seed, _KIND_STRUCTURE, point, local)


def function_values(describe: dict[str, dict]) -> np.ndarray:
    """The 8 function values of one realization from its descriptors per phase.

    ``describe`` maps phase (``"AM"``, ``"SE"``) to a descriptor dict (keys as returned by
    :func:`vmt_dask.descriptors.describe`).  Returns shape (8,) in :data:`FUNCTIONS` order.
    """
    out = np.empty(len(FUNCTIONS))
    for j, fn in enumerate(FUNCTIONS):
        name, phase = fn.rsplit("_", 1)
        out[j] = float(describe[phase][name])
    return out


def function_means(values: np.ndarray) -> np.ndarray:
    """Mean over realizations (last axis but one) ignoring NaN.

    ``values`` has shape (..., realizations, 8).  A tortuosity is NaN for a realization
    whose phase does not percolate; the mean is then over the percolating realizations,
    and NaN only if none percolates.
    """
    values = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice -> NaN, intended
        return np.nanmean(values, axis=-2)


def gradient_from_means(base_mean, perturbed_mean, delta: float) -> np.ndarray:
    """Forward-difference gradients, Eq. (10), with the a-component set to 0.

    Parameters
    ----------
    base_mean : array, shape (F,)
        f(theta_k) for each function.
    perturbed_mean : array, shape (F, 7)
        f(theta_k + delta e_q).
    delta : float
        The shift.

    Returns
    -------
    ndarray, shape (F, 7)
        (f(theta_k + delta e_q) - f(theta_k)) / delta; column 4 (a) is 0 (paper Sec. 2.4).
    """
    base_mean = np.asarray(base_mean, dtype=float)
    perturbed_mean = np.asarray(perturbed_mean, dtype=float)
    grad = (perturbed_mean - base_mean[:, None]) / delta
    grad[:, A_INDEX] = 0.0
    return grad


def step_theta(theta, gradient, h: float, *, alpha_floor: float) -> tuple[float, ...]:
    """theta + h grad f (Eq. 11), then every alpha clipped to >= alpha_floor.

    Non-finite gradient components (a descriptor that is NaN at the point, e.g. the
    tortuosity of a phase that percolates in none of the realizations) are treated as 0,
    so the step stays defined.  The a-component of the gradient is taken as 0 whatever
    ``gradient`` holds, so a keeps its (positive) value.
    """
    theta = np.asarray(theta, dtype=float)
    g = np.nan_to_num(np.asarray(gradient, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    g[A_INDEX] = 0.0  # the a-component of every gradient is 0 (paper Sec. 2.4)
    out = theta + h * g
    idx = list(ALPHA_INDICES)
    out[idx] = np.maximum(out[idx], alpha_floor)
    if not out[A_INDEX] > 0:  # cannot happen with grad_a = 0 and a valid point; guard anyway
        raise ValueError(f"step gives a = {out[A_INDEX]!r} <= 0 at theta={theta.tolist()}")
    return tuple(float(x) for x in out)


def point_structures(spec: StudySpec, point: Point, gradient: np.ndarray | None) -> list[Structure]:
    """The database structures of one point: the point itself and one per (function, h).

    ``gradient`` has shape (8, 7) in :data:`FUNCTIONS` order; it may be None to list only
    the point itself (structure 0, which needs no gradient).
    """
    per = spec.structures_per_point
    base = point.index * per
    out = [Structure(base, point.index, 0, "", 0.0, point.theta, structure_seed(spec, point.index, 0))]
    if gradient is None:
        return out
    gradient = np.asarray(gradient, dtype=float)
    local = 1
    for fn in spec.functions:
        g = gradient[FUNCTIONS.index(fn)]
        for h in spec.steps[fn]:
            theta = step_theta(point.theta, g, h, alpha_floor=spec.alpha_floor)
            out.append(Structure(base + local, point.index, local, fn, float(h), theta,
                                 structure_seed(spec, point.index, local)))
            local += 1
    return out
