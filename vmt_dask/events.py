"""Study progress events, published on the Dask scheduler's event log.

The coordinator sends one message per state change with
``distributed.Client.log_event(TOPIC, message)``; the scheduler keeps them in
``Scheduler.events[TOPIC]`` where the dashboard's study page and ``vmt study
status`` read them.  Messages are plain dicts (msgpack-serialisable):

``{"kind": "study", "study": <id>, "store": <url>, "state": "running"|"finished"|"failed",
  "stages": {<stage>: {"done": int, "total": int, "failed": int}}, "latest": {...},
  "time": <unix seconds>, "expires": <unix seconds> | None}``

Stages, in order: ``realize``, ``describe``, ``gradient``, ``structure``, ``conduct``.

Honest state
------------
``"finished"`` is published only after the coordinator has verified every expected record
(checksums) at the end of a run.  A ``"running"`` message carries ``expires``: the coordinator
re-publishes (a ``"heartbeat"`` event) well before it, as long as it holds the store's lease;
a reader that sees no newer message after ``expires`` must show the study as
``"interrupted"`` (the client died or lost the store): :func:`effective_state` does that.
"""
from __future__ import annotations

import math

__all__ = ["TOPIC", "STAGES", "STATES", "study_message", "effective_state"]

TOPIC = "vmt-study"
STAGES = ("realize", "describe", "gradient", "structure", "conduct")
#: States a study can be in (``vmt study status``, the events, the study page).
STATES = ("not started", "running", "interrupted", "failed", "finished")


def study_message(study: str, store: str, state: str, stages: dict, latest: dict | None = None,
                  time: float | None = None, expires: float | None = None) -> dict:
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
        "expires": expires,
    }


def effective_state(message: dict, now: float | None = None) -> str:
    """The state a reader should show for the latest message of a study.

    ``"running"`` past its ``expires`` time (no heartbeat since) reads as ``"interrupted"``;
    any other state is returned as published.  Malformed fields never raise: a message that is
    not a mapping, or has no string state, reads as ``"interrupted"``.
    """
    import time as _time

    if not isinstance(message, dict) or not isinstance(message.get("state"), str):
        return "interrupted"
    state = message["state"]
    if state != "running":
        return state
    expires = message.get("expires")
    try:
        expires = float(expires) if expires is not None and not isinstance(expires, bool) else None
    except (TypeError, ValueError, OverflowError):
        expires = None
    if expires is None or not math.isfinite(expires):
        return state  # a message from a coordinator without heartbeats: cannot tell
    return "interrupted" if (_time.time() if now is None else now) > expires else state
