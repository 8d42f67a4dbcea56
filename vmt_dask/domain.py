"""The domain facts of vmt-dask, each defined once.

Phases and their label codes, the model's parameter names and paper Table 1, the descriptor
and conductivity result names with their units, and the axis names.  Everything else in the
package imports these; nothing here imports from the package (this module is the bottom of
the layer stack, below the kernels).

Names that users type (phases, axes, presets) are matched case-insensitively.
"""
from __future__ import annotations

import numbers
from types import MappingProxyType
from typing import Mapping

__all__ = [
    "PORE", "SE", "AM", "PHASES", "STUDY_PHASES", "phase_label", "phase_name",
    "L0_UM", "DEFAULT_VOXEL_SIZE_UM",
    "PARAMETER_NAMES", "TABLE1", "PRESET_NAMES", "preset_name",
    "A_INDEX", "ALPHA_INDICES",
    "DESCRIPTOR_KEYS", "STUDY_DESCRIPTORS", "CONDUCT_KEYS", "UNITS", "DESCRIPTIONS",
    "AXES", "axis_index", "axis_name",
]

# --------------------------------------------------------------------------- phases
#: Label codes of the model's phases in a uint8 label volume (docs/conventions.md).
PORE, SE, AM = 0, 1, 2
#: Phase name -> label code, in label order.
PHASES: Mapping[str, int] = MappingProxyType({"pore": PORE, "SE": SE, "AM": AM})
#: The phases a study describes and simulates, in the results schema's order.
STUDY_PHASES: tuple[str, ...] = ("AM", "SE")

_PHASE_BY_LOWER = {name.lower(): name for name in PHASES}


def phase_label(phase: "str | int") -> int:
    """Label code of ``phase``.

    Parameters
    ----------
    phase : str or int
        A phase name ("SE", "AM", "pore", any case) or an integer label value in 0..255.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        ``phase`` is neither a string nor an integer (bool is refused).
    ValueError
        Unknown name, or an integer outside 0..255.
    """
    if isinstance(phase, bool) or not isinstance(phase, (str, numbers.Integral)):
        raise TypeError(f"phase must be 'SE', 'AM', 'pore' or an integer label, got {phase!r}")
    if isinstance(phase, numbers.Integral):
        if not 0 <= int(phase) <= 255:
            raise ValueError(f"phase label must be in 0..255, got {phase!r}")
        return int(phase)
    name = _PHASE_BY_LOWER.get(phase.strip().lower())
    if name is None:
        raise ValueError(f"unknown phase {phase!r}; expected 'SE', 'AM', 'pore' or an integer label")
    return PHASES[name]


def phase_name(phase: "str | int") -> str:
    """Canonical name of ``phase`` ("SE", "AM", "pore"), or the label as text for other labels."""
    label = phase_label(phase)
    for name, value in PHASES.items():
        if value == label:
            return name
    return str(label)


# --------------------------------------------------------------------------- units
#: Reference voxel size l0 of the calibration grid, micrometres.  Distances h in the
#: model covariance exp(-(alpha h)^2) are measured in units of l0 (docs/conventions.md).
L0_UM = 0.2
#: Voxel size of generated volumes unless the user says otherwise, micrometres (paper: 0.2).
DEFAULT_VOXEL_SIZE_UM = 0.2

# --------------------------------------------------------------------------- model parameters
#: Order and names of the seven model parameters theta (paper Eq. 8, Table 1).
PARAMETER_NAMES: tuple[str, ...] = (
    "alpha_xt", "alpha_yt", "alpha_x", "alpha_y", "a", "lambda_x", "lambda_y",
)
#: Index of the anisotropy factor a (its gradient component is set to 0, paper Sec. 2.4).
A_INDEX = PARAMETER_NAMES.index("a")
#: Indices of the covariance parameters alpha (clipped to a floor after a gradient step).
ALPHA_INDICES: tuple[int, ...] = tuple(i for i, n in enumerate(PARAMETER_NAMES) if n.startswith("alpha"))
#: Calibrated parameters of paper Table 1, in the order of PARAMETER_NAMES.
TABLE1: Mapping[str, tuple[float, ...]] = MappingProxyType({
    "BM01": (0.07, 0.13, 0.02, 0.65, 0.92, 1.87, -0.26),
    "BM03": (0.03, 3.29, 0.26, 0.19, 0.94, 1.98, -0.30),
    "BM10": (0.02, 0.70, 0.11, 0.20, 1.00, 2.45, 0.04),
})
#: Names of the calibrated presets.
PRESET_NAMES: tuple[str, ...] = tuple(TABLE1)

_PRESET_BY_LOWER = {name.lower(): name for name in PRESET_NAMES}


def preset_name(name: str) -> str:
    """Canonical spelling of a Table 1 preset name ("bm01" -> "BM01").

    Raises
    ------
    ValueError
        ``name`` is not one of :data:`PRESET_NAMES`.
    """
    canon = _PRESET_BY_LOWER.get(str(name).strip().lower())
    if canon is None:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESET_NAMES)}")
    return canon


# --------------------------------------------------------------------------- results
#: Keys of one phase's descriptors, in order (paper Section 2.3).
DESCRIPTOR_KEYS: tuple[str, ...] = (
    "volume_fraction",
    "specific_surface_area",
    "tortuosity_mean",
    "tortuosity_std",
    "tortuosity_reached",
    "constrictivity",
    "r_min",
    "r_max",
)
#: Descriptors whose means over realizations are the study's functions f (paper Sec. 2.4).
STUDY_DESCRIPTORS: tuple[str, ...] = (
    "volume_fraction", "specific_surface_area", "tortuosity_mean", "constrictivity",
)
#: Conductivity results recorded per phase (paper Section 2.5).
CONDUCT_KEYS: tuple[str, ...] = ("m_factor", "tau_factor", "percolating_fraction")

#: Unit of every result name.
UNITS: Mapping[str, str] = MappingProxyType({
    "volume_fraction": "1",
    "specific_surface_area": "1/micrometre",
    "tortuosity_mean": "1",
    "tortuosity_std": "1",
    "tortuosity_reached": "1 (fraction of start voxels)",
    "constrictivity": "1",
    "r_min": "micrometre",
    "r_max": "micrometre",
    "m_factor": "1 (sigma_eff / sigma_0)",
    "tau_factor": "1",
    "percolating_fraction": "1",
})
#: One-line description of every result name.
DESCRIPTIONS: Mapping[str, str] = MappingProxyType({
    "volume_fraction": "volume fraction (point count)",
    "specific_surface_area": "specific surface area (Crofton, 13 directions)",
    "tortuosity_mean": "mean geodesic tortuosity along the transport axis",
    "tortuosity_std": "standard deviation of geodesic tortuosity",
    "tortuosity_reached": "fraction of start-plane voxels connected to the target plane",
    "constrictivity": "constrictivity (r_min / r_max)^2",
    "r_min": "r_min (SMIP, from the start plane)",
    "r_max": "r_max (continuous pore size distribution)",
    "m_factor": "M-factor sigma_eff / sigma_0 along the transport axis",
    "tau_factor": "tau factor eps / M",
    "percolating_fraction": "fraction of the phase connected to both faces",
})

# --------------------------------------------------------------------------- axes
#: Axis names of a volume indexed (x, y, z); z (index 2) is the pressing direction and the
#: default transport direction.
AXES: tuple[str, ...] = ("x", "y", "z")


def axis_index(axis: "str | int") -> int:
    """Index 0, 1 or 2 of ``axis`` ("x", "y", "z" in any case, or -3..2).

    Raises
    ------
    ValueError
        Anything else (bool is refused).
    """
    if isinstance(axis, str):
        key = axis.strip().lower()
        if key in AXES:
            return AXES.index(key)
    elif not isinstance(axis, bool) and isinstance(axis, numbers.Integral) and -3 <= int(axis) <= 2:
        return int(axis) % 3
    raise ValueError(f"axis must be x, y, z or 0, 1, 2, got {axis!r}")


def axis_name(axis: "str | int") -> str:
    """Name "x", "y" or "z" of ``axis``."""
    return AXES[axis_index(axis)]
