"""The energy criterion: M from the dissipated power, stopped on the PCG's energy-error estimate.

``P(u) = P0 - b'u - u'r`` (solver units) is the power dissipated by the potential ``u`` with
the face values; ``P(u) - P(u*) = ||u - u*||_A^2`` (Dirichlet principle), so the M from P is
an upper bound whose error is quadratic in the potential error.  Direct-solve comparisons on
model realizations are in test_conductivity_direct.py (they reuse its reference assembly).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from vmt_dask.cli import main
from vmt_dask.conductivity import m_factor, m_factors, percolating_mask
from vmt_dask.conductivity import _stencil as st
from vmt_dask.conductivity.multigrid import ConnectedHierarchy, serial_if_small
from vmt_dask.conductivity.solver import M_TOL, _power, _solve, _EnergyTail
from vmt_dask.errors import InputError


def _random_structure(shape, seed, fraction=0.5, sigma=1.2):
    field = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma)
    return field > np.quantile(field, 1 - fraction)


def _channel_stack(n, length, seed=11):
    """A 2-D band network (|smooth field| small) extruded along z: M_z = eps exactly."""
    field = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal((n, n)), n / 12)
    section = np.abs(field) < np.quantile(np.abs(field), 0.35)
    return np.repeat(section[:, :, None], length, axis=2), float(section.mean())


def test_upper_bound_on_the_channel_stack():
    # exact M = eps (straight channels along z, any cross-section).  M_E - M = ||e||_A^2 *
    # n/(n_i n_j) >= 0; round-off of the float64 sums of P: n eps64 P ~ 1e-11 relative
    # (n = 3e4 voxels), the floor below.
    mask, eps = _channel_stack(40, 30)
    res = m_factor(mask)
    assert res.criterion == "energy" and res.converged and res.iterations >= 1
    true = (res.m_factor - eps) / eps
    assert true >= -1e-11
    assert true <= max(res.m_error_estimate, 0.0) + 1e-11
    assert res.m_error_estimate <= M_TOL


def test_energy_error_is_quadratic_in_the_potential_error():
    with serial_if_small(20 * 22 * 24):     # the kernels' builds the solver uses at this size
        _quadratic()


def _quadratic():
    # u = u* + t v: P(u) - P* = t^2 v'Av exactly (a quadratic form), so dividing t by 10
    # divides the M_E error by 100; the mean section current's error (linear in u) by 10.
    # An M_E computed from a linear functional would fail the first check.  Round-off:
    # P's float64 evaluation ~1e-13 relative against errors >= 1e-8 here: ratios to +-0.1 %.
    mask = _random_structure((20, 22, 24), 41, 0.5)
    code = st.fine_code(np.ascontiguousarray(percolating_mask(mask)))
    hier = ConnectedHierarchy(code, wx=1.0, wy=1.0)
    u_star, _, res = _solve(code, 1.0, 1.0, hier, 1e-12, 200)
    assert res <= 1e-12
    r = np.empty(code.shape, np.float32)
    bnorm = 2.0 * math.sqrt(np.count_nonzero(code[:, :, 0]))
    st.fine_residual64(code, 1.0, 1.0, u_star, r)
    p_star = _power(u_star, r, bnorm)
    v = np.random.default_rng(2).standard_normal(code.shape) * (code != 0)

    def errors(t):
        u = u_star + t * v
        st.fine_residual64(code, 1.0, 1.0, u, r)
        lin = st.section_currents(code, u).mean() - st.section_currents(code, u_star).mean()
        return _power(u, r, bnorm) - p_star, lin

    e1, l1 = errors(1e-2)
    e2, l2 = errors(1e-3)
    assert e1 > 0 and e2 > 0
    assert e1 / e2 == pytest.approx(100.0, rel=1e-3)
    assert abs(l1 / l2) == pytest.approx(10.0, rel=1e-3)


def test_tail_estimate_of_a_geometric_sequence():
    # decrements d_k = c q^k: the remaining error after step k is d_k q / (1 - q); the
    # estimate is that times the safety factor (4), and inf until three decrements are known
    tail = _EnergyTail(1e-6, 10.0)
    q = 0.25
    assert not tail.add(1.0) and tail.estimate() == math.inf
    tail.add(q)
    assert tail.estimate() == math.inf
    tail.add(q * q)
    assert tail.estimate() == pytest.approx(4.0 * q * q * q / (1 - q))
    assert tail.power == pytest.approx(10.0 - 1.0 - q - q * q)
    tail.add(0.0)                       # an exact step: nothing left
    assert tail.estimate() == 0.0


def test_explicit_rtol_gives_the_residual_solver():
    # Values of the solver at 75f5605 (session-8 start; rtol 1e-6, the residual criterion
    # and M from the mean section current), same structures: the residual path is unchanged
    # code, so the same float operations; 1e-12 allows only libm-level differences.
    for args, m_old, it_old in ((((24, 26, 30), 31, 0.45), 0.14575697891616923, 11),
                                (((30, 22, 26), 32, 0.5), 0.22196978075730794, 12)):
        axis = 2 if args[1] == 31 else 0
        res = m_factor(_random_structure(*args), axis=axis, rtol=1e-6)
        assert res.criterion == "residual" and math.isnan(res.m_error_estimate)
        assert res.m_factor == pytest.approx(m_old, rel=1e-12)
        assert res.iterations == it_old
        assert res.m_factor_currents == res.m_factor


def test_default_is_energy_and_potential_keeps_residual():
    mask = _random_structure((18, 20, 22), 43, 0.5)
    res = m_factor(mask)
    assert res.criterion == "energy" and 0.0 <= res.m_error_estimate <= M_TOL
    old = m_factor(mask, rtol=1e-6)
    assert res.iterations <= old.iterations
    # the mean-current M of the energy solve's potential is linear in its error: it may be
    # further off than M_E; both are near the residual solver's M
    assert abs(res.m_factor - old.m_factor) <= 1e-5
    pot = m_factor(mask, return_potential=True)
    assert pot.criterion == "residual" and pot.residual <= 1e-6 and pot.potential is not None
    both = m_factors(mask, axes=(0, 2), m_tol=1e-8)
    for a in (0, 2):
        assert both[a].criterion == "energy" and both[a].m_error_estimate <= 1e-8
    assert res.summary()["criterion"] == "energy"


@pytest.mark.parametrize("kw,exc", [
    ({"m_tol": 0.0}, InputError), ({"m_tol": 1.0}, InputError), ({"m_tol": -1e-6}, InputError),
    ({"m_tol": float("nan")}, InputError), ({"m_tol": "1e-6"}, TypeError),
    ({"m_tol": True}, TypeError), ({"m_tol": 1e-6, "rtol": 1e-6}, InputError),
])
def test_bad_m_tol(kw, exc):
    with pytest.raises(exc, match="m_tol"):
        m_factor(np.ones((4, 4, 4), bool), **kw)
    with pytest.raises(exc, match="m_tol"):
        m_factors(np.ones((4, 4, 4), bool), **kw)


@pytest.fixture()
def slab_file(tmp_path):
    labels = np.zeros((10, 12, 14), np.uint8)
    labels[:, :6, :] = 1
    path = tmp_path / "labels.npy"
    np.save(path, labels)
    return path


def test_cli_energy_default_and_m_tol(slab_file, capsys):
    import json

    assert main(["conduct", str(slab_file), "--phase", "SE", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["criterion"] == "energy" and out["m_tol"] == M_TOL and out["rtol"] is None
    ph = out["phases"]["SE"]
    assert ph["m_factor"] == pytest.approx(0.5, rel=1e-6)          # straight slab: M = 0.5
    assert 0.0 <= ph["m_error_estimate"] <= M_TOL
    assert main(["conduct", str(slab_file), "--phase", "SE", "--json", "--rtol", "1e-9"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["criterion"] == "residual" and out["phases"]["SE"]["m_error_estimate"] is None


@pytest.mark.parametrize("extra", [["--m-tol", "0"], ["--m-tol", "abc"], ["--m-tol", "2"],
                                   ["--m-tol", "1e-6", "--rtol", "1e-6"]])
def test_cli_bad_m_tol_exit_2(slab_file, capsys, extra):
    assert main(["conduct", str(slab_file), "--phase", "SE", *extra]) == 2
    assert "--m-tol" in capsys.readouterr().err
