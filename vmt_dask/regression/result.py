"""The outcome of one fitted predictor (:class:`FitResult`) and why a fit could not be made."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .models import get_model
from .screening import Exclusion
from .solver import Note, PowerLawFit

__all__ = ["FitResult", "TooFewStructures"]


class TooFewStructures(InputError):
    """Too few usable structures remain to fit a model (after the exclusions).

    ``str(exc)`` is the full one-line message, the exclusions summarised;
    :attr:`reason` is the message without them (the table lists exclusions per structure).
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message, reason)

    @property
    def reason(self) -> str:
        return self.args[1]

    def __str__(self) -> str:
        return self.args[0]


def _json_float(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


@dataclass(frozen=True)
class FitResult:
    """One fitted predictor for one phase, scored on the test set.

    Attributes
    ----------
    phase, model : str
        ``"AM"``/``"SE"`` and ``"M1"`` .. ``"M4"``.
    coefficients : tuple of float
        ``c1 .. cK`` (paper Table 5 order).
    mape, r2 : float
        MAPE (percent, Eq. 23) and R^2 (Eq. 24) on the test set; R^2 is NaN
        when the test M-factors are all equal (reported in ``notes``).
    mape_train, r2_train : float
        The same on the training set.
    train, test : ndarray of int
        Structure positions used for training and testing (after exclusions).
    observed_train, predicted_train, observed_test, predicted_test : ndarray
        Simulated and predicted M-factors.
    exclusions : tuple of Exclusion
        Structures left out, with reasons.
    fit : PowerLawFit
        Solver details (start, objective, convergence).
    seed : int or None
        Seed of the train/test split.
    notes : tuple of Note
        Everything the user should know about this fit, each with its kind
        (``"excluded"``, ``"r2_undefined"`` and the solver's kinds).
    """

    phase: str
    model: str
    coefficients: tuple[float, ...]
    mape: float
    r2: float
    mape_train: float
    r2_train: float
    train: np.ndarray
    test: np.ndarray
    observed_train: np.ndarray
    predicted_train: np.ndarray
    observed_test: np.ndarray
    predicted_test: np.ndarray
    exclusions: tuple[Exclusion, ...]
    fit: PowerLawFit
    seed: int | None
    notes: tuple[Note, ...] = field(default=())

    @property
    def warnings(self) -> tuple[str, ...]:
        """The notes' texts."""
        return tuple(n.text for n in self.notes)

    @property
    def converged(self) -> bool:
        """Whether the solver converged."""
        return self.fit.converged

    @property
    def n_train(self) -> int:
        return int(self.train.size)

    @property
    def n_test(self) -> int:
        return int(self.test.size)

    def to_dict(self) -> dict:
        """JSON-serialisable summary (no per-structure arrays)."""
        return {
            "phase": self.phase,
            "model": self.model,
            "formula": get_model(self.model).formula(),
            "coefficients": {f"c{i + 1}": float(c) for i, c in enumerate(self.coefficients)},
            "mape_percent": _json_float(self.mape),
            "r2": _json_float(self.r2),
            "mape_train_percent": _json_float(self.mape_train),
            "r2_train": _json_float(self.r2_train),
            "n_train": self.n_train,
            "n_test": self.n_test,
            "converged": self.converged,
            "optimizer_message": self.fit.message,
            "optimizer_status": self.fit.status,
            "n_iter": self.fit.n_iter,
            "objective": self.fit.objective,
            "start": [float(c) for c in self.fit.start],
            "seed": self.seed,
            "excluded": [{"position": e.position, "structure": e.label, "reason": e.reason}
                         for e in self.exclusions],
            "warnings": list(self.warnings),
        }
