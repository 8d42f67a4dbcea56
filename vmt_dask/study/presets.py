"""Shipped study presets: ``paper``, ``demo`` and ``smoke`` (YAML files in ``vmt_dask/presets``).

The text only; :func:`vmt_dask.study.spec.preset_dict` parses it with the spec's safe loader.
"""
from __future__ import annotations

from importlib.resources import files

from ..errors import InputError

__all__ = ["PRESETS", "preset_text"]

#: Names of the shipped presets.
PRESETS: tuple[str, ...] = ("paper", "demo", "smoke")


def preset_text(name: str) -> str:
    """YAML text of a shipped preset; raises InputError for an unknown name."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return (files("vmt_dask") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")

