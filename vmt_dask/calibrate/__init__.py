"""Model calibration: theta from a segmented image (two-point statistics, closed-form thresholds).

Public API: :func:`fit_theta` and :class:`CalibrationResult`; the closed-form laws in
:mod:`vmt_dask.calibrate.law`; the statistics in :mod:`vmt_dask.calibrate.statistics`;
the Dask/in-process evaluation runner in :mod:`vmt_dask.calibrate.runner`.
"""
from .fit import FREE_PARAMETERS, CalibrationResult, discrepancy, fit_theta, seeds_for
from .law import exceedance, thresholds_from_fractions

__all__ = ["fit_theta", "CalibrationResult", "discrepancy", "seeds_for", "FREE_PARAMETERS",
           "exceedance", "thresholds_from_fractions"]
