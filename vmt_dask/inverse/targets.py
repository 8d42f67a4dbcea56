"""Objectives, targets and search regions of an inverse design.

An objective is a result of the study database named ``<quantity>_<phase>``: quantity one of
``m_factor``, ``volume_fraction``, ``specific_surface_area``, ``tortuosity_mean``,
``constrictivity`` and phase ``SE`` or ``AM`` (e.g. ``m_factor_SE``).  A target is
``NAME>=VALUE`` or ``NAME<=VALUE``; several are separated by commas.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..domain import ALPHA_INDICES, PARAMETER_NAMES, STUDY_PHASES
from ..errors import InputError

__all__ = ["OBJECTIVES", "Target", "parse_targets", "parse_objective", "parse_region", "ALPHA_FLOOR"]

_QUANTITIES = ("m_factor", "volume_fraction", "specific_surface_area", "tortuosity_mean", "constrictivity")
#: Names an objective or target may use.
OBJECTIVES: tuple[str, ...] = tuple(f"{q}_{p}" for q in _QUANTITIES for p in STUDY_PHASES)
_BY_LOWER = {o.lower(): o for o in OBJECTIVES}
#: The paper's plausibility floor for every alpha (Section 2.4).
ALPHA_FLOOR = 0.05
_TARGET = re.compile(r"^\s*([A-Za-z_]+)\s*(>=|<=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Target:
    """``objective op value`` with op ``>=`` or ``<=``."""

    objective: str
    op: str
    value: float

    def satisfied(self, x: float) -> bool:
        if x is None or not math.isfinite(x):
            return False
        return x >= self.value if self.op == ">=" else x <= self.value

    def margin(self, x: float) -> float:
        """Signed slack: positive when satisfied."""
        return (x - self.value) if self.op == ">=" else (self.value - x)

    def __str__(self) -> str:
        return f"{self.objective}{self.op}{self.value:g}"


def parse_objective(name: str, *, option: str = "--maximize") -> str:
    """Canonical objective name; InputError naming the known ones otherwise."""
    canon = _BY_LOWER.get(str(name).strip().lower())
    if canon is None:
        raise InputError(f"{option} {name!r}: unknown objective; expected one of {', '.join(OBJECTIVES)}")
    return canon


def parse_targets(text: str) -> list[Target]:
    """``"m_factor_SE>=0.2,m_factor_AM>=0.25"`` -> targets (InputError on any bad part)."""
    if text is None or not str(text).strip():
        raise InputError("--target '': expected NAME>=VALUE or NAME<=VALUE, comma separated")
    out = []
    for part in str(text).split(","):
        m = _TARGET.match(part)
        if not m:
            raise InputError(f"--target {part.strip()!r}: expected NAME>=VALUE or NAME<=VALUE "
                             f"(NAME one of {', '.join(OBJECTIVES)})")
        name = parse_objective(m.group(1), option="--target")
        try:
            value = float(m.group(3))
        except ValueError:
            raise InputError(f"--target {part.strip()!r}: {m.group(3)!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"--target {part.strip()!r}: the value must be finite")
        out.append(Target(name, m.group(2), value))
    return out


def parse_region(text: str) -> dict[str, tuple[float, float]]:
    """``"alpha_xt=0.02:0.1,a=0.9:1"`` -> {name: (lo, hi)}; alphas and a must stay > 0."""
    region = {}
    for part in str(text).split(","):
        if not part.strip():
            continue
        name, sep, rng = part.partition("=")
        name = name.strip()
        if not sep or name not in PARAMETER_NAMES:
            raise InputError(f"--region {part.strip()!r}: expected NAME=LO:HI with NAME one of "
                             f"{', '.join(PARAMETER_NAMES)}")
        lo_s, sep2, hi_s = rng.partition(":")
        try:
            lo, hi = float(lo_s), float(hi_s)
        except ValueError:
            raise InputError(f"--region {part.strip()!r}: LO and HI must be numbers") from None
        if not sep2 or not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise InputError(f"--region {part.strip()!r}: expected LO:HI with LO <= HI")
        i = PARAMETER_NAMES.index(name)
        if (i in ALPHA_INDICES or name == "a") and lo <= 0:
            raise InputError(f"--region {part.strip()!r}: {name} must be > 0")
        region[name] = (lo, hi)
    if not region:
        raise InputError(f"--region {text!r}: expected NAME=LO:HI,...")
    return region
