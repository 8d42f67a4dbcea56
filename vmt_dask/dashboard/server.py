"""Scheduler side of the study page: tornado handlers, the tracking plugin, preload hook.

Three of distributed's extension points lead here, all ending in the same
routes on the scheduler's dashboard server (port 8787 by default):

* ``dask scheduler --preload vmt_dask.dashboard`` (the Helm chart) or
  ``LocalCluster(scheduler_kwargs={"preload": ["vmt_dask.dashboard"]})``: the
  preload's ``dask_setup(scheduler)`` registers :class:`StudyTracker` and adds
  the routes;
* ``client.register_plugin(StudyTracker())`` on a running scheduler (what
  :func:`vmt_dask.dashboard.ensure_study_page` does);
* the ``distributed.scheduler.http.routes`` config list with
  ``vmt_dask.dashboard`` appended: distributed imports the module and mounts
  its ``routes`` (pages then read the scheduler's event log directly).

Routes, relative to the dashboard prefix: ``vmt/studies`` (HTML page),
``vmt/studies/fragment`` (the part the page re-fetches), ``vmt/api/studies``
(JSON) and ``vmt`` (redirect to the page).
"""
from __future__ import annotations

import functools
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.http.utils import RequestHandler
from tornado import web
from tornado.ioloop import IOLoop

from ..events import STAGES, TOPIC
from .plots import layout_json, plot_data
from .progress import STAGE_LABELS, StudyBoard
from .render import render_page, render_studies

if TYPE_CHECKING:
    from distributed import Scheduler

__all__ = [
    "PAGE_PATH",
    "API_PATH",
    "SCIENCE_PATH",
    "PLOTS_PATH",
    "PLUGIN_NAME",
    "StudyTracker",
    "add_routes",
    "dask_setup",
    "routes",
    "scheduler_summaries",
]

logger = logging.getLogger(__name__)

PAGE_PATH = "vmt/studies"
API_PATH = "vmt/api/studies"
SCIENCE_PATH = "vmt/api/science"
PLOTS_PATH = "vmt/api/plots"
PLUGIN_NAME = "vmt-study-page"
_MARK = "_vmt_study_routes"


def scheduler_summaries(scheduler: Scheduler) -> list[dict[str, Any]]:
    """Study summaries on this scheduler: from the tracker if registered, else the event log."""
    return _board(scheduler).snapshot()


class _Base(RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")


class StudyPageHandler(_Base):
    """``GET vmt/studies``: the study page."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.write(render_page(scheduler_summaries(self.server)))


class StudyFragmentHandler(_Base):
    """``GET vmt/studies/fragment``: the studies part of the page, for auto-refresh."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.write(render_studies(scheduler_summaries(self.server)))


class StudyApiHandler(_Base):
    """``GET vmt/api/studies``: JSON ``{"topic", "stages", "stage_labels", "time", "studies"}``."""

    def get(self) -> None:
        body = {
            "topic": TOPIC,
            "stages": list(STAGES),
            "stage_labels": dict(STAGE_LABELS),
            "time": time.time(),
            "studies": scheduler_summaries(self.server),
        }
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        # allow_nan=False: summaries are already NaN-free, fail loudly otherwise.
        self.write(json.dumps(body, allow_nan=False))


def _board(scheduler: Scheduler) -> StudyBoard:
    plugin = scheduler.plugins.get(PLUGIN_NAME)
    if isinstance(plugin, StudyTracker) and plugin.board is not None:
        return plugin.board
    return StudyBoard().extend(scheduler.get_events(TOPIC))


class StudyScienceHandler(_Base):
    """``GET vmt/api/science?study=ID``: ``{"study", "version", "data"}``.

    ``data`` is :func:`~vmt_dask.dashboard.plots.plot_data` (the column data of every
    plot source); 404 for an unknown study.
    """

    def get(self) -> None:
        study = self.get_argument("study", "")
        science = _board(self.server).science(study)
        if science is None:
            self.set_status(404)
            self.write({"error": "no such study"})
            return
        body = {"study": study, "version": science["version"], "data": plot_data(science)}
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(json.dumps(body, allow_nan=False))


@functools.lru_cache(maxsize=1)
def _layout_json() -> str:
    return json.dumps(layout_json("vmt-science-plots"))


class PlotLayoutHandler(_Base):
    """``GET vmt/api/plots``: the Bokeh layout (``json_item``, empty sources) of the plots.

    Built once per process, in a worker thread so the scheduler's event loop is not held.
    """

    async def get(self) -> None:
        try:
            body = await IOLoop.current().run_in_executor(None, _layout_json)
        except ImportError:
            self.set_status(404)
            self.write({"error": "bokeh is not installed"})
            return
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(body)


class _Redirect(_Base):
    def get(self) -> None:
        self.redirect("vmt/studies" if not self.request.path.endswith("/") else "studies")


#: Module-level routes in the form ``distributed.scheduler.http.routes`` expects.
routes: list[tuple[str, type, dict]] = [
    (PAGE_PATH, StudyPageHandler, {}),
    (PAGE_PATH + "/fragment", StudyFragmentHandler, {}),
    (API_PATH, StudyApiHandler, {}),
    (SCIENCE_PATH, StudyScienceHandler, {}),
    (PLOTS_PATH, PlotLayoutHandler, {}),
    ("vmt/?", _Redirect, {}),
]


def _http_prefix(app: web.Application) -> str:
    """The dashboard prefix (``--dashboard-prefix``), read off distributed's own routes.

    The scheduler does not keep the prefix it was given, but every route it
    mounted carries it; ``health`` is always among them.
    """
    seen = set()
    stack = [app.default_router, app.wildcard_router]
    while stack:
        router = stack.pop()
        if id(router) in seen:
            continue
        seen.add(id(router))
        for rule in getattr(router, "rules", []):
            pattern = getattr(getattr(rule.matcher, "regex", None), "pattern", "")
            if pattern.endswith("health$"):
                return pattern[: -len("health$")] or "/"
            if hasattr(rule.target, "rules"):
                stack.append(rule.target)
    return "/"


def add_routes(scheduler: Scheduler) -> bool:
    """Mount the study page on the scheduler's dashboard server (idempotent).

    Returns ``True`` when routes were added, ``False`` when they already were
    or the scheduler has no HTTP application.
    """
    app = getattr(scheduler, "http_application", None)
    if app is None:
        logger.warning("scheduler has no HTTP server; study page not mounted")
        return False
    if getattr(app, _MARK, False) or _already_mounted(app):
        return False
    prefix = _http_prefix(app)
    handlers = [
        (prefix + path, cls, {**kwargs, "dask_server": scheduler}) for path, cls, kwargs in routes
    ]
    app.add_handlers(r".*$", handlers)
    setattr(app, _MARK, True)
    _link_from_bokeh_dashboard(scheduler)
    logger.info("study page mounted at %s%s", prefix, PAGE_PATH)
    return True


def _already_mounted(app: web.Application) -> bool:
    """Routes mounted through ``distributed.scheduler.http.routes``?"""
    for rule in app.default_router.rules:
        for sub in getattr(rule.target, "rules", []):
            if getattr(sub, "target", None) is StudyPageHandler:
                return True
    return False


def _link_from_bokeh_dashboard(scheduler: Scheduler) -> None:
    """Add "VMT studies" to the bokeh dashboard's "More..." menu when bokeh is there."""
    try:
        from distributed.dashboard.scheduler import template_variables
    except ImportError:  # no bokeh: no dashboard pages to link from
        return
    try:
        plots = template_variables(scheduler)["plots"]
    except Exception:  # pragma: no cover - layout changed in a future distributed
        logger.debug("could not add the study page to the dashboard menu", exc_info=True)
        return
    if not any(p.get("url") == PAGE_PATH for p in plots):
        plots.insert(0, {"url": PAGE_PATH, "name": "VMT Studies"})


class StudyTracker(SchedulerPlugin):
    """Scheduler plugin keeping a running summary of study events and serving the page.

    Starting it (registration or preload) mounts the routes and seeds the
    summary from the event log, so studies begun before registration show up
    too; after that :meth:`log_event` folds every new message in, so the page
    keeps the whole history even when the scheduler's event log (bounded by
    ``distributed.admin.low-level-log-length``) has dropped old entries.
    """

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self) -> None:
        self.board: StudyBoard | None = None

    def __getstate__(self) -> dict[str, Any]:  # ship an empty tracker
        return {"board": None}

    async def start(self, scheduler: Scheduler) -> None:
        self.board = StudyBoard().extend(scheduler.get_events(TOPIC))
        add_routes(scheduler)
        # build the plots' Bokeh layout now, off the event loop, so the first page load is quick
        warm = IOLoop.current().run_in_executor(None, _layout_json)
        warm.add_done_callback(lambda f: f.cancelled() or f.exception())  # failures show on request

    def log_event(self, topic: str, msg: Any) -> None:
        if topic == TOPIC and self.board is not None:
            self.board.add(time.time(), msg)


async def dask_setup(scheduler: Any) -> None:
    """Preload hook: ``dask scheduler --preload vmt_dask.dashboard``.

    On a worker or nanny (``--preload`` given to the wrong process) it only
    logs a warning.
    """
    if not hasattr(scheduler, "get_events") or not hasattr(scheduler, "plugins"):
        logger.warning("vmt_dask.dashboard is a scheduler preload; ignoring it on %r",
                       type(scheduler).__name__)
        return
    if PLUGIN_NAME in scheduler.plugins:
        return
    tracker = StudyTracker()
    await tracker.start(scheduler)
    scheduler.add_plugin(tracker, name=PLUGIN_NAME, idempotent=True)
