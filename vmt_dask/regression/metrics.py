"""Error measures for model validation (paper Eqs. 23 and 24)."""
from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["mape", "r2"]


def _pair(observed, predicted) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(observed, dtype=float).ravel()
    p = np.asarray(predicted, dtype=float).ravel()
    if m.shape != p.shape:
        raise InputError(f"observed and predicted differ in size: {m.size} != {p.size}")
    if m.size == 0:
        raise InputError("observed is empty")
    bad = ~np.isfinite(m)
    if bad.any():
        raise InputError(f"observed has non-finite values at positions {np.flatnonzero(bad)[:10].tolist()}")
    bad = ~np.isfinite(p)
    if bad.any():
        raise InputError(f"predicted has non-finite values at positions {np.flatnonzero(bad)[:10].tolist()}")
    return m, p


def mape(observed, predicted) -> float:
    """Mean absolute percentage error, in percent.

    Parameters
    ----------
    observed : array_like
        Simulated M-factors ``m_j`` (non-zero).
    predicted : array_like
        Predictions ``m_hat_j``, same size.

    Returns
    -------
    float
        ``100 / n * sum_j |(m_hat_j - m_j) / m_j|`` (percent).

    Raises
    ------
    InputError
        On empty or mismatched input, non-finite values, or a zero observed value.

    Notes
    -----
    Paper Eq. (23).
    """
    m, p = _pair(observed, predicted)
    zero = m == 0
    if zero.any():
        raise InputError(
            f"MAPE is undefined for observed values of 0 (positions {np.flatnonzero(zero)[:10].tolist()})"
        )
    return float(100.0 * np.mean(np.abs((p - m) / m)))


def r2(observed, predicted) -> float:
    """Coefficient of determination.

    Parameters
    ----------
    observed : array_like
        Simulated M-factors ``m_j`` (at least two different values).
    predicted : array_like
        Predictions ``m_hat_j``, same size.

    Returns
    -------
    float
        ``1 - sum_j (m_j - m_hat_j)^2 / sum_j (m_j - mean(m))^2``.  At most 1;
        negative when the predictions are worse than the mean.

    Raises
    ------
    InputError
        On empty or mismatched input, non-finite values, or observed values that
        are all equal (the denominator vanishes).

    Notes
    -----
    Paper Eq. (24).
    """
    m, p = _pair(observed, predicted)
    ss_tot = float(np.sum((m - m.mean()) ** 2))
    if np.ptp(m) == 0.0 or ss_tot == 0.0:
        raise InputError(f"R^2 is undefined: all {m.size} observed values equal {m[0]!r}")
    return float(1.0 - np.sum((m - p) ** 2) / ss_tot)
