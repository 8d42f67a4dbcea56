"""Conductivity simulation: M-factor of a voxel phase (paper Section 2.5)."""
from .percolation import percolating_mask
from .result import ConductivityResult
from .solver import m_factor

__all__ = ["m_factor", "ConductivityResult", "percolating_mask"]
