"""Fold study progress events into one summary per study.

Pure code: plain dicts in, plain (JSON-serialisable) dicts out; no tornado, no
scheduler.  The messages are the ones :func:`vmt_dask.events.study_message`
builds and the coordinator publishes on the scheduler's event log under
:data:`vmt_dask.events.TOPIC`.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..events import STAGES

__all__ = ["STAGE_LABELS", "VALUE_PREFIXES", "StudyBoard", "summarize_events"]

#: What each stage counts, as shown on the study page.
STAGE_LABELS: dict[str, str] = {
    "realize": "structures realized",
    "describe": "points described (descriptor means)",
    "gradient": "gradient evaluations",
    "structure": "structures described",
    "conduct": "M-factors done",
}

#: Keys of ``latest`` that are descriptor or M-factor values (the variable names of
#: docs/results-schema.md, e.g. ``m_factor_AM``); they are also accepted under
#: ``latest["values"]``.
VALUE_PREFIXES = (
    "volume_fraction", "specific_surface_area", "tortuosity", "constrictivity", "r_min", "r_max",
    "m_factor", "tau_factor",
)

#: How many error messages are kept per study.
_MAX_ERRORS = 20


def _as_int(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def _jsonable(value: Any) -> Any:
    """Plain JSON value: NaN/inf become None, tuples lists, unknown objects strings."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    try:  # numpy scalars
        item = value.item()
    except (AttributeError, ValueError, TypeError):
        return str(value)
    return _jsonable(item)


def _stage_entry(raw: Any) -> dict[str, Any]:
    raw = raw if isinstance(raw, Mapping) else {}
    done, total, failed = (_as_int(raw.get(k)) for k in ("done", "total", "failed"))
    fraction = min(done / total, 1.0) if total else 0.0
    return {"done": done, "total": total, "failed": failed, "fraction": fraction}


class StudyBoard:
    """Running summary of every study seen on the event log.

    Feed it ``(time, message)`` pairs with :meth:`add` (in any order of
    studies; messages of one study are expected in time order, later ones
    win); read it with :meth:`snapshot`.  Messages that are not study
    progress messages are ignored, so a malformed event can never break the
    page.
    """

    def __init__(self) -> None:
        self._studies: dict[str, dict[str, Any]] = {}
        self.ignored = 0

    def __len__(self) -> int:
        return len(self._studies)

    def add(self, when: float, msg: Any) -> bool:
        """Fold one event in; return whether it was a study message."""
        if not isinstance(msg, Mapping) or msg.get("kind") != "study" or "study" not in msg:
            self.ignored += 1
            return False
        study_id = str(msg["study"])
        stamp = msg.get("time", when)
        try:
            stamp = float(stamp)
        except (TypeError, ValueError):
            stamp = float(when)
        entry = self._studies.get(study_id)
        if entry is None:
            entry = {
                "study": study_id,
                "values": {},
                "store": "",
                "state": "unknown",
                "started": stamp,
                "updated": stamp,
                "messages": 0,
                "stages": {},
                "latest": {},
                "errors": [],
            }
            self._studies[study_id] = entry
        entry["messages"] += 1
        latest = msg.get("latest")
        latest = dict(latest) if isinstance(latest, Mapping) else {}
        errors = msg.get("errors", msg.get("error"))
        errors = list(errors) if isinstance(errors, (list, tuple)) else [errors] if errors else []
        if latest.get("error"):  # the coordinator reports a failed task in ``latest``
            err = latest.pop("error")
            errors.append(f"{latest['key']}: {err}" if latest.get("key") else err)
        if errors:
            entry["errors"].extend(str(e) for e in errors)
            del entry["errors"][:-_MAX_ERRORS]
        values = latest.pop("values", None)
        values = dict(values) if isinstance(values, Mapping) else {}
        for key in [k for k in latest if str(k).startswith(VALUE_PREFIXES)]:
            values[key] = latest.pop(key)
        entry["started"] = min(entry["started"], stamp)
        if stamp < entry["updated"]:
            return True  # an older message arriving late: keep the newer state
        entry["updated"] = stamp
        entry["store"] = str(msg.get("store", entry["store"]))
        entry["state"] = str(msg.get("state", entry["state"]))
        stages = msg.get("stages")
        if isinstance(stages, Mapping):
            entry["stages"] = {str(k): _stage_entry(v) for k, v in stages.items()}
        # ``latest`` is the last event as sent; ``values`` the last known value of every
        # descriptor/M-factor, so the last M-factor stays shown while descriptors come in.
        entry["latest"] = _jsonable(latest)
        entry["values"].update(_jsonable(values))
        return True

    def extend(self, events: Iterable[tuple[float, Any]]) -> StudyBoard:
        """Fold in many ``(time, message)`` pairs; return ``self``."""
        for when, msg in events:
            self.add(when, msg)
        return self

    def snapshot(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per study, newest first.

        Each has ``study``, ``store``, ``state``, ``started``, ``updated``
        (unix seconds), ``messages``, ``stages`` (every stage of
        :data:`~vmt_dask.events.STAGES` in order, then any others, each with
        ``done``, ``total``, ``failed``, ``fraction``), ``failed`` (sum over
        stages), ``latest`` (the last event's ``latest`` dict, without
        ``error`` and the values), ``values`` (last known descriptor and
        M-factor values: ``latest["values"]`` entries and ``latest`` keys
        starting with one of :data:`VALUE_PREFIXES`) and ``errors`` (the last
        20 error strings: a message's ``error``/``errors`` or ``latest["error"]``).
        """
        out = []
        for entry in self._studies.values():
            stages = {name: entry["stages"].get(name, _stage_entry(None)) for name in STAGES}
            stages.update({k: v for k, v in entry["stages"].items() if k not in stages})
            out.append({
                **entry,
                "stages": {k: dict(v) for k, v in stages.items()},
                "failed": sum(v["failed"] for v in stages.values()),
                "latest": dict(entry["latest"]),
                "values": dict(entry["values"]),
                "errors": list(entry["errors"]),
            })
        out.sort(key=lambda s: s["started"], reverse=True)
        return out


def summarize_events(events: Iterable[tuple[float, Any]]) -> list[dict[str, Any]]:
    """Summaries of all studies in an event log (see :meth:`StudyBoard.snapshot`).

    Parameters
    ----------
    events : iterable of (float, dict)
        ``(time, message)`` pairs as returned by
        ``Scheduler.get_events(TOPIC)`` or ``Client.get_events(TOPIC)``.
    """
    return StudyBoard().extend(events).snapshot()
