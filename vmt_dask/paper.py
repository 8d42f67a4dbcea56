"""Reference values published in the paper (Dufter et al., `shared/spec/paper.md`).

The numbers vmt-dask is judged against, each written down once: Table 2 (descriptors and
M-factors of the three measured cathodes), the ranges of Section 3.2 (the 495-structure
database, Fig. 5) and Table 5 (regression coefficients, MAPE and R^2 on the test set).
Keys are the results-schema variable names ``f"{quantity}_{phase}"`` (docs/results-schema.md).
Pure data: no imports from the package.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, NamedTuple

__all__ = [
    "GRID", "VOXEL_SIZE_UM", "TABLE2", "Range", "SECTION_3_2_RANGES", "RegressionReference",
    "TABLE5",
]

#: Edge length of the paper's structures in voxels (401^3 = 80.2 micrometre cubes).
GRID = 401
#: Voxel size of the paper's structures, micrometres.
VOXEL_SIZE_UM = 0.2

#: Paper Table 2: descriptors and M-factors of the measured data sets (two decimals as printed;
#: specific surface area in 1/micrometre).
TABLE2: Mapping[str, Mapping[str, float]] = MappingProxyType({
    name: MappingProxyType(dict(zip(
        ("volume_fraction_AM", "volume_fraction_SE", "tortuosity_mean_AM", "tortuosity_mean_SE",
         "constrictivity_AM", "constrictivity_SE", "specific_surface_area_AM",
         "specific_surface_area_SE", "m_factor_AM", "m_factor_SE"),
        values,
    )))
    for name, values in {
        "BM01": (0.52, 0.41, 1.07, 1.12, 0.72, 0.38, 1.00, 0.80, 0.32, 0.13),
        "BM03": (0.51, 0.42, 1.07, 1.13, 0.75, 0.51, 0.85, 0.65, 0.35, 0.21),
        "BM10": (0.56, 0.34, 1.06, 1.20, 0.91, 0.13, 0.85, 0.35, 0.41, 0.08),
    }.items()
})


class Range(NamedTuple):
    """A range the paper reports for the database (Section 3.2).

    ``low``/``high`` bound the reported span; ``bulk_low``/``bulk_high`` the interval where
    the paper says most values lie (None where it gives none); ``note`` quotes how the paper
    words it.
    """

    low: float
    high: float
    bulk_low: float | None = None
    bulk_high: float | None = None
    note: str = ""


#: Paper Section 3.2 (Fig. 5): ranges over the 495 structures of the database.
SECTION_3_2_RANGES: Mapping[str, Range] = MappingProxyType({
    "volume_fraction_AM": Range(0.45, 0.57, note="spans"),
    "volume_fraction_SE": Range(0.33, 0.48, note="ranges"),
    "tortuosity_mean_SE": Range(1.081, 1.186, note="ranges"),
    "constrictivity_AM": Range(0.85, 1.0, 0.85, 1.0, note="most values in [0.85, 1]"),
    "constrictivity_SE": Range(0.31, 0.99, note="ranges"),
    "specific_surface_area_AM": Range(0.42, 2.61, 0.7, 1.7, note="clustered in [0.7, 1.7]"),
    "specific_surface_area_SE": Range(0.27, 2.33, 0.27, 1.35, note="majority in [0.27, 1.35]"),
    "m_factor_AM": Range(0.20, 0.33, note="spans"),
    "m_factor_SE": Range(0.06, 0.20, note="spans"),
})


class RegressionReference(NamedTuple):
    """One row of paper Table 5: coefficients c1.. of a model (Eqs. 18-21), MAPE and R^2."""

    coefficients: tuple[float, ...]
    mape: float  # a fraction (0.0513 = 5.13 %)
    r2: float


#: Paper Table 5, keyed by (phase, model); coefficients in the order of Eqs. 18-21.
TABLE5: Mapping[tuple[str, str], RegressionReference] = MappingProxyType({
    ("AM", "M1"): RegressionReference((1.98,), 0.0513, 0.300),
    ("AM", "M2"): RegressionReference((0.99, 0.11, -0.002, -21.52), 0.0170, 0.897),
    ("AM", "M3"): RegressionReference((1.10, -19.60, 0.03, 0.24), 0.0168, 0.906),
    ("AM", "M4"): RegressionReference((1.10, -19.60, 0.03, 0.24, -0.002), 0.0168, 0.906),
    ("SE", "M1"): RegressionReference((2.32,), 0.0851, 0.843),
    ("SE", "M2"): RegressionReference((2.74, 3.88, -0.09, 3.09), 0.0608, 0.882),
    ("SE", "M3"): RegressionReference((3.99, -0.54, 0.13, 3.26), 0.0547, 0.912),
    ("SE", "M4"): RegressionReference((4.36, -1.42, 0.16, 3.08, 0.06), 0.0543, 0.911),
})
