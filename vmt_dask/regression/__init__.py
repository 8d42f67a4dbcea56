"""Structure-property regression: M-factor predictors of paper Section 2.6.

Four power-law predictors of the M-factor from the geometrical descriptors of
one phase (Eqs. 18-21), fitted by least squares (Eq. 22) on a seeded training
split and scored by MAPE (Eq. 23) and R^2 (Eq. 24) on the test split.

Modules, each importing only those before it: ``models`` (the predictors),
``metrics`` and ``split``, ``solver`` (Eq. 22 with scipy.optimize.least_squares),
``screening`` (structures a fit cannot use), ``result`` (one fit), ``table``
(Table 5 and its exports), ``fit`` (the Dataset-level API).

>>> from vmt_dask.regression import fit_all          # doctest: +SKIP
>>> table = fit_all(results)                         # doctest: +SKIP
>>> print(table)                                     # doctest: +SKIP
"""
from .fit import fit, fit_all
from .metrics import mape, r2
from .models import DESCRIPTORS, MODEL_NAMES, MODELS, Model, descriptor_variable, get_model, predict
from .result import FitResult, TooFewStructures
from .screening import PHASES, Exclusion, screen, structure_labels
from .solver import EXPONENT_BOUND, Note, PowerLawFit, fit_power_law
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
    "Note",
    "PowerLawFit",
    "RegressionTable",
    "TooFewStructures",
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
