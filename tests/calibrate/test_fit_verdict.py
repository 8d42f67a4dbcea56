"""The calibration verdict: a bound too wide to reject anything is "inconclusive", not "accepted".

Fresh-eyes run (session 7): `vmt calibrate ... --realizations 2` printed "accepted: max |z| 6.16
<= bound 2.42e+03" for a fit whose SE volume fraction was 0.98 against 0.71 in the image.
"""
from __future__ import annotations

import numpy as np
import scipy.stats

from vmt_dask.calibrate.fit import (
    CONCLUSIVE_FACTOR, CalibrationResult, _bonferroni_bound, min_conclusive_realizations)


def _result(R: int, K: int, max_z: float, level: float = 0.01) -> CalibrationResult:
    z = np.zeros(K)
    z[0] = max_z
    return CalibrationResult(
        theta=(1.0,) * 7, names=[f"s{k}" for k in range(K)], lags=[], observed=z, expected=z,
        simulated_mean=z, sigma=np.ones(K), z=z, bound=_bonferroni_bound(R, K, level), level=level,
        std_errors={}, volume_fractions={}, shape=(8, 8, 8), voxel_size=1.0, seeds=list(range(R)),
        cost={})


def test_verdicts():
    assert abs(_result(2, 38, 6.16).bound - 2419) < 1                # the fresh-eyes bound
    assert _result(2, 38, 6.16).verdict == "inconclusive"
    assert _result(2, 38, 6.16).accepted                           # within its (useless) bound
    assert _result(6, 38, 2.0).verdict == "accepted"
    assert _result(6, 38, 50.0).verdict == "REJECTED"
    assert _result(2, 38, 1e4).verdict == "REJECTED"               # a rejection stays valid
    d = _result(2, 38, 6.16).to_dict()
    assert d["verdict"] == "inconclusive" and d["conclusive"] is False


def test_min_conclusive_realizations_is_the_first_r_within_the_limit():
    for K in (20, 38, 100):
        R = min_conclusive_realizations(K, 0.01)
        limit = CONCLUSIVE_FACTOR * scipy.stats.norm.ppf(1 - 0.01 / (2 * K))
        assert _bonferroni_bound(R, K, 0.01) <= limit < _bonferroni_bound(R - 1, K, 0.01)
    # the CLI default (6 realizations, level 0.01) is conclusive for a 48^3 fit's 38 statistics
    assert min_conclusive_realizations(38, 0.01) <= 6
