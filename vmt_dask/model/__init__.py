"""The stochastic 3D three-phase model of ASSB cathodes (paper Section 2.2)."""
from .covariance import DEFAULT_GENERATOR, GENERATORS, generator_kernel, lattice_covariance
from .kernels import axis_alphas, lattice_kernel
from .phases import AM, PHASES, PORE, SE, phase_label
from .realize import DEFAULT_TILE, realize, realize_region
from .theta import CALIBRATED, PARAMETER_NAMES, Theta

__all__ = [
    "Theta", "CALIBRATED", "PARAMETER_NAMES", "PORE", "SE", "AM", "PHASES", "phase_label",
    "realize", "realize_region", "DEFAULT_TILE",
    "lattice_kernel", "axis_alphas", "GENERATORS", "DEFAULT_GENERATOR", "generator_kernel",
    "lattice_covariance",
]
