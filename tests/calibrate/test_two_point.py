"""Two-point probability functions by FFT: analytic patterns and a direct sum."""
from __future__ import annotations

import numpy as np
import pytest

from vmt_dask.errors import InputError
from vmt_dask.statistics import lag_pair_counts, two_point_correlation, two_point_probability


def _direct(mask, axis, L, other=None):
    m = np.moveaxis(mask, axis, 0).astype(np.int64)
    o = m if other is None else np.moveaxis(other, axis, 0).astype(np.int64)
    n = m.shape[0]
    return np.array([(m[: n - h] * o[h:]).sum() / ((n - h) * m[0].size) for h in range(L + 1)])


def test_stripes_known_answer():
    # stripes of width w, period P along x: S2(h) = (number of t in one period with both
    # t and t + h inside a stripe) / P, exactly for a volume holding whole periods
    P, w, reps = 10, 4, 6
    x = np.arange(P * reps)
    mask = np.broadcast_to(((x % P) < w)[:, None, None], (P * reps, 5, 7)).copy()
    s2 = two_point_probability(mask, axis="x", max_lag=P)
    expect = []
    for h in range(P + 1):
        both = sum(1 for t in range(P) if t % P < w and (t + h) % P < w)
        expect.append(both / P)
    # minus sampling on a finite window: the pairs at lag h cover (reps*P - h) starts, so the
    # mean over them is the periodic value up to the partial period (< w/(reps P - h))
    for h in range(P + 1):
        exact = _direct(mask, 0, P)[h]
        assert s2[h] == pytest.approx(exact, abs=1e-12)
        assert abs(s2[h] - expect[h]) <= w / (reps * P - h) + 1e-12
    assert s2[0] == pytest.approx(w / P)
    assert s2[P] == pytest.approx(w / P)          # one period later: identical
    # along y and z the stripes do not vary: S2(h) = p for every lag
    assert np.allclose(two_point_probability(mask, axis=1, max_lag=4), w / P)
    assert np.allclose(two_point_probability(mask, axis="z", max_lag=6), w / P)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_equals_direct_sum_random(axis):
    rng = np.random.default_rng(3)
    mask = rng.random((17, 12, 9)) < 0.4
    other = rng.random((17, 12, 9)) < 0.3
    L = mask.shape[axis] - 1
    assert np.allclose(two_point_probability(mask, axis=axis, max_lag=L), _direct(mask, axis, L), atol=1e-12)
    assert np.allclose(two_point_probability(mask, axis=axis, max_lag=L, other=other),
                       _direct(mask, axis, L, other), atol=1e-12)


def test_bernoulli_decorrelates():
    # iid voxels: S2(h > 0) has mean p^2 and sd sqrt(p^2 (1 - p^2) / N_pairs) (pairs at one
    # lag are nearly independent); 5 sd bound per lag
    rng = np.random.default_rng(11)
    p = 0.3
    mask = rng.random((40, 40, 40)) < p
    s2 = two_point_probability(mask, axis=2, max_lag=5)
    n = lag_pair_counts(mask.shape, 2, 5)
    sd = np.sqrt(p * p * (1 - p * p) / n)
    assert np.all(np.abs(s2[1:] - p * p) < 5 * sd[1:])
    c = two_point_correlation(mask, axis=2, max_lag=5)
    assert c[0] == pytest.approx(1.0)


def test_bad_input():
    with pytest.raises(InputError):
        two_point_probability(np.zeros((4, 4), bool), max_lag=1)
    with pytest.raises(InputError):
        two_point_probability(np.zeros((4, 4, 4), bool), max_lag=4)
    with pytest.raises(TypeError):
        two_point_probability(np.zeros((4, 4, 4), float), max_lag=1)
    with pytest.raises(InputError):
        two_point_probability(np.full((4, 4, 4), 3, np.uint8), max_lag=1)
    assert np.isnan(two_point_correlation(np.ones((4, 4, 4), bool), max_lag=1)).all()
