"""Conductivity simulation: M-factor of a voxel phase (paper Section 2.5)."""
from .percolation import percolating_mask
from .result import ConductivityResult
from .solver import m_factor, m_factors

__all__ = ["m_factor", "m_factors", "ConductivityResult", "percolating_mask"]
