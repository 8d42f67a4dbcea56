"""Inverse design on a synthetic problem with a known optimum, and a deliberately wrong surrogate."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats.qmc

from vmt_dask.errors import InputError
from vmt_dask.inverse import (QuadraticSurrogate, Region, pareto_mask, parse_objective, parse_region,
                              parse_targets, run_design)
from vmt_dask.inverse.search import from_x, to_x

REGION = Region((0.05, 0.1, 0.05, 0.1, 0.8, 1.6, -0.5), (0.2, 1.0, 0.4, 0.8, 1.1, 2.6, 0.2))
LO, HI = REGION.x_bounds
X_STAR = LO + np.array([0.3, 0.6, 0.5, 0.4, 0.5, 0.35, 0.7]) * (HI - LO)   # inside the region
THETA_STAR = from_x(X_STAR)


def _z(theta):
    x = to_x(np.atleast_2d(theta))
    return (x - X_STAR) / (HI - LO)


def true_objectives(theta):
    """m_factor_SE: concave quadratic with its maximum 0.3 at THETA_STAR; m_factor_AM: 0.3 at
    THETA_STAR falling off twice as fast, so the target m_factor_AM >= 0.2 holds only near it."""
    z = _z(theta)
    return {"m_factor_SE": 0.3 - 0.5 * (z ** 2).sum(axis=1),
            "m_factor_AM": 0.3 - 1.0 * (z ** 2).sum(axis=1)}


def exact_simulator(thetas):
    vals = true_objectives(np.array(thetas))
    return [{k: (float(v[i]), 0.0, 3) for k, v in vals.items()} for i in range(len(thetas))]


def _database(n=128, seed=3):
    U = scipy.stats.qmc.Sobol(d=7, scramble=True, seed=seed).random(n)
    thetas = from_x(LO + U * (HI - LO))
    return thetas, true_objectives(thetas)


def test_known_optimum_found_and_verified():
    thetas, values = _database()
    targets = parse_targets("m_factor_AM>=0.2")
    res = run_design(thetas, values, targets, ["m_factor_SE"], REGION, exact_simulator, n_candidates=4)
    best = res.candidates[0]
    assert best["verified"] and best["pareto"]
    # the surrogate is exact for a quadratic (training error ~ 0); the polished candidate is
    # the maximiser up to L-BFGS-B's tolerance: within 1 % of the box in every coordinate
    found = np.array([best["theta"][k] for k in best["theta"]])
    assert np.all(np.abs(_z(found)) < 0.01), _z(found)
    assert best["simulated"]["m_factor_SE"] == pytest.approx(0.3, abs=1e-3)
    # every verified candidate meets the target by simulation; the Pareto front is verified only
    assert all(c["simulated"]["m_factor_AM"] >= 0.2 for c in res.verified)
    assert all(c["verified"] for c in res.pareto)
    # predicted equals simulated for an exact surrogate
    for c in res.candidates:
        assert c["predicted"]["m_factor_SE"] == pytest.approx(c["simulated"]["m_factor_SE"], abs=1e-6)
        assert not any(c["mismatch"].values())


class WrongSurrogate:
    """Predicts the target met everywhere and m_factor_SE backwards (highest where it is lowest)."""

    rmse = {"m_factor_SE": 0.0, "m_factor_AM": 0.0}

    def predict(self, thetas):
        v = true_objectives(np.atleast_2d(thetas))
        return {"m_factor_SE": -v["m_factor_SE"], "m_factor_AM": np.full(len(v["m_factor_SE"]), 0.5)}


def test_verification_catches_a_wrong_surrogate():
    from vmt_dask.inverse.search import propose, verify

    targets = parse_targets("m_factor_AM>=0.2")
    sur = WrongSurrogate()
    thetas = propose(sur, REGION, targets, ["m_factor_SE"], n=5)
    rows = verify(thetas, sur.predict(thetas), exact_simulator, targets, ["m_factor_SE"], sur.rmse)
    assert all(r["predicted_feasible"] for r in rows)
    # the surrogate sends the search to the corners, where m_factor_AM < 0.2 in truth
    assert not any(r["verified"] for r in rows)
    assert not any(r["pareto"] for r in rows)
    assert all(r["mismatch"]["m_factor_AM"] and r["mismatch"]["m_factor_SE"] for r in rows)


def test_quadratic_surrogate_reproduces_a_quadratic():
    thetas, values = _database(128)
    sur = QuadraticSurrogate().fit(thetas, values)
    test, truth = _database(64, seed=9)
    pred = sur.predict(test)
    assert sur.degree == "full"
    for k in values:
        inside = (truth[k] >= 0) & (truth[k] <= 1)      # predictions are clipped to [0, 1]
        assert inside.sum() >= 4
        assert np.allclose(pred[k][inside], truth[k][inside], atol=1e-6)
        assert np.all((pred[k] >= 0) & (pred[k] <= 1))


def test_pareto_mask():
    v = np.array([[1, 0], [0, 1], [0.5, 0.5], [0.4, 0.4], [1, 0]])
    assert pareto_mask(v).tolist() == [True, True, True, False, True]


def test_parsing_errors():
    assert [str(t) for t in parse_targets("m_factor_SE>=0.2, M_FACTOR_am<=0.5")] == \
        ["m_factor_SE>=0.2", "m_factor_AM<=0.5"]
    for bad in ("", "m_factor_SE>0.2", "m_factor_XX>=0.1", "m_factor_SE>=abc", "m_factor_SE>=inf"):
        with pytest.raises(InputError):
            parse_targets(bad)
    with pytest.raises(InputError):
        parse_objective("conductivity")
    assert parse_region("alpha_xt=0.02:0.1,a=0.9:1") == {"alpha_xt": (0.02, 0.1), "a": (0.9, 1.0)}
    for bad in ("alpha_xt=0.1:0.02", "alpha=0:1", "a=0:1", "alpha_xt=x:1", "junk"):
        with pytest.raises(InputError):
            parse_region(bad)
