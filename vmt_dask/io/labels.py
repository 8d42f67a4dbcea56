"""Label maps: which integer value of a user's label volume is which phase.

A label map is a mapping ``name -> value`` (value an integer in 0..MAX_LABEL; volumes whose
labels exceed 255 are read as uint8 codes, see :func:`vmt_dask.io.read_label_codes`).  It comes from the
user (``--labels pore=0,SE=85,AM=170`` or a small YAML/JSON file holding the same mapping),
from the file's metadata (a vmt store records ``labels``), or defaults to the model's codes
:data:`vmt_dask.domain.PHASES` (0 = pore, 1 = SE, 2 = AM).  Names are matched
case-insensitively.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Mapping

import numpy as np

from ..domain import PHASES
from ..errors import InputError

__all__ = ["MAX_LABEL", "parse_label_map", "resolve_phase", "phase_values_present", "DEFAULT_LABELS",
           "format_present", "Phase"]

#: Largest label value accepted in a label map or ``--phase`` (uint32 label images).
MAX_LABEL = 2**32 - 1
_RANGE = f"0..{MAX_LABEL}"

#: The model's label codes (0 = pore, 1 = SE, 2 = AM), used when nothing else names the phases.
DEFAULT_LABELS: Mapping[str, int] = PHASES

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


class Phase(tuple):
    """``(name, value)``: the display name of a phase and its label value."""

    __slots__ = ()

    def __new__(cls, name: str, value: int):
        return super().__new__(cls, (name, value))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def value(self) -> int:
        return self[1]


def _check_value(value, name: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, str) and value.strip().lstrip("+").isdigit():
            value = int(value)
        else:
            raise InputError(f"{source}: label of {name!r} must be an integer in {_RANGE}, got {value!r}")
    value = int(value)
    if not 0 <= value <= MAX_LABEL:
        raise InputError(f"{source}: label of {name!r} must be an integer in {_RANGE}, got {value}")
    return value


def _check_map(mapping: Mapping, source: str) -> dict[str, int]:
    if not isinstance(mapping, Mapping) or not mapping:
        raise InputError(f"{source}: expected a non-empty mapping name: label, got {mapping!r}")
    out: dict[str, int] = {}
    seen_lower: dict[str, str] = {}
    for name, value in mapping.items():
        name = str(name).strip()
        if not _NAME.match(name):
            raise InputError(f"{source}: phase name {name!r} must start with a letter and hold "
                             "letters, digits, '_' or '-'")
        if name.lower() in seen_lower:
            raise InputError(f"{source}: phase name {name!r} given twice")
        seen_lower[name.lower()] = name
        out[name] = _check_value(value, name, source)
    values = list(out.values())
    dup = sorted({v for v in values if values.count(v) > 1})
    if dup:
        raise InputError(f"{source}: label value {dup[0]} is given to more than one phase")
    return out


def parse_label_map(text: "str | os.PathLike | Mapping | None") -> dict[str, int] | None:
    """Parse a label map.

    Parameters
    ----------
    text : str, path-like, mapping or None
        ``"pore=0,SE=85,AM=170"``, the path of a ``.json``/``.yaml``/``.yml`` file holding a
        mapping ``{name: value}``, or the mapping itself.  None gives None.

    Returns
    -------
    dict of str to int, or None

    Raises
    ------
    InputError
        Malformed text, a file that cannot be read, a name used twice, two names for one
        value, or a value outside 0..MAX_LABEL.
    """
    if text is None:
        return None
    if isinstance(text, Mapping):
        return _check_map(text, "labels")
    s = os.fspath(text)
    src = f"--labels {s!r}"
    if s.lower().endswith((".json", ".yaml", ".yml")):
        p = Path(s)
        if not p.is_file():
            raise InputError(f"{src}: no such file")
        try:
            raw = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{src}: cannot read the label map ({exc})") from None
        if len(raw) > 65536:
            raise InputError(f"{src}: a label map file must be small (got {len(raw)} bytes)")
        try:
            if s.lower().endswith(".json"):
                data = json.loads(raw)
            else:
                import yaml

                data = yaml.safe_load(raw)
        except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{src}: not a valid label map ({first})") from None
        return _check_map(data, src)
    mapping: dict[str, str] = {}
    for part in s.split(","):
        part = part.strip()
        if not part:
            continue
        if part.count("=") != 1:
            raise InputError(f"{src}: expected NAME=VALUE pairs separated by commas, e.g. "
                             "pore=0,SE=85,AM=170")
        name, value = (x.strip() for x in part.split("="))
        if name in mapping:
            raise InputError(f"{src}: phase name {name!r} given twice")
        mapping[name] = value
    if not mapping:
        raise InputError(f"{src}: expected NAME=VALUE pairs separated by commas, e.g. pore=0,SE=85,AM=170")
    return _check_map(mapping, src)


def phase_values_present(labels: np.ndarray, values: "np.ndarray | None" = None) -> np.ndarray:
    """Sorted label values occurring in a uint8 volume (one pass, a 256-bin histogram).

    With ``values`` (code -> original label, from :func:`vmt_dask.io.read_label_codes`) the
    original labels are returned.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.uint8).ravel(), minlength=256)
    present = np.flatnonzero(counts)
    return present if values is None else np.asarray(values)[present]


def format_present(values, label_map: Mapping[str, int] | None = None, limit: int = 12) -> str:
    """``"0 (pore), 85, 170"``: the values present, named where the map names them."""
    names = {v: k for k, v in (label_map or {}).items()}
    values = [int(v) for v in values]
    shown = [f"{v} ({names[v]})" if v in names else str(v) for v in values[:limit]]
    if len(values) > limit:
        shown.append(f"... ({len(values)} values)")
    return ", ".join(shown) or "none"


def resolve_phase(phase: "str | int", label_map: Mapping[str, int]) -> Phase:
    """The phase ``phase`` names in ``label_map``.

    Parameters
    ----------
    phase : str or int
        A name of the map (any case) or an integer label value in 0..MAX_LABEL (text or int).
    label_map : mapping of str to int

    Returns
    -------
    Phase
        ``(name, value)``; an integer phase is named by the map if the map has it, else by its
        value.

    Raises
    ------
    InputError
        An unknown name (the message lists the map) or a value outside 0..MAX_LABEL.
    """
    by_value = {v: k for k, v in label_map.items()}
    if isinstance(phase, (int, np.integer)) and not isinstance(phase, bool):
        value = int(phase)
    else:
        text = str(phase).strip()
        if re.fullmatch(r"[+-]?\d+", text):
            value = int(text)
        else:
            lower = {k.lower(): k for k in label_map}
            name = lower.get(text.lower())
            if name is None:
                known = ", ".join(f"{k}={v}" for k, v in label_map.items())
                raise InputError(f"--phase {text!r}: not a phase of the label map ({known}); give a "
                                 "name of the map, an integer label value, or name the labels "
                                 "with --labels NAME=VALUE,...")
            return Phase(name, int(label_map[name]))
    if not 0 <= value <= MAX_LABEL:
        raise InputError(f"--phase {phase!r}: a label value must be in {_RANGE}")
    return Phase(by_value.get(value, str(value)), value)
