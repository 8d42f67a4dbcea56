"""Argument parsing helpers shared by subcommands (turn bad values into InputError)."""
from __future__ import annotations

from ..errors import InputError

__all__ = ["parse_size", "parse_theta", "parse_axis", "json_value", "AXES"]

AXES = {"x": 0, "y": 1, "z": 2}


def parse_size(text: str) -> tuple[int, int, int]:
    """``"N"`` or ``"NX,NY,NZ"`` -> three positive ints."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise InputError(f"--size {text!r}: expected N or NX,NY,NZ with positive integers") from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or any(v < 1 for v in values):
        raise InputError(f"--size {text!r}: expected N or NX,NY,NZ with positive integers")
    return tuple(values)


def parse_theta(text: str):
    """Seven comma-separated numbers -> Theta (errors name the bad value)."""
    from ..model import Theta

    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise InputError(f"--theta {text!r}: {exc}") from None
    try:
        return Theta.from_sequence(values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"--theta {text!r}: {exc}") from None


def parse_axis(text: str) -> int:
    if text not in AXES:
        raise InputError(f"--axis {text!r}: expected one of x, y, z")
    return AXES[text]


def json_value(value):
    """JSON-safe scalar: non-finite floats become null."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
