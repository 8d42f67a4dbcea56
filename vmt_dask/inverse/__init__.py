"""Inverse design: theta that meets targets on the M-factors and descriptors, verified by simulation.

:mod:`~vmt_dask.inverse.targets` (objectives, targets, regions), :mod:`~vmt_dask.inverse.search`
(surrogate, proposals, verification, Pareto front; pure numerics) and
:mod:`~vmt_dask.inverse.study` (database, Dask simulation, outputs; what ``vmt design`` runs).
"""
from .search import DesignResult, QuadraticSurrogate, Region, pareto_mask, propose, run_design, verify
from .targets import ALPHA_FLOOR, OBJECTIVES, Target, parse_objective, parse_region, parse_targets

__all__ = ["DesignResult", "QuadraticSurrogate", "Region", "pareto_mask", "propose", "run_design",
           "verify", "ALPHA_FLOOR", "OBJECTIVES", "Target", "parse_objective", "parse_region",
           "parse_targets"]
