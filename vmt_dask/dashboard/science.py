"""What a study has found so far, folded from its progress events in bounded memory.

Pure code (plain dicts in, JSON-ready dicts out).  The coordinator publishes one event per
finished task (:mod:`vmt_dask.events`); for a database structure the event's ``latest``
carries

* ``values``: ``{"<quantity>_<phase>": float}`` (results-schema names, e.g.
  ``"volume_fraction_SE"``, ``"m_factor_AM"``), and
* ``structure``: ``{"index", "point", "local", "function", "h"}`` (which interpolation point
  and which gradient step made it; ``function`` is None and ``h`` 0 for the point itself).

:class:`StudyScience` turns these into what the study page plots: a fixed-bin histogram per
descriptor and phase (memory independent of the study size), M-factor against volume
fraction with the mean geodesic tortuosity as colour (a capped, evenly thinned sample), and
per interpolation point the values reached along each gradient (capped number of points).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..domain import STUDY_DESCRIPTORS, STUDY_PHASES
from ..paper import SECTION_3_2_RANGES

__all__ = ["HISTOGRAM_BINS", "PLOTTED_QUANTITIES", "StudyScience", "finite_or_none"]

#: The quantities plotted per phase: the study's descriptors and the M-factor.
PLOTTED_QUANTITIES: tuple[str, ...] = (*STUDY_DESCRIPTORS, "m_factor")

#: Fixed histogram bins per quantity: (low, high, number of bins).  Values outside go to an
#: underflow/overflow count, so memory never grows with the number of structures.
HISTOGRAM_BINS: dict[str, tuple[float, float, int]] = {
    "volume_fraction": (0.0, 1.0, 50),
    "specific_surface_area": (0.0, 4.0, 40),
    "tortuosity_mean": (1.0, 1.6, 30),
    "constrictivity": (0.0, 1.0, 40),
    "m_factor": (0.0, 0.6, 30),
}

#: Most structures kept for the M-factor scatter (older ones are thinned out evenly).
MAX_SCATTER = 4000
#: Most interpolation points kept for the gradient-step panel (the newest win).
MAX_POINTS = 64
#: Structures waiting for their other half (descriptors or M-factor) before being dropped.
MAX_PENDING = 2000


def finite_or_none(value: Any) -> float | None:
    """``value`` as a finite float, or None (bool, non-numbers, NaN, infinities, overflow)."""
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return out if math.isfinite(out) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        out = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return out if -(2**31) <= out < 2**31 else None


class _Histogram:
    __slots__ = ("low", "high", "counts", "under", "over")

    def __init__(self, low: float, high: float, bins: int) -> None:
        self.low, self.high = low, high
        self.counts = np.zeros(bins, dtype=np.int64)
        self.under = self.over = 0

    def add(self, value: float) -> None:
        if value < self.low:
            self.under += 1
        elif value >= self.high:
            self.over += 1
        else:
            i = int((value - self.low) / (self.high - self.low) * len(self.counts))
            self.counts[min(i, len(self.counts) - 1)] += 1

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "counts": self.counts.tolist(),
                "under": self.under, "over": self.over, "n": int(self.counts.sum()) + self.under + self.over}


class StudyScience:
    """Bounded summary of one study's database as its events arrive.

    Call :meth:`add` with each event's ``latest`` dict; read :meth:`snapshot`.  Anything that
    is not a finite number where a number is expected is ignored, so no event can break it.
    """

    def __init__(self) -> None:
        self.histograms = {
            f"{q}_{ph}": _Histogram(*HISTOGRAM_BINS[q]) for ph in STUDY_PHASES for q in PLOTTED_QUANTITIES
        }
        self._seen: set[tuple[int, str]] = set()  # (structure, variable) already counted
        self._pending: OrderedDict[tuple[int, str], dict[str, float]] = OrderedDict()
        self._scatter: dict[str, list[tuple[float, float, float]]] = {ph: [] for ph in STUDY_PHASES}
        self._scatter_seen = {ph: 0 for ph in STUDY_PHASES}
        self._points: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.version = 0

    # ------------------------------------------------------------------ folding
    def add(self, latest: Any) -> bool:
        """Fold one event's ``latest``; return whether it changed anything."""
        if not isinstance(latest, Mapping):
            return False
        values = latest.get("values")
        if not isinstance(values, Mapping):
            return False
        structure = latest.get("structure")
        structure = structure if isinstance(structure, Mapping) else {}
        index = _int(structure.get("index"))
        changed = False
        for name, raw in values.items():
            if not isinstance(name, str) or name not in self.histograms:
                continue
            value = finite_or_none(raw)
            if value is None:
                if index is not None and name.startswith("tortuosity_mean_"):
                    self._join(index, name, None)  # not percolating: still plotted, without colour
                continue
            if index is not None:
                if (index, name) in self._seen:
                    continue  # a rerun or a duplicate event: count each structure once
                if len(self._seen) < 10 * MAX_PENDING * len(self.histograms):
                    self._seen.add((index, name))
            self.histograms[name].add(value)
            changed = True
            if index is not None:
                self._join(index, name, value)
                self._step(structure, index, name, value)
        if changed:
            self.version += 1
        return changed

    def _join(self, index: int, name: str, value: float | None) -> None:
        quantity, _, phase = name.rpartition("_")
        if quantity not in ("volume_fraction", "tortuosity_mean", "m_factor") or phase not in self._scatter:
            return
        key = (index, phase)
        entry = self._pending.setdefault(key, {})
        entry[quantity] = value
        if len(entry) == 3:
            del self._pending[key]
            self._add_scatter(phase, (entry["volume_fraction"], entry["m_factor"], entry["tortuosity_mean"]))
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

    def _add_scatter(self, phase: str, xyz: tuple[float, float, float | None]) -> None:
        pts = self._scatter[phase]
        self._scatter_seen[phase] += 1
        pts.append(xyz)
        if len(pts) > MAX_SCATTER:
            del pts[::2]  # keep every other one: an even thinning of the whole history

    def _step(self, structure: Mapping[str, Any], index: int, name: str, value: float) -> None:
        point = _int(structure.get("point"))
        if point is None:
            return
        function = structure.get("function")
        h = finite_or_none(structure.get("h")) or 0.0
        entry = self._points.get(point)
        if entry is None:
            entry = self._points[point] = {"base": {}, "steps": {}}
            while len(self._points) > MAX_POINTS:
                self._points.popitem(last=False)
        if not function or h == 0.0:
            entry["base"][name] = value
        elif function == name:  # the function this step was taken along
            entry["steps"].setdefault(str(function), {})[repr(h)] = value

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> dict[str, Any]:
        """JSON-ready summary.

        ``histograms``: per variable ``{"low", "high", "counts", "under", "over", "n"}``;
        ``ranges``: the paper's Section 3.2 range per variable (``low``, ``high``, ``bulk_low``,
        ``bulk_high``); ``scatter``: per phase ``{"volume_fraction", "m_factor",
        "tortuosity_mean"}`` lists (tortuosity None where the phase does not percolate) and
        ``seen`` (how many structures were joined);
        ``points``: per interpolation point ``{"base": {var: value}, "steps": {function:
        {h: value}}}``; ``version``: grows with every change.
        """
        scatter = {}
        for ph, pts in self._scatter.items():
            scatter[ph] = {"volume_fraction": [p[0] for p in pts], "m_factor": [p[1] for p in pts],
                           "tortuosity_mean": [p[2] for p in pts], "seen": self._scatter_seen[ph]}
        points = {}
        for p, entry in self._points.items():
            points[str(p)] = {
                "base": dict(entry["base"]),
                "steps": {f: {h: v for h, v in sorted(s.items(), key=lambda kv: float(kv[0]))}
                          for f, s in entry["steps"].items()},
            }
        return {
            "version": self.version,
            "histograms": {k: h.to_dict() for k, h in self.histograms.items()},
            "ranges": {k: r._asdict() for k, r in SECTION_3_2_RANGES.items() if k in self.histograms},
            "scatter": scatter,
            "points": points,
        }
