"""The counter-based white noise: standard normal, independent, a function of position only."""
import numpy as np
import pytest
from scipy import stats

from vmt_dask.model.noise import MAX_COORDINATE, noise_region

N = 64 ** 3  # 262144 values


@pytest.fixture(scope="module")
def box():
    return noise_region(11, 0, (-20, 3, -7), (44, 67, 57)).astype(np.float64)


def test_moments_and_distribution(box):
    """Sample moments within 5 standard errors of N(0,1): SE(mean) = 1/sqrt(N),
    SE(var) = sqrt(2/N), SE(skew) = sqrt(6/N), SE(excess kurtosis) = sqrt(24/N)."""
    v = box.ravel()
    assert abs(v.mean()) < 5 / np.sqrt(N)
    assert abs(v.var() - 1) < 5 * np.sqrt(2 / N)
    assert abs(stats.skew(v)) < 5 * np.sqrt(6 / N)
    assert abs(stats.kurtosis(v)) < 5 * np.sqrt(24 / N)
    assert stats.kstest(v, "norm").pvalue > 1e-4
    # the ziggurat tail: P(|x| > 3) = 0.0027; count is binomial
    p = 2 * stats.norm.sf(3.0)
    assert abs(np.mean(np.abs(v) > 3) - p) < 5 * np.sqrt(p * (1 - p) / N)


def test_no_correlation_between_neighbours_or_fields(box):
    se = 1 / np.sqrt(N)  # SE of a sample correlation of independent values
    for axis in range(3):
        a = np.moveaxis(box, axis, 0)
        assert abs(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1]) < 5 * se
    other = noise_region(11, 1, (-20, 3, -7), (44, 67, 57)).astype(np.float64)
    assert abs(np.corrcoef(box.ravel(), other.ravel())[0, 1]) < 5 * se
    reseeded = noise_region(12, 0, (-20, 3, -7), (44, 67, 57)).astype(np.float64)
    assert abs(np.corrcoef(box.ravel(), reseeded.ravel())[0, 1]) < 5 * se


def test_values_depend_only_on_position(box):
    sub = noise_region(11, 0, (0, 10, 0), (13, 29, 31))
    assert np.array_equal(sub, box[20:33, 7:26, 7:38].astype(np.float32))


def test_range_checked():
    with pytest.raises(ValueError, match="lattice range"):
        noise_region(1, 0, (0, 0, MAX_COORDINATE - 1), (1, 1, MAX_COORDINATE + 1))
