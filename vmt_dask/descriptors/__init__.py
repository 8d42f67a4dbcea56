"""Geometric descriptors of one phase (paper Section 2.3).

Pure kernels: numpy arrays in, numbers out.  Lengths in micrometres, specific
surface area in 1/micrometre, arrays indexed (x, y, z).
"""
from .constrictivity import ConstrictivityResult, constrictivity, constrictivity_variants, cpsd, smip
from .describe import DESCRIPTOR_KEYS, PHASE_LABELS, describe, describe_all, phase_value
from .edt import EDT_INF, squared_distance_to, squared_edt
from .surface_area import CROFTON_DIRECTIONS, CROFTON_WEIGHTS, specific_surface_area
from .tortuosity import TortuosityResult, geodesic_distance_to_plane, geodesic_tortuosity
from .volume_fraction import volume_fraction

__all__ = [
    "volume_fraction",
    "specific_surface_area",
    "geodesic_tortuosity",
    "geodesic_distance_to_plane",
    "TortuosityResult",
    "constrictivity",
    "constrictivity_variants",
    "ConstrictivityResult",
    "cpsd",
    "smip",
    "describe",
    "describe_all",
    "DESCRIPTOR_KEYS",
    "PHASE_LABELS",
    "phase_value",
    "squared_edt",
    "squared_distance_to",
    "EDT_INF",
    "CROFTON_DIRECTIONS",
    "CROFTON_WEIGHTS",
]
