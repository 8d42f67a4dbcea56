"""Result record of a conductivity simulation."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

__all__ = ["ConductivityResult"]


@dataclass(frozen=True)
class ConductivityResult:
    """M-factor of one phase and how it was obtained.

    Attributes
    ----------
    m_factor : float
        M = sigma_eff / sigma_0 (dimensionless, 0 <= M <= volume_fraction up to its error).
        Energy criterion: from the dissipated power, an upper bound on the exact discrete
        M; residual criterion: the mean of the section currents.
    tau_factor : float
        Tortuosity factor eps / M; ``inf`` when M = 0.
    volume_fraction : float
        Share of all voxels that belong to the phase.
    percolating_fraction : float
        Share of the phase's voxels connected to both end faces (0 for an empty phase).
    iterations : int
        Preconditioned CG iterations (all refinement passes together); 0 without a solve.
    residual : float
        Final relative residual ``||b - A u|| / ||b||`` in float64; 0 without a solve.
    current_spread : float
        ``(max - min) / mean`` of the current over the ``n + 1`` cross-sections
        normal to the axis; zero for exact current conservation (0 without a solve).
        A diagnostic of the potential: under the energy criterion the residual is
        larger (~1e-5 instead of <= 1e-6) and so is this spread, while M is not less
        accurate (its error is quadratic in the potential error).
    axis : int
        Transport axis (0 = x, 1 = y, 2 = z).
    shape : tuple of int
        Shape of the input mask.
    levels : int
        Multigrid levels (0 without a solve).
    setup_seconds, solve_seconds : float
        Wall time of percolation + multigrid setup, and of the iterations.
    converged : bool
        Whether the criterion was met: ``residual <= rtol``, or ``m_error_estimate <=
        m_tol`` (True without a solve).
    section_currents : ndarray of float64, shape (n + 1,)
        Current through each cross-section in voxel units (unit conductivity, unit
        potential drop); empty without a solve.
    potential : ndarray of float32 or None
        Potential field in the input's axis order (NaN outside the percolating
        voxels) when requested.
    voxel_size : tuple of float
        Voxel edge lengths (dx, dy, dz) in micrometres used for the face conductances.
    criterion : str
        ``"energy"`` (stopped on the estimated energy error, M from the dissipated power)
        or ``"residual"`` (stopped on ``rtol``, M from the section currents).
    m_error_estimate : float
        Energy criterion: estimated relative error ``(m_factor - M) / M >= 0`` of the
        reported M (Hestenes-Stiefel decrements of the PCG, geometric tail with a safety
        factor; Strakos & Tichy 2002); 0 without a solve; NaN under the residual criterion.
    m_factor_currents : float
        M from the mean section current of the same potential (linear in the potential
        error); equal to ``m_factor`` under the residual criterion.
    """

    m_factor: float
    tau_factor: float
    volume_fraction: float
    percolating_fraction: float
    iterations: int
    residual: float
    current_spread: float
    axis: int
    shape: tuple[int, int, int]
    levels: int = 0
    setup_seconds: float = 0.0
    solve_seconds: float = 0.0
    converged: bool = True
    section_currents: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    potential: np.ndarray | None = field(default=None, repr=False)
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    criterion: str = "residual"
    m_error_estimate: float = float("nan")
    m_factor_currents: float = float("nan")

    def summary(self) -> dict:
        """Scalar fields as a JSON-friendly dict (no arrays)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("section_currents", "potential")}
        out["shape"] = list(self.shape)
        out["voxel_size"] = list(self.voxel_size)
        return out
