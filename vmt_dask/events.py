"""Study progress events, published on the Dask scheduler's event log.

The coordinator sends one message per state change with
``distributed.Client.log_event(TOPIC, message)``; the scheduler keeps them in
``Scheduler.events[TOPIC]`` where the dashboard's study page and ``vmt study
status`` read them.  Messages are plain dicts (msgpack-serialisable):

``{"kind": "study", "study": <id>, "store": <url>, "state": "running"|"finished"|"failed",
  "stages": {<stage>: {"done": int, "total": int, "failed": int}}, "latest": {...},
  "time": <unix seconds>}``

Stages, in order: ``realize``, ``describe``, ``gradient``, ``structure``, ``conduct``.
"""
from __future__ import annotations

__all__ = ["TOPIC", "STAGES", "study_message"]

TOPIC = "vmt-study"
STAGES = ("realize", "describe", "gradient", "structure", "conduct")


def study_message(study: str, store: str, state: str, stages: dict, latest: dict | None = None,
                  time: float | None = None) -> dict:
    """Build one progress message (see module docstring)."""
    import time as _time

    return {
        "kind": "study",
        "study": study,
        "store": store,
        "state": state,
        "stages": {k: dict(v) for k, v in stages.items()},
        "latest": dict(latest or {}),
        "time": _time.time() if time is None else time,
    }
