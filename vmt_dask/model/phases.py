"""Label codes of the three phases (design.md)."""

__all__ = ["PORE", "SE", "AM", "PHASES", "phase_label"]

PORE, SE, AM = 0, 1, 2
PHASES: dict[str, int] = {"pore": PORE, "SE": SE, "AM": AM}


def phase_label(phase: "str | int") -> int:
    """Label value of ``phase`` ("SE", "AM", "pore", case-insensitive, or an integer label)."""
    if isinstance(phase, bool):
        raise TypeError(f"phase must be 'SE', 'AM', 'pore' or an integer label, got {phase!r}")
    if isinstance(phase, int):
        if not 0 <= phase <= 255:
            raise ValueError(f"phase label must be in 0..255, got {phase!r}")
        return phase
    if isinstance(phase, str):
        for name, value in PHASES.items():
            if phase.lower() == name.lower():
                return value
    raise ValueError(f"unknown phase {phase!r}; expected 'SE', 'AM', 'pore' or an integer label")
