"""Model parameters theta and the calibrated values of paper Table 1."""
from __future__ import annotations

import math
from dataclasses import astuple, dataclass, fields
from typing import Iterable

import numpy as np

from ..domain import PARAMETER_NAMES, TABLE1

__all__ = ["Theta", "CALIBRATED", "PARAMETER_NAMES"]



@dataclass(frozen=True)
class Theta:
    """Parameter vector of the three-phase excursion-set model (paper Eq. 8).

    Parameters
    ----------
    alpha_xt, alpha_yt : float
        Covariance parameters of the Gaussian fields X~ and Y~ whose squares make the
        chi-square fields X' and Y' (paper Eq. 2). > 0, in 1/l0 with l0 = 0.2 micrometre.
    alpha_x, alpha_y : float
        Covariance parameters of the Gaussian fields X'' and Y''. > 0, in 1/l0.
    a : float
        Anisotropy factor: the field at (x, y, z) is the isotropic field at (x, y, z / a). > 0.
    lambda_x, lambda_y : float
        Thresholds: SE = {X >= lambda_x}, AM = {not SE and Y >= lambda_y} (paper Eqs. 4-5).

    Notes
    -----
    Every covariance is rho(h) = exp(-(alpha h)^2) (paper Eq. 3) with h in units of the
    reference voxel size l0 = 0.2 micrometre (docs/conventions.md).
    """

    alpha_xt: float
    alpha_yt: float
    alpha_x: float
    alpha_y: float
    a: float
    lambda_x: float
    lambda_y: float

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"theta.{f.name} must be a real number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"theta.{f.name} must be finite, got {value!r}")
            if f.name.startswith("alpha") or f.name == "a":
                if value <= 0:
                    raise ValueError(f"theta.{f.name} must be > 0, got {value!r}")
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_sequence(cls, values: Iterable[float]) -> "Theta":
        """Build theta from seven numbers in the paper's order (see ``PARAMETER_NAMES``)."""
        if isinstance(values, (str, bytes)):
            raise TypeError(f"theta must be a sequence of 7 numbers, got {values!r}")
        seq = list(values)
        if len(seq) != len(PARAMETER_NAMES):
            raise ValueError(
                f"theta needs {len(PARAMETER_NAMES)} values "
                f"({', '.join(PARAMETER_NAMES)}), got {len(seq)}: {seq!r}"
            )
        return cls(*seq)

    def to_array(self) -> np.ndarray:
        """The seven parameters as a float64 array in the paper's order."""
        return np.array(astuple(self), dtype=np.float64)

    def to_dict(self) -> dict[str, float]:
        return dict(zip(PARAMETER_NAMES, astuple(self)))


#: Calibrated parameters of paper Table 1.
CALIBRATED: dict[str, Theta] = {name: Theta(*values) for name, values in TABLE1.items()}
