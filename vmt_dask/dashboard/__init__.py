"""The study page on the Dask dashboard.

The scheduler's dashboard server (port 8787) gains ``/vmt/studies`` (HTML) and
``/vmt/api/studies`` (JSON): every study's progress per stage, failures and
the latest descriptor and M-factor values, read from the study events the
coordinator publishes (:mod:`vmt_dask.events`).

This module is a scheduler preload::

    dask scheduler --preload vmt_dask.dashboard

    from vmt_dask.dashboard import local_cluster
    cluster = local_cluster(n_workers=2)      # LocalCluster(scheduler_kwargs={"preload": [...]})

    from vmt_dask.dashboard import ensure_study_page
    url = ensure_study_page(client)           # any running scheduler that can import vmt_dask

and also a ``distributed.scheduler.http.routes`` module (its ``routes``).
See ``docs/dashboard.md``.
"""
from __future__ import annotations

from .client import (
    LOOPBACK,
    PRELOAD,
    ensure_study_page,
    local_cluster,
    local_kwargs,
    progress_html,
    scheduler_kwargs,
    study_page_url,
    study_progress,
    watch,
)
from .progress import STAGE_LABELS, StudyBoard, summarize_events
from .render import render_page, render_studies
from .server import API_PATH, PAGE_PATH, StudyTracker, add_routes, dask_setup, routes

__all__ = [
    "API_PATH",
    "LOOPBACK",
    "PAGE_PATH",
    "PRELOAD",
    "STAGE_LABELS",
    "StudyBoard",
    "StudyTracker",
    "add_routes",
    "dask_setup",
    "ensure_study_page",
    "local_cluster",
    "local_kwargs",
    "progress_html",
    "render_page",
    "render_studies",
    "routes",
    "scheduler_kwargs",
    "study_page_url",
    "study_progress",
    "summarize_events",
    "watch",
]
