"""Client side: start clusters that serve the study page, find it, watch progress."""
from __future__ import annotations

import time as _time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..events import TOPIC
from .progress import summarize_events

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

__all__ = [
    "PRELOAD",
    "LOOPBACK",
    "scheduler_kwargs",
    "local_kwargs",
    "local_cluster",
    "ensure_study_page",
    "study_page_url",
    "study_progress",
    "progress_html",
    "watch",
]

#: Module name to give ``--preload`` / ``scheduler_kwargs["preload"]``.
PRELOAD = "vmt_dask.dashboard"


def scheduler_kwargs(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``scheduler_kwargs`` for ``LocalCluster`` that preload the study page.

    Parameters
    ----------
    extra : mapping, optional
        Other scheduler keyword arguments; an existing ``preload`` (str or
        list) is kept and the study page preload added to it.
    """
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(f"extra must be a mapping, got {extra!r}")
    out = dict(extra or {})
    preload = out.get("preload") or []
    preload = [preload] if isinstance(preload, str) else list(preload)
    if PRELOAD not in preload:
        preload.append(PRELOAD)
    out["preload"] = preload
    return out


#: Where embedded clusters listen unless told otherwise: loopback only, so the scheduler,
#: the Dask dashboard and the study page are not reachable from the network.
LOOPBACK = "127.0.0.1"


def local_kwargs(**kwargs: Any) -> dict[str, Any]:
    """``LocalCluster`` keyword arguments with safe defaults: the scheduler and the dashboard
    bind to 127.0.0.1 (a free port) unless ``host``/``dashboard_address`` are given, and the
    study page is preloaded (see :func:`scheduler_kwargs`)."""
    if kwargs.get("processes", True) is not False:  # in-process clusters talk over inproc://
        kwargs.setdefault("host", LOOPBACK)
    kwargs.setdefault("dashboard_address", f"{LOOPBACK}:0")
    kwargs["scheduler_kwargs"] = scheduler_kwargs(kwargs.get("scheduler_kwargs"))
    return kwargs


def local_cluster(**kwargs: Any) -> LocalCluster:
    """A ``distributed.LocalCluster`` whose dashboard serves the study page.

    Same arguments as ``LocalCluster``.  Unless ``host`` or ``dashboard_address`` are given,
    everything listens on 127.0.0.1 only (:func:`local_kwargs`); pass
    ``dashboard_address=":8787"`` to open the dashboard to the network on purpose.
    """
    from distributed import LocalCluster

    return LocalCluster(**local_kwargs(**kwargs))


def study_page_url(client: Client) -> str | None:
    """URL of the study page for this client's scheduler, or ``None`` without a dashboard.

    Built from ``client.dashboard_link`` (which honours the
    ``distributed.dashboard.link`` config, e.g. behind a proxy).
    """
    try:
        link = client.dashboard_link
    except (AttributeError, KeyError):  # pragma: no cover - no scheduler info
        return None
    if not link:
        return None
    base = link[: -len("status")] if link.endswith("/status") else link.rstrip("/") + "/"
    return base + "vmt/studies"


def ensure_study_page(client: Client) -> str | None:
    """Make the client's scheduler serve the study page; return its URL.

    Registers :class:`~vmt_dask.dashboard.server.StudyTracker` as a scheduler
    plugin, which is idempotent: a scheduler started with the preload (Helm
    chart, :func:`local_cluster`) keeps its tracker.  The scheduler must be
    able to import ``vmt_dask``.
    """
    from .server import StudyTracker

    client.register_plugin(StudyTracker())  # idempotent: class attribute
    return study_page_url(client)


def study_progress(client: Client, *, study: str | None = None) -> list[dict[str, Any]]:
    """Summaries of the studies on the client's scheduler (see ``summarize_events``).

    Parameters
    ----------
    client : distributed.Client
    study : str, optional
        Only this study (an empty list if it has not reported yet).
    """
    if study is not None and not isinstance(study, str):
        raise TypeError(f"study must be a str, got {study!r}")
    summaries = summarize_events(client.get_events(TOPIC))
    if study is not None:
        summaries = [s for s in summaries if s["study"] == study]
    return summaries


def progress_html(client: Client, *, study: str | None = None) -> str:
    """The study page's HTML fragment for a notebook (``IPython.display.HTML``)."""
    return _html(study_progress(client, study=study))


def _html(summaries: list[dict[str, Any]]) -> str:
    from .render import STYLE, render_studies

    return f"<style>{STYLE}</style>" + render_studies(summaries)


def watch(client: Client, *, study: str | None = None, done: Callable[[], bool] | None = None,
          interval: float = 1.0, timeout: float | None = None) -> list[dict[str, Any]]:
    """Show live study progress in a notebook cell, updated in place.

    Returns when ``done()`` is true, when every shown study has finished or
    failed, or after ``timeout`` seconds; interrupting the cell stops only the
    display, never the study.  Returns the last summaries.

    Parameters
    ----------
    client : distributed.Client
    study : str, optional
        Only this study.
    done : callable, optional
        Stop condition, e.g. ``future.done`` of the submitted study.
    interval : float
        Seconds between updates (> 0).
    timeout : float, optional
        Give up watching after this many seconds (> 0).
    """
    if not interval > 0:
        raise ValueError(f"interval must be > 0, got {interval!r}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be > 0 or None, got {timeout!r}")
    from IPython.display import HTML, display

    summaries = study_progress(client, study=study)
    handle = display(HTML(_html(summaries)), display_id=True)
    start = _time.monotonic()
    while True:
        summaries = study_progress(client, study=study)
        handle.update(HTML(_html(summaries)))
        finished = bool(summaries) and all(s["state"] in ("finished", "failed") for s in summaries)
        if (done is not None and done()) or (done is None and finished):
            # one last update so the final state is what stays on screen
            summaries = study_progress(client, study=study)
            handle.update(HTML(_html(summaries)))
            return summaries
        if timeout is not None and _time.monotonic() - start > timeout:
            return summaries
        _time.sleep(interval)
