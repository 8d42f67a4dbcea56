"""Design: interpolation, perturbations, seeds (common random numbers), gradients, clipping."""
from __future__ import annotations

import numpy as np
import pytest

from vmt_dask.study import FUNCTIONS, load_spec
from vmt_dask.study.design import (evaluation_seeds, function_means, gradient_from_means,
                                   interpolation_points, perturbed_thetas, point_structures,
                                   step_theta, structure_seed)


def test_interpolation_points_eq9():
    spec = load_spec("paper")
    pts = interpolation_points(spec)
    assert len(pts) == 15
    a, b = np.array(spec.endpoints["BM03"]), np.array(spec.endpoints["BM10"])
    p = pts[11]  # pair (BM03, BM10), t = 2/6
    assert p.pair_name == "BM03-BM10" and p.t == pytest.approx(2 / 6)
    np.testing.assert_allclose(p.theta, a + (2 / 6) * (b - a), rtol=0, atol=1e-15)


def test_perturbations_are_unit_steps():
    theta = np.arange(1.0, 8.0)
    ev = perturbed_thetas(theta, 0.05)
    assert ev.shape == (8, 7)
    np.testing.assert_array_equal(ev[0], theta)
    np.testing.assert_allclose(ev[1:] - theta, 0.05 * np.eye(7), atol=1e-15)


def test_seeds_are_deterministic_shared_and_distinct():
    spec = load_spec("paper")
    s0 = evaluation_seeds(spec, 0)
    assert s0 == evaluation_seeds(spec, 0) and len(s0) == 5
    all_seeds = [s for p in range(15) for s in evaluation_seeds(spec, p)]
    all_seeds += [structure_seed(spec, p, k) for p in range(15) for k in range(33)]
    assert len(set(all_seeds)) == len(all_seeds)
    assert all(0 <= s < 2**63 for s in all_seeds)
    assert evaluation_seeds(spec.replace(seed=spec.seed + 1), 0) != s0


def test_gradient_from_given_means_sets_a_to_zero():
    base = np.linspace(1, 2, 8)
    rng = np.random.default_rng(0)
    pert = base[:, None] + rng.normal(size=(8, 7))
    g = gradient_from_means(base, pert, 0.05)
    expect = (pert - base[:, None]) / 0.05
    expect[:, 4] = 0
    np.testing.assert_allclose(g, expect, rtol=1e-14)


def test_function_means_ignore_nan_realizations():
    v = np.ones((8, 3, 8))
    v[0, 1, 4] = np.nan  # tortuosity of one realization does not percolate
    v[0, :, 5] = np.nan  # no realization percolates
    m = function_means(v)
    assert m.shape == (8, 8)
    assert m[0, 4] == 1 and np.isnan(m[0, 5])


def test_step_clips_alphas_and_keeps_a():
    theta = np.array([0.07, 0.13, 0.02, 0.65, 0.92, 1.87, -0.26])
    g = np.array([-1.0, 2.0, -3.0, 0.5, 0.0, 1.0, -1.0])
    out = np.array(step_theta(theta, g, 0.2, alpha_floor=0.05))
    np.testing.assert_allclose(out, [0.05, 0.53, 0.05, 0.75, 0.92, 2.07, -0.46], atol=1e-14)
    g_nan = g.copy(); g_nan[1] = np.nan
    assert step_theta(theta, g_nan, 0.2, alpha_floor=0.05)[1] == pytest.approx(0.13)


def test_point_structures_layout():
    spec = load_spec("paper")
    p = interpolation_points(spec)[3]
    grad = np.ones((8, 7))
    ss = point_structures(spec, p, grad)
    assert len(ss) == 33
    assert [s.index for s in ss] == list(range(3 * 33, 4 * 33))
    assert ss[0].function == "" and ss[0].h == 0 and ss[0].theta == p.theta
    assert [s.function for s in ss[1:5]] == [FUNCTIONS[0]] * 4
    assert [s.h for s in ss[-4:]] == [-0.05, -0.025, 0.025, 0.05]
    np.testing.assert_allclose(ss[1].theta[4], p.theta[4])  # a never moves (gradient a = 0 in practice)
    assert len(point_structures(spec, p, None)) == 1
