"""The four M-factor predictors of paper Eqs. (18)-(21).

Every predictor is a power law in the geometrical descriptors of one phase,

    M1 = eps^c1                                          (Eq. 18)
    M2 = c1 * eps^c2 * beta^c3 * mu(tau)^c4              (Eq. 19)
    M3 = c1 * mu(tau)^c2 * sigma(tau)^c3 * eps^c4        (Eq. 20)
    M4 = c1 * mu(tau)^c2 * sigma(tau)^c3 * eps^c4 * beta^c5   (Eq. 21)

with the coefficients numbered as in the paper (Table 5).  A :class:`Model`
records which descriptor each exponent belongs to and whether the model has a
prefactor, so one evaluation routine (:func:`predict`) serves all four.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

import numpy as np

from ..errors import InputError

__all__ = [
    "DESCRIPTORS",
    "MODELS",
    "MODEL_NAMES",
    "Model",
    "get_model",
    "predict",
    "descriptor_variable",
]

ModelName = Literal["M1", "M2", "M3", "M4"]

#: Descriptor short names and the results-schema variable stem of each
#: (the variable for phase P is ``f"{stem}_{P}"``).
DESCRIPTORS: dict[str, str] = {
    "eps": "volume_fraction",
    "mu_tau": "tortuosity_mean",
    "sigma_tau": "tortuosity_std",
    "beta": "constrictivity",
    "S": "specific_surface_area",
}

#: Human-readable symbols, for tables and figure labels.
SYMBOLS: dict[str, str] = {
    "eps": "ε",
    "mu_tau": "μ(τ)",
    "sigma_tau": "σ(τ)",
    "beta": "β",
    "S": "S",
}


@dataclass(frozen=True)
class Model:
    """A power-law predictor ``c1 * prod(x_k ** c_k)`` (or ``prod(x_k ** c_k)``).

    Attributes
    ----------
    name : str
        ``"M1"`` .. ``"M4"``.
    equation : int
        Equation number in the paper.
    exponents : tuple of str
        Descriptor short name (a key of :data:`DESCRIPTORS`) of each exponent,
        in the paper's coefficient order.
    prefactor : bool
        Whether ``c1`` is a multiplicative prefactor (M2-M4) or the model has
        none (M1, where ``c1`` is the exponent of eps).
    """

    name: str
    equation: int
    exponents: tuple[str, ...]
    prefactor: bool

    @property
    def n_coefficients(self) -> int:
        """Number of coefficients c1..cK."""
        return len(self.exponents) + int(self.prefactor)

    @property
    def descriptors(self) -> tuple[str, ...]:
        """Descriptors the model uses (no repeats, paper order)."""
        return tuple(dict.fromkeys(self.exponents))

    @property
    def coefficient_names(self) -> tuple[str, ...]:
        """``("c1", ..., "cK")``."""
        return tuple(f"c{i + 1}" for i in range(self.n_coefficients))

    def formula(self) -> str:
        """The formula as text, e.g. ``"c1 * ε^c2 * β^c3 * μ(τ)^c4"``."""
        offset = 1 if self.prefactor else 0
        terms = [f"{SYMBOLS[d]}^c{i + 1 + offset}" for i, d in enumerate(self.exponents)]
        if self.prefactor:
            terms.insert(0, "c1")
        return " * ".join(terms)


MODELS: dict[str, Model] = {
    "M1": Model("M1", 18, ("eps",), prefactor=False),
    "M2": Model("M2", 19, ("eps", "beta", "mu_tau"), prefactor=True),
    "M3": Model("M3", 20, ("mu_tau", "sigma_tau", "eps"), prefactor=True),
    "M4": Model("M4", 21, ("mu_tau", "sigma_tau", "eps", "beta"), prefactor=True),
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def get_model(model: str | Model) -> Model:
    """Return the :class:`Model` called *model* (``"M1"`` .. ``"M4"``).

    Raises
    ------
    InputError
        If *model* is not one of the four names.
    TypeError
        If *model* is neither a string nor a :class:`Model`.
    """
    if isinstance(model, Model):
        return model
    if not isinstance(model, str):
        raise TypeError(f"model must be a str such as 'M1', got {type(model).__name__}")
    try:
        return MODELS[model.upper()]
    except KeyError:
        raise InputError(f"model must be one of {list(MODELS)}, got {model!r}") from None


def descriptor_variable(descriptor: str, phase: str) -> str:
    """Results-schema variable name of *descriptor* for *phase*.

    >>> descriptor_variable("mu_tau", "SE")
    'tortuosity_mean_SE'
    """
    return f"{DESCRIPTORS[descriptor]}_{phase}"


def predict(
    model: str | Model,
    coefficients: np.ndarray | tuple[float, ...],
    descriptors: Mapping[str, np.ndarray],
) -> np.ndarray:
    """Evaluate a predictor of Eqs. (18)-(21).

    Parameters
    ----------
    model : {"M1", "M2", "M3", "M4"} or Model
        The predictor.
    coefficients : array_like, shape (K,)
        ``c1 .. cK`` in the paper's order (Table 5).
    descriptors : mapping of str to ndarray
        Descriptor values keyed by short name (``"eps"``, ``"mu_tau"``,
        ``"sigma_tau"``, ``"beta"``); all arrays of one shape.  Values must be
        positive for exponents that are not integers; that is the caller's
        business (see :func:`vmt_dask.regression.fit`).

    Returns
    -------
    ndarray
        Predicted M-factors (dimensionless), same shape as the descriptors.

    Notes
    -----
    Evaluated as ``exp(log c1 + sum_k c_k log x_k)``, which equals the power
    law for positive descriptors.
    """
    m = get_model(model)
    c = np.asarray(coefficients, dtype=float)
    if c.shape != (m.n_coefficients,):
        raise InputError(
            f"coefficients for {m.name} must have shape ({m.n_coefficients},), got {c.shape}"
        )
    missing = [d for d in m.descriptors if d not in descriptors]
    if missing:
        raise InputError(f"descriptors for {m.name} lack {missing}")
    offset = 1 if m.prefactor else 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_m = np.zeros(np.shape(descriptors[m.exponents[0]]), dtype=float)
        for k, name in enumerate(m.exponents):
            log_m = log_m + c[k + offset] * np.log(np.asarray(descriptors[name], dtype=float))
        out = np.exp(log_m)
    if m.prefactor:
        out = c[0] * out
    return out
