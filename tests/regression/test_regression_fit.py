"""Coefficient recovery, exclusions and bad input of the regression fits."""
from __future__ import annotations

import numpy as np
import pytest

from vmt_dask.errors import InputError
from vmt_dask.regression import (
    MODELS,
    fit,
    fit_all,
    fit_power_law,
    mape,
    predict,
    r2,
)
from vmt_dask.regression.synthetic import synthetic_results

# True coefficients near the paper's Table 5 (SE column), inside the bounds.
TRUTH = {
    "M1": (2.32,),
    "M2": (2.74, 3.88, -0.09, 3.09),
    "M3": (3.99, -0.54, 0.13, 3.26),
    "M4": (4.36, -1.42, 0.16, 3.08, 0.06),
}


def _descriptors(rng, n):
    # SE-like ranges (paper Section 3.2).
    return {
        "eps": rng.uniform(0.33, 0.48, n),
        "mu_tau": rng.uniform(1.08, 1.19, n),
        "sigma_tau": rng.uniform(0.05, 0.12, n),
        "beta": rng.uniform(0.31, 0.99, n),
    }


def _jacobian(model, c, desc):
    """d M / d c_k at c, written out independently of the package."""
    mdl = MODELS[model]
    m = predict(model, c, desc)
    cols = []
    if mdl.prefactor:
        cols.append(m / c[0])
    cols += [m * np.log(desc[name]) for name in mdl.exponents]
    return np.column_stack(cols)


@pytest.mark.parametrize("model", list(MODELS))
def test_noise_free_data_recovered_exactly(model):
    rng = np.random.default_rng(1)
    desc = _descriptors(rng, 200)
    m = predict(model, TRUTH[model], desc)
    res = fit_power_law(model, desc, m)
    assert res.converged, res.message
    # Exact data: the log-linear start is already the solution up to rounding;
    # the solver must not move away from it.
    np.testing.assert_allclose(res.coefficients, TRUTH[model], rtol=1e-6, atol=1e-8)
    assert res.objective < 1e-20


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("model", list(MODELS))
def test_coefficients_recovered_within_derived_tolerance(model, seed):
    """Additive Gaussian noise of s.d. s on M: least squares (Eq. 22) is then
    the maximum-likelihood estimator, asymptotically normal with covariance
    s^2 (J^T J)^{-1}, J the Jacobian of the predictor in the coefficients at
    the true values (n = 331 training points as in the paper).  Its bias is
    O(s^2 * curvature), negligible here (relative noise ~3 %).  Every
    coefficient must lie within 5 standard errors (a false alarm has
    probability ~6e-7 per coefficient under normality), plus 1e-9 for
    rounding."""
    rng = np.random.default_rng(100 + seed)
    n, s = 331, 0.004
    desc = _descriptors(rng, n)
    truth = np.asarray(TRUTH[model])
    m = predict(model, truth, desc) + rng.normal(0.0, s, n)
    res = fit_power_law(model, desc, m)
    assert res.converged, (res.message, res.warnings)
    J = _jacobian(model, truth, desc)
    se = s * np.sqrt(np.diag(np.linalg.inv(J.T @ J)))
    err = np.abs(res.coefficients - truth)
    assert np.all(err <= 5 * se + 1e-9), (res.coefficients, truth, se)
    # The optimum of Eq. 22 is no worse than the truth or the log-linear start.
    g_truth = float(np.sum((m - predict(model, truth, desc)) ** 2))
    assert res.objective <= g_truth * (1 + 1e-9)
    assert res.objective <= res.start_objective * (1 + 1e-12)


def test_objective_is_a_local_minimum():
    """Perturbing any coefficient by a little raises Eq. 22 (checks that the
    reported optimum is not an early stop)."""
    rng = np.random.default_rng(7)
    desc = _descriptors(rng, 331)
    m = predict("M4", TRUTH["M4"], desc) + rng.normal(0, 0.004, 331)
    res = fit_power_law("M4", desc, m)
    g0 = res.objective
    for k in range(5):
        for d in (-1e-3, 1e-3):
            c = np.array(res.coefficients)
            c[k] += d * max(1.0, abs(c[k]))
            assert np.sum((m - predict("M4", c, desc)) ** 2) >= g0


def test_fit_on_dataset_scores_match_direct_computation():
    ds = synthetic_results(3, seed=4)
    res = fit(ds, phase="SE", model="M3", seed=5)
    desc = {
        "mu_tau": ds["tortuosity_mean_SE"].values[res.test],
        "sigma_tau": ds["tortuosity_std_SE"].values[res.test],
        "eps": ds["volume_fraction_SE"].values[res.test],
    }
    m = ds["m_factor_SE"].values[res.test]
    c1, c2, c3, c4 = res.coefficients
    pred = c1 * desc["mu_tau"] ** c2 * desc["sigma_tau"] ** c3 * desc["eps"] ** c4
    np.testing.assert_allclose(res.predicted_test, pred, rtol=1e-12)
    assert res.mape == pytest.approx(100 * np.mean(np.abs((pred - m) / m)), rel=1e-12)
    assert res.r2 == pytest.approx(1 - np.sum((m - pred) ** 2) / np.sum((m - m.mean()) ** 2), rel=1e-12)
    assert res.n_train + res.n_test == ds.sizes["structure"] == 99
    assert not res.exclusions


def test_fit_all_paper_design_sizes_and_truth():
    ds = synthetic_results(15, seed=0, noise=0.002)
    table = fit_all(ds, seed=3)
    assert table.ok
    for res in table.fits.values():
        assert (res.n_train, res.n_test) == (331, 164)
        np.testing.assert_array_equal(res.train, table.train)
    # The generating model (M3, paper coefficients) explains the data best.
    for phase in ("AM", "SE"):
        assert table.fits[(phase, "M3")].r2 > 0.9
        assert table.fits[(phase, "M3")].r2 >= table.fits[(phase, "M1")].r2
    truth = ds.attrs["true_coefficients"]["SE"]
    # SE exponents well identified: eps spans 0.33-0.48; 0.1 absolute is > 5 s.e. here.
    np.testing.assert_allclose(table.fits[("SE", "M3")].coefficients[3], truth[3], atol=0.1)


def test_zero_m_factor_excluded_with_reason():
    ds = synthetic_results(3, seed=1).copy(deep=True)
    m = ds["m_factor_SE"].values
    m[[4, 10]] = 0.0
    m[11] = np.nan
    ds["m_factor_SE"] = ("structure", m)
    table = fit_all(ds)
    for model in MODELS:
        excl = table.exclusions[("SE", model)]
        assert [e.position for e in excl] == [4, 10, 11]
        assert "does not percolate" in excl[0].reason and "m_factor_SE = 0" in excl[0].reason
        assert "NaN" in excl[2].reason
        assert "structure 4 (" in excl[0].label  # provenance in the label
        res = table.fits[("SE", model)]
        used = np.concatenate([res.train, res.test])
        assert not set(used) & {4, 10, 11}
        assert res.n_train + res.n_test == 99 - 3
        assert not table.exclusions[("AM", model)]
    notes = "\n".join(table.notes())
    assert "SE: 3 of 99 structure(s) excluded" in notes and "[all models]" in notes
    assert "structure 10" in notes
    assert "structure 4" in table.to_markdown()


def test_descriptor_problems_exclude_only_models_that_use_them():
    ds = synthetic_results(3, seed=2).copy(deep=True)
    beta = ds["constrictivity_AM"].values
    beta[7] = 0.0
    sig = ds["tortuosity_std_AM"].values
    sig[8] = np.nan
    ds["constrictivity_AM"] = ("structure", beta)
    ds["tortuosity_std_AM"] = ("structure", sig)
    table = fit_all(ds, phases=["AM"])
    pos = {m: [e.position for e in table.exclusions[("AM", m)]] for m in MODELS}
    assert pos == {"M1": [], "M2": [7], "M3": [8], "M4": [7, 8]}
    reason = table.exclusions[("AM", "M2")][0].reason
    assert "constrictivity_AM = 0 is not positive" in reason
    assert "tortuosity_std_AM is NaN" in table.exclusions[("AM", "M3")][0].reason


def test_missing_variable_skips_only_affected_fits():
    ds = synthetic_results(2, seed=3).drop_vars("tortuosity_std_SE")
    table = fit_all(ds)
    assert set(table.skipped) == {("SE", "M3"), ("SE", "M4")}
    assert "tortuosity_std_SE" in table.skipped[("SE", "M3")]
    assert ("SE", "M2") in table.fits and ("AM", "M4") in table.fits
    assert not table.ok
    assert "skipped" in table.format_text()
    with pytest.raises(InputError, match="tortuosity_std_SE"):
        fit(ds, phase="SE", model="M3")


def test_too_few_structures():
    ds = synthetic_results(1, seed=0).isel(structure=[0, 1])
    with pytest.raises(InputError, match="too few structures to split: n = 2"):
        fit_all(ds)
    with pytest.raises(InputError, match="too few structures"):
        fit(ds, phase="AM", model="M1")


def test_too_few_usable_structures_listed_not_crash():
    ds = synthetic_results(1, seed=0).copy(deep=True)  # 33 structures
    m = ds["m_factor_SE"].values
    m[3:] = 0.0  # only 3 percolating structures left
    ds["m_factor_SE"] = ("structure", m)
    table = fit_all(ds)
    assert set(table.skipped) == {("SE", m) for m in MODELS}
    reason = table.skipped[("SE", "M4")]
    assert "too few usable structures" in reason and "excluded 30 of 33" in reason
    assert "does not percolate" in reason
    assert all(("AM", m) in table.fits for m in MODELS)


def test_bad_arguments():
    ds = synthetic_results(1, seed=0)
    with pytest.raises(ValueError, match="phase must be one of"):
        fit(ds, phase="pore", model="M1")
    with pytest.raises(ValueError, match="model must be one of"):
        fit(ds, phase="AM", model="M7")
    with pytest.raises(TypeError, match="xarray.Dataset"):
        fit({"m": 1}, phase="AM", model="M1")
    with pytest.raises(ValueError, match="positive and finite"):
        fit_power_law("M1", {"eps": np.array([0.5, -0.1])}, np.array([0.3, 0.2]))


def test_constant_descriptor_reported():
    rng = np.random.default_rng(3)
    desc = _descriptors(rng, 50)
    desc["beta"] = np.full(50, 0.5)
    m = predict("M3", TRUTH["M3"], desc)
    res = fit_power_law("M4", desc, m)
    assert any("beta is constant" in w for w in res.warnings)
    assert res.coefficients[4] == 0.0
    np.testing.assert_allclose(res.coefficients[1:4], TRUTH["M3"][1:], rtol=1e-5)


def test_scores_consistent_with_metrics():
    ds = synthetic_results(2, seed=9)
    table = fit_all(ds, seed=1)
    for res in table.fits.values():
        assert res.mape == mape(res.observed_test, res.predicted_test)
        assert res.r2 == r2(res.observed_test, res.predicted_test)


@pytest.mark.parametrize("model", list(MODELS))
def test_solution_satisfies_the_normal_equations(model):
    """At a least-squares optimum the residual r is orthogonal to the tangent space of
    the model (span of the Jacobian, here written out independently in the paper's
    coefficients).  The fraction of |r|^2 a Gauss-Newton step could still remove is
    |P r|^2 / |r|^2 (P the projector on that span, invariant to the solver's
    reparametrisation).  A decrease of g below its own rounding error, about
    n * eps = 331 * 2.2e-16 = 7e-14 relative, cannot be detected, so the bound is 1e-13."""
    rng = np.random.default_rng(11)
    desc = _descriptors(rng, 331)
    m = predict(model, TRUTH[model], desc) + rng.normal(0.0, 0.004, 331)
    res = fit_power_law(model, desc, m)
    assert res.converged and res.status > 0, res.message
    r = m - predict(model, res.coefficients, desc)
    q, _ = np.linalg.qr(_jacobian(model, np.asarray(res.coefficients), desc))
    pr = q.T @ r
    assert pr @ pr <= 1e-13 * (r @ r)
    assert res.objective == pytest.approx(r @ r, rel=1e-12)


def test_exponent_at_bound_is_a_note_of_its_kind():
    rng = np.random.default_rng(5)
    desc = _descriptors(rng, 100)
    m = predict("M2", TRUTH["M2"], desc)  # c2 = 3.88 for eps
    res = fit_power_law("M2", desc, m, exponent_bound=2.0)
    kinds = [n.kind for n in res.notes]
    assert "exponent_at_bound" in kinds
    assert res.coefficients[1] == pytest.approx(2.0)
    # the bound is active, so the projected-gradient test still declares convergence
    assert res.converged, res.warnings


def test_skipped_fit_notes_are_built_from_data():
    """The notes show a skipped fit's reason without its exclusion summary (the
    exclusions are listed per structure), and merge reasons across models."""
    ds = synthetic_results(1, seed=0).copy(deep=True)  # 33 structures
    m = ds["m_factor_SE"].values
    m[3:] = 0.0
    ds["m_factor_SE"] = ("structure", m)
    sig = ds["tortuosity_std_SE"].values
    sig[5] = np.nan
    ds["tortuosity_std_SE"] = ("structure", sig)
    table = fit_all(ds)
    assert "excluded 30 of 33" in table.skipped[("SE", "M3")]
    notes = table.notes()
    skip_lines = [n for n in notes if n.startswith("SE M3 not fitted:")]
    assert len(skip_lines) == 1 and "excluded" not in skip_lines[0]
    line5 = next(n for n in notes if "structure 5 " in n)
    # structure 5: M-factor 0 for all models, sigma(tau) NaN only for M3 and M4; one line
    assert "m_factor_SE = 0" in line5 and "tortuosity_std_SE is NaN" in line5 and "[all models]" in line5
    excl = table.exclusions[("SE", "M4")][1]
    assert excl.position == 4 and excl.reasons == ("m_factor_SE = 0 (the SE phase does not percolate)",)


def test_phase_names_are_case_insensitive():
    ds = synthetic_results(1, seed=0)
    assert fit(ds, phase="se", model="m1").phase == "SE"
