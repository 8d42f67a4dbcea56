"""Which structures of a study's results a power-law fit can use, and why not the others.

A power law (paper Eqs. 18-21) needs the logarithm of the M-factor and of every descriptor it
uses, so a structure whose M-factor is 0 (the phase does not percolate), NaN or negative, or
whose descriptor is NaN or not positive, is left out of that model's fit and scores.  Each
exclusion keeps its reasons as a tuple (data, not a joined string) so the table can merge
them across models.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..domain import STUDY_PHASES, phase_name
from ..errors import InputError
from .models import Model, descriptor_variable, get_model

__all__ = ["PHASES", "Exclusion", "check_phase", "check_results", "screen", "structure_labels"]

#: Phases whose M-factor is predicted (the study's phases).
PHASES: tuple[str, ...] = STUDY_PHASES


@dataclass(frozen=True)
class Exclusion:
    """A structure left out of a fit, and why.

    Attributes
    ----------
    position : int
        Position along the ``structure`` dimension.
    label : str
        The structure's coordinate value with its provenance (pair, t,
        function, h), for messages.
    reasons : tuple of str
        What is wrong with it, one entry per problem, each naming the variable and value.
    """

    position: int
    label: str
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        """All reasons on one line."""
        return "; ".join(self.reasons)

    def __str__(self) -> str:
        return f"{self.label}: {self.reason}"


def check_phase(phase: str) -> str:
    """Canonical name of a study phase ("am" -> "AM").

    Raises
    ------
    TypeError
        ``phase`` is not a string.
    InputError
        ``phase`` is not one of :data:`PHASES`.
    """
    if not isinstance(phase, str):
        raise TypeError(f"phase must be one of {list(PHASES)}, got {type(phase).__name__}")
    try:
        name = phase_name(phase)
    except ValueError:
        name = None
    if name not in PHASES:
        raise InputError(f"phase must be one of {list(PHASES)}, got {phase!r}")
    return name


def check_results(results) -> int:
    """Number of structures of a study results Dataset (``docs/results-schema.md``).

    Raises
    ------
    TypeError
        ``results`` is not an :class:`xarray.Dataset`.
    InputError
        It has no ``structure`` dimension.
    """
    import xarray as xr

    if not isinstance(results, xr.Dataset):
        raise TypeError(f"results must be an xarray.Dataset, got {type(results).__name__}")
    if "structure" not in results.dims:
        raise InputError(
            f"results have no 'structure' dimension (dimensions: {list(results.dims)}); "
            "expected the study results Dataset of docs/results-schema.md"
        )
    return int(results.sizes["structure"])


def structure_labels(results) -> list[str]:
    """One readable label per structure: its coordinate and provenance.

    For example ``"structure 17 (BM01-BM03 t=0.5 point 2, volume_fraction_AM h=+0.2)"``.
    """
    n = int(results.sizes["structure"])

    def coord(name):
        if name in results.coords and results[name].dims == ("structure",):
            return results[name].values
        return None

    ids = coord("structure")
    pair, t, point, func, h = (coord(k) for k in ("pair", "t", "point", "function", "h"))
    labels = []
    for j in range(n):
        head = f"structure {ids[j] if ids is not None else j}"
        bits = []
        if pair is not None:
            bits.append(str(pair[j]))
        if t is not None:
            bits.append(f"t={float(t[j]):.4g}")
        if point is not None:
            bits.append(f"point {point[j]}")
        prov = " ".join(bits)
        if func is not None and str(func[j]):
            step = str(func[j]) + (f" h={float(h[j]):+.4g}" if h is not None else "")
            prov = f"{prov}, {step}" if prov else step
        labels.append(f"{head} ({prov})" if prov else head)
    return labels


def _variable(results, name: str, n: int) -> np.ndarray:
    da = results[name]
    if da.dims != ("structure",):
        raise InputError(f"results variable {name!r} has dimensions {da.dims}, expected ('structure',)")
    return np.asarray(da.values, dtype=float).reshape(n)


def screen(results, *, phase: str, model: str | Model) -> tuple[np.ndarray, dict, np.ndarray, list[Exclusion]]:
    """Pick the structures a power-law fit of *model* for *phase* can use.

    Parameters
    ----------
    results : xarray.Dataset
        Study results (``docs/results-schema.md``).
    phase : {"AM", "SE"}
    model : {"M1", "M2", "M3", "M4"} or Model

    Returns
    -------
    usable : ndarray of bool, shape (n_structures,)
    descriptors : dict of str to ndarray
        All structures' values of the model's descriptors.
    observed : ndarray
        All structures' M-factors.
    exclusions : list of Exclusion
        The structures that are not usable, each with the reasons: an M-factor
        that is NaN, zero (the phase does not percolate) or negative, or a
        descriptor that is NaN (missing) or not positive (its logarithm, which
        the power law and the log-linear start need, does not exist).

    Raises
    ------
    InputError
        If a needed variable is absent from *results*.
    """
    phase = check_phase(phase)
    mdl = get_model(model)
    n = check_results(results)
    m_name = f"m_factor_{phase}"
    needed = [m_name] + [descriptor_variable(d, phase) for d in mdl.descriptors]
    absent = [v for v in needed if v not in results.variables]
    if absent:
        raise InputError(
            f"results lack {absent}, needed to fit {mdl.name} for {phase}; "
            f"present: {sorted(map(str, results.data_vars))}"
        )
    observed = _variable(results, m_name, n)
    desc = {d: _variable(results, descriptor_variable(d, phase), n) for d in mdl.descriptors}
    reasons: list[list[str]] = [[] for _ in range(n)]
    for j in np.flatnonzero(np.isnan(observed)):
        reasons[j].append(f"{m_name} is NaN (no M-factor computed)")
    for j in np.flatnonzero(observed == 0):
        reasons[j].append(f"{m_name} = 0 (the {phase} phase does not percolate)")
    for j in np.flatnonzero(observed < 0):
        reasons[j].append(f"{m_name} = {observed[j]:.6g} is negative")
    for j in np.flatnonzero(np.isinf(observed)):
        reasons[j].append(f"{m_name} = {observed[j]} is not finite")
    for d, x in desc.items():
        var = descriptor_variable(d, phase)
        for j in np.flatnonzero(np.isnan(x)):
            reasons[j].append(f"{var} is NaN (missing, or the phase does not percolate)")
        for j in np.flatnonzero(x <= 0):
            reasons[j].append(f"{var} = {x[j]:.6g} is not positive (the power law needs its logarithm)")
        for j in np.flatnonzero(np.isinf(x)):
            reasons[j].append(f"{var} = {x[j]} is not finite")
    usable = np.array([not r for r in reasons], dtype=bool)
    exclusions: list[Exclusion] = []
    if not usable.all():
        labels = structure_labels(results)
        exclusions = [Exclusion(int(j), labels[j], tuple(reasons[j])) for j in np.flatnonzero(~usable)]
    return usable, desc, observed, exclusions


def summarise(exclusions, limit: int = 5) -> str:
    """The first *limit* exclusions on one line, and how many more there are."""
    shown = "; ".join(str(e) for e in exclusions[:limit])
    more = f"; and {len(exclusions) - limit} more" if len(exclusions) > limit else ""
    return shown + more
