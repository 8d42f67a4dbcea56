"""Structure-property regression: M-factor predictors of paper Section 2.6.

Four power-law predictors of the M-factor from the geometrical descriptors of
one phase (Eqs. 18-21), fitted by least squares (Eq. 22) on a seeded training
split and scored by MAPE (Eq. 23) and R^2 (Eq. 24) on the test split.

>>> from vmt_dask.regression import fit_all          # doctest: +SKIP
>>> table = fit_all(results)                         # doctest: +SKIP
>>> print(table)                                     # doctest: +SKIP
"""
from .fit import (
    EXPONENT_BOUND,
    PHASES,
    Exclusion,
    FitResult,
    PowerLawFit,
    fit,
    fit_all,
    fit_power_law,
    screen,
    structure_labels,
)
from .metrics import mape, r2
from .models import DESCRIPTORS, MODEL_NAMES, MODELS, Model, descriptor_variable, get_model, predict
from .split import DEFAULT_SEED, default_train_size, train_test_split
from .table import RegressionTable

__all__ = [
    "DEFAULT_SEED",
    "DESCRIPTORS",
    "EXPONENT_BOUND",
    "MODELS",
    "MODEL_NAMES",
    "PHASES",
    "Exclusion",
    "FitResult",
    "Model",
    "PowerLawFit",
    "RegressionTable",
    "default_train_size",
    "descriptor_variable",
    "fit",
    "fit_all",
    "fit_power_law",
    "get_model",
    "mape",
    "predict",
    "r2",
    "screen",
    "structure_labels",
    "train_test_split",
]
