"""MAPE (Eq. 23), R^2 (Eq. 24), the split and the predictors."""
from __future__ import annotations

import numpy as np
import pytest

from vmt_dask.regression import default_train_size, get_model, mape, predict, r2, train_test_split


def test_mape_known_values():
    assert mape([1.0, 2.0], [1.1, 1.8]) == pytest.approx(10.0)
    assert mape([0.2, 0.4, 0.5], [0.2, 0.4, 0.5]) == 0.0


def test_mape_and_r2_equal_direct_loops():
    rng = np.random.default_rng(0)
    m = rng.uniform(0.05, 0.3, 164)
    p = m * (1 + rng.normal(0, 0.05, 164))
    n = len(m)
    direct_mape = 100.0 / n * sum(abs((p[j] - m[j]) / m[j]) for j in range(n))
    mbar = sum(m) / n
    direct_r2 = 1 - sum((m[j] - p[j]) ** 2 for j in range(n)) / sum((m[j] - mbar) ** 2 for j in range(n))
    assert mape(m, p) == pytest.approx(direct_mape, rel=1e-12)
    assert r2(m, p) == pytest.approx(direct_r2, rel=1e-12)


def test_r2_reference_points():
    m = np.array([0.1, 0.2, 0.3, 0.4])
    assert r2(m, m) == 1.0
    assert r2(m, np.full(4, m.mean())) == pytest.approx(0.0, abs=1e-15)
    assert r2(m, m[::-1]) < 0


def test_metric_errors_name_the_problem():
    with pytest.raises(ValueError, match="observed values of 0"):
        mape([0.0, 1.0], [0.1, 1.0])
    with pytest.raises(ValueError, match="all 3 observed values equal"):
        r2([0.2, 0.2, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="differ in size"):
        r2([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="non-finite"):
        mape([0.1, np.nan], [0.1, 0.2])
    with pytest.raises(ValueError, match="empty"):
        mape([], [])


def test_paper_split_sizes_and_reproducibility():
    tr, te = train_test_split(495, seed=0)
    assert (tr.size, te.size) == (331, 164)
    assert np.array_equal(np.sort(np.concatenate([tr, te])), np.arange(495))
    tr2, te2 = train_test_split(495, seed=0)
    assert np.array_equal(tr, tr2) and np.array_equal(te, te2)
    tr3, _ = train_test_split(495, seed=1)
    assert not np.array_equal(tr, tr3)


@pytest.mark.parametrize("n,n_train", [(3, 2), (10, 7), (99, 66), (33, 22), (100, 67)])
def test_two_thirds_otherwise(n, n_train):
    assert default_train_size(n) == n_train
    tr, te = train_test_split(n, seed=5)
    assert tr.size == n_train and te.size == n - n_train


def test_split_rejects_bad_sizes():
    with pytest.raises(ValueError, match="too few structures to split: n = 2"):
        train_test_split(2)
    with pytest.raises(ValueError, match="n_train must be in"):
        train_test_split(10, n_train=10)
    with pytest.raises(TypeError, match="n must be an int"):
        train_test_split(10.0)


def test_predictors_match_paper_formulas():
    eps, mu, sig, beta = 0.41, 1.12, 0.08, 0.38
    d = {"eps": np.array([eps]), "mu_tau": np.array([mu]), "sigma_tau": np.array([sig]), "beta": np.array([beta])}
    assert predict("M1", [2.32], d)[0] == pytest.approx(eps**2.32)
    assert predict("M2", [2.74, 3.88, -0.09, 3.09], d)[0] == pytest.approx(2.74 * eps**3.88 * beta**-0.09 * mu**3.09)
    assert predict("M3", [3.99, -0.54, 0.13, 3.26], d)[0] == pytest.approx(3.99 * mu**-0.54 * sig**0.13 * eps**3.26)
    c = [4.36, -1.42, 0.16, 3.08, 0.06]
    assert predict("M4", c, d)[0] == pytest.approx(
        predict("M3", c[:4], d)[0] * beta**0.06)  # M4 = M3 * beta^c5
    assert get_model("m4").formula() == "c1 * μ(τ)^c2 * σ(τ)^c3 * ε^c4 * β^c5"
    with pytest.raises(ValueError, match="shape"):
        predict("M2", [1.0], d)


def test_regression_names_are_the_domain_names():
    """The regression reads results variables by the names vmt_dask.domain defines."""
    from vmt_dask.domain import DESCRIPTOR_KEYS, STUDY_PHASES
    from vmt_dask.regression import DESCRIPTORS, PHASES
    from vmt_dask.regression.synthetic import FUNCTIONS, synthetic_results

    assert set(DESCRIPTORS.values()) <= set(DESCRIPTOR_KEYS)
    assert PHASES == STUDY_PHASES
    ds = synthetic_results(1, seed=0)
    assert set(FUNCTIONS) <= set(ds.data_vars)
