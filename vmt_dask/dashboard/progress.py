"""Fold study progress events into one summary per study.

Pure code: plain dicts in, plain (JSON-serialisable) dicts out; no tornado, no
scheduler.  The messages are the ones :func:`vmt_dask.events.study_message`
builds and the coordinator publishes on the scheduler's event log under
:data:`vmt_dask.events.TOPIC`.
"""
from __future__ import annotations

import math
import time as _time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from ..events import STAGES, effective_state
from ..redact import redact
from .science import StudyScience, finite_or_none

__all__ = ["STAGE_LABELS", "VALUE_PREFIXES", "MAX_STUDIES", "RATE_WINDOW_S", "StudyBoard", "summarize_events"]

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
#: Longest text kept from an event (error messages, keys); longer ones are cut.
_MAX_TEXT = 500
#: Most studies kept on one board (the least recently updated is dropped).
MAX_STUDIES = 50
#: Window over which the per-stage rate is measured, seconds.
RATE_WINDOW_S = 300.0
#: Most ``(time, done)`` samples kept per stage.
_MAX_HISTORY = 512


def _finite_time(value: Any, default: float) -> float:
    """``value`` as finite unix seconds, else ``default`` (a "nan" time must not poison the page)."""
    out = finite_or_none(value)
    return out if out is not None and 0.0 <= out < 1e11 else default


def _text(value: Any, limit: int) -> str:
    """A display string: credentials redacted, at most ``limit`` characters."""
    s = redact(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _cap(mapping: dict[str, Any], limit: int = 64) -> dict[str, Any]:
    """At most ``limit`` entries, string values capped and redacted."""
    out = {}
    for k, v in list(mapping.items())[:limit]:
        out[_text(k, 100)] = _text(v, _MAX_TEXT) if isinstance(v, str) else v
    return out


def _as_int(value: Any) -> int:
    try:
        return min(max(int(value), 0), 2**53)
    except (TypeError, ValueError, OverflowError):
        return 0


def _jsonable(value: Any, depth: int = 0) -> Any:
    """Plain JSON value: NaN/inf become None, tuples lists, texts capped and redacted,
    unknown objects strings, nesting deeper than 4 levels a string."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        return _text(value, _MAX_TEXT)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= 4:
        return _text(value, 100)
    if isinstance(value, Mapping):
        return {_text(k, 100): _jsonable(v, depth + 1) for k, v in list(value.items())[:64]}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value[:64]]
    try:  # numpy scalars
        item = value.item()
    except (AttributeError, ValueError, TypeError):
        return _text(value, 100)
    return _jsonable(item, depth + 1)


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
    progress messages are ignored, and no message, however malformed, can
    raise or leave a value the JSON API cannot serialise (non-finite times
    are replaced by the arrival time, texts are capped and credentials
    redacted).  Memory is bounded: at most :data:`MAX_STUDIES` studies, each
    with a bounded :class:`~vmt_dask.dashboard.science.StudyScience`.
    """

    def __init__(self) -> None:
        self._studies: dict[str, dict[str, Any]] = {}
        self.ignored = 0

    def __len__(self) -> int:
        return len(self._studies)

    def add(self, when: float, msg: Any) -> bool:
        """Fold one event in; return whether it was a study message."""
        try:
            return self._add(when, msg)
        except Exception:  # noqa: BLE001 - the page must survive any event; counted, not raised
            self.ignored += 1
            return False

    def _add(self, when: Any, msg: Any) -> bool:
        if not isinstance(msg, Mapping) or msg.get("kind") != "study" or "study" not in msg:
            self.ignored += 1
            return False
        arrival = _finite_time(when, _time.time())
        study_id = _text(msg["study"], 200)
        stamp = _finite_time(msg.get("time"), arrival)
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
                "failures": [],
                "_history": {},
                "_science": StudyScience(),
            }
            self._studies[study_id] = entry
            self._evict()
        entry["messages"] += 1
        latest = msg.get("latest")
        latest = dict(latest) if isinstance(latest, Mapping) else {}
        entry["_science"].add(latest)
        errors = msg.get("errors", msg.get("error"))
        errors = list(errors)[:_MAX_ERRORS] if isinstance(errors, (list, tuple)) else [errors] if errors else []
        failures = [{"time": stamp, "stage": "", "key": "", "error": _text(e, _MAX_TEXT)} for e in errors]
        if latest.get("error"):  # the coordinator reports a failed task in ``latest``
            err = _text(latest.pop("error"), _MAX_TEXT)
            key = _text(latest.get("key", ""), 200)
            errors.append(f"{key}: {err}" if key else err)
            failures.append({"time": stamp, "stage": _text(latest.get("stage", ""), 50), "key": key,
                             "error": err})
        if errors:
            entry["errors"].extend(_text(e, _MAX_TEXT) for e in errors)
            del entry["errors"][:-_MAX_ERRORS]
            entry["failures"].extend(failures)
            del entry["failures"][:-_MAX_ERRORS]
        values = latest.pop("values", None)
        values = dict(values) if isinstance(values, Mapping) else {}
        for key in [k for k in latest if str(k).startswith(VALUE_PREFIXES)]:
            values[key] = latest.pop(key)
        entry["started"] = min(entry["started"], stamp)
        if stamp < entry["updated"]:
            return True  # an older message arriving late: keep the newer state
        entry["updated"] = stamp
        if "store" in msg:
            entry["store"] = _text(msg.get("store"), 500)
        if "state" in msg:
            entry["state"] = _text(msg.get("state"), 50)
            entry["_expires"] = finite_or_none(msg.get("expires"))
        stages = msg.get("stages")
        if isinstance(stages, Mapping):
            entry["stages"] = {_text(k, 50): _stage_entry(v) for k, v in list(stages.items())[:32]}
            self._record_history(entry, stamp)
        # ``latest`` is the last event as sent; ``values`` the last known value of every
        # descriptor/M-factor, so the last M-factor stays shown while descriptors come in.
        entry["latest"] = _jsonable(_cap(latest))
        entry["values"].update(_jsonable(_cap(values)))
        if len(entry["values"]) > 64:
            entry["values"] = dict(list(entry["values"].items())[-64:])
        return True

    def _evict(self) -> None:
        while len(self._studies) > MAX_STUDIES:
            oldest = min(self._studies, key=lambda k: self._studies[k]["updated"])
            del self._studies[oldest]

    @staticmethod
    def _record_history(entry: dict[str, Any], stamp: float) -> None:
        for name, stage in entry["stages"].items():
            hist = entry["_history"].setdefault(name, deque(maxlen=_MAX_HISTORY))
            if not hist or hist[-1][1] != stage["done"]:
                hist.append((stamp, stage["done"]))

    def extend(self, events: Iterable[tuple[float, Any]]) -> StudyBoard:
        """Fold in many ``(time, message)`` pairs; return ``self``."""
        for when, msg in events:
            self.add(when, msg)
        return self

    def science(self, study: str) -> dict[str, Any] | None:
        """The study's :meth:`StudyScience.snapshot` (None for an unknown study)."""
        entry = self._studies.get(str(study))
        return None if entry is None else entry["_science"].snapshot()

    def snapshot(self, *, now: float | None = None) -> list[dict[str, Any]]:
        """One JSON-ready dict per study, newest first.

        Each has ``study``, ``store`` (credentials redacted), ``state``, ``started``,
        ``updated`` (unix seconds), ``messages``, ``state`` (as published, except that a
        "running" study whose last message has ``expires`` in the past, i.e. whose coordinator
        stopped sending heartbeats, reads "interrupted": :func:`vmt_dask.events.effective_state`),
        ``stages`` (every stage of
        :data:`~vmt_dask.events.STAGES` in order, then any others, each with ``done``,
        ``total``, ``failed``, ``fraction`` and ``rate_per_min``: tasks finished per minute
        over the last :data:`RATE_WINDOW_S` seconds with progress), ``failed`` (sum over
        stages), ``eta_s`` (remaining tasks of all stages over their summed rate; None
        while unknown or when nothing remains), ``latest`` (the last event's ``latest``
        dict, without ``error`` and the values), ``values`` (last known descriptor and
        M-factor values: ``latest["values"]`` entries and ``latest`` keys starting with one
        of :data:`VALUE_PREFIXES`), ``errors`` (the last 20 error strings),
        ``failures`` (the same as dicts ``time, stage, key, error``) and
        ``science_version`` (grows when :meth:`science` has something new).
        """
        out = []
        for entry in self._studies.values():
            stages = {name: entry["stages"].get(name, _stage_entry(None)) for name in STAGES}
            stages.update({k: v for k, v in entry["stages"].items() if k not in stages})
            stages = {k: {**v, "rate_per_min": _rate(entry["_history"].get(k))} for k, v in stages.items()}
            rate = sum(v["rate_per_min"] or 0.0 for v in stages.values())
            remaining = sum(max(v["total"] - v["done"] - v["failed"], 0) for v in stages.values())
            state = effective_state({"state": entry["state"], "expires": entry.get("_expires")}, now)
            eta = remaining / rate * 60.0 if rate > 0 and remaining and state == "running" else None
            out.append({
                **{k: v for k, v in entry.items() if not k.startswith("_")},
                "state": state,
                "stages": stages,
                "failed": sum(v["failed"] for v in stages.values()),
                "eta_s": eta,
                "latest": dict(entry["latest"]),
                "values": dict(entry["values"]),
                "errors": list(entry["errors"]),
                "failures": [dict(f) for f in entry["failures"]],
                "science_version": entry["_science"].version,
            })
        out.sort(key=lambda s: s["started"], reverse=True)
        return out


def _rate(history: Any) -> float | None:
    """Tasks per minute from ``(time, done)`` samples over the last RATE_WINDOW_S seconds."""
    if not history or len(history) < 2:
        return None
    t1, d1 = history[-1]
    t0, d0 = history[0]
    for t, d in history:
        if t >= t1 - RATE_WINDOW_S:
            t0, d0 = t, d
            break
    if t1 <= t0:
        return None
    return max(d1 - d0, 0) / (t1 - t0) * 60.0


def summarize_events(events: Iterable[tuple[float, Any]]) -> list[dict[str, Any]]:
    """Summaries of all studies in an event log (see :meth:`StudyBoard.snapshot`).

    Parameters
    ----------
    events : iterable of (float, dict)
        ``(time, message)`` pairs as returned by
        ``Scheduler.get_events(TOPIC)`` or ``Client.get_events(TOPIC)``.
    """
    return StudyBoard().extend(events).snapshot()
