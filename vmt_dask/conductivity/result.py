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
        M = sigma_eff / sigma_0 (dimensionless, 0 <= M <= volume_fraction).
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
    axis : int
        Transport axis (0 = x, 1 = y, 2 = z).
    shape : tuple of int
        Shape of the input mask.
    levels : int
        Multigrid levels (0 without a solve).
    setup_seconds, solve_seconds : float
        Wall time of percolation + multigrid setup, and of the iterations.
    converged : bool
        Whether ``residual <= rtol`` was reached (True without a solve).
    section_currents : ndarray of float64, shape (n + 1,)
        Current through each cross-section in voxel units (unit conductivity, unit
        potential drop); empty without a solve.
    potential : ndarray of float32 or None
        Potential field in the input's axis order (NaN outside the percolating
        voxels) when requested.
    voxel_size : tuple of float
        Voxel edge lengths (dx, dy, dz) in micrometres used for the face conductances.
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

    def summary(self) -> dict:
        """Scalar fields as a JSON-friendly dict (no arrays)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("section_currents", "potential")}
        out["shape"] = list(self.shape)
        out["voxel_size"] = list(self.voxel_size)
        return out
