"""HTML for the study page (pure string building; every value is escaped).

The page is rendered on the server so that it reads without JavaScript; a
small script then re-fetches the studies fragment every few seconds.  The
same fragment is what :class:`vmt_dask.dashboard.StudyProgress` shows in a
notebook.
"""
from __future__ import annotations

import html
import math
import time as _time
from collections.abc import Mapping, Sequence
from typing import Any

from .plots import FUNCTION_COLOURS
from .progress import STAGE_LABELS

__all__ = ["render_page", "render_studies", "flatten_latest", "STYLE"]

STYLE = """
.vmt-studies { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  font-size: 14px; color: #222; }
.vmt-studies h2 { font-size: 18px; margin: 4px 0 6px 0; }
.vmt-study { border: 1px solid #ccc; border-radius: 6px; padding: 10px 14px; margin: 12px 0;
  background: #fff; max-width: 1100px; }
.vmt-study .meta { color: #555; margin-bottom: 8px; }
.vmt-state { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
  font-size: 12px; font-weight: bold; text-transform: uppercase; margin-left: 8px; }
.vmt-state-running { background: #1f77b4; } .vmt-state-finished { background: #2ca02c; }
.vmt-state-failed { background: #d62728; } .vmt-state-unknown { background: #7f7f7f; }
.vmt-state-interrupted { background: #ff7f0e; }
.vmt-studies table { border-collapse: collapse; margin: 4px 0 8px 0; }
.vmt-studies th, .vmt-studies td { text-align: left; padding: 3px 10px 3px 0; vertical-align: middle; }
.vmt-studies th { border-bottom: 1px solid #ddd; }
.vmt-bar { width: 260px; height: 14px; background: #eee; border-radius: 3px; position: relative;
  overflow: hidden; }
.vmt-bar .done { height: 100%; background: #1f77b4; }
.vmt-bar .done.complete { background: #2ca02c; }
.vmt-failed { color: #d62728; font-weight: bold; }
.vmt-errors { color: #d62728; font-family: monospace; font-size: 12px; white-space: pre-wrap; }
.vmt-empty { color: #555; font-style: italic; }
.vmt-num { font-variant-numeric: tabular-nums; }
.vmt-event { color: #555; font-size: 12px; margin: 4px 0; }
.vmt-tabs { margin: 6px 0; }
.vmt-tab { border: 1px solid #bbb; background: #eee; border-radius: 4px 4px 0 0; padding: 4px 10px;
  margin-right: 4px; cursor: pointer; font-size: 13px; }
.vmt-tab.active { background: #fff; border-bottom-color: #fff; font-weight: bold; }
.vmt-failures td { font-size: 12px; vertical-align: top; }
.vmt-science { max-width: 1200px; font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 14px; }
.vmt-science h3 { font-size: 15px; margin: 10px 0 2px 0; }
.vmt-legend span { margin-right: 12px; font-size: 12px; }
"""

_NAV_STYLE = """
body { margin: 0; background: #f7f7f7; }
.vmt-nav { background: #333; padding: 8px 16px; }
.vmt-nav a { color: #eee; margin-right: 18px; text-decoration: none; font-family: sans-serif; }
.vmt-nav a.current { color: #fff; font-weight: bold; }
main { padding: 8px 16px; }
"""

# Re-fetch the fragment; on any error keep what is shown (the scheduler may be
# busy or gone).  Relative URLs, so any --dashboard-prefix works.  One study is shown at
# a time (tabs); its plots are embedded once from api/plots (Bokeh json_item) into a
# container outside the re-fetched fragment, then only their data is fetched from
# api/science and set on the named ColumnDataSources when the study's version changed.
_SCRIPT = """
(function () {
  var box = document.getElementById("vmt-studies");
  var sci = document.getElementById("vmt-science");
  var selected = decodeURIComponent((location.hash || "").slice(1)) || null;
  var docs = {}, versions = {}, holders = {}, chain = Promise.resolve(), layout = null;
  var haveBokeh = typeof Bokeh !== "undefined" && Bokeh.embed;
  function studies() {
    return Array.prototype.map.call(box.querySelectorAll("section.vmt-study"),
                                    function (el) { return el.getAttribute("data-study"); });
  }
  function show() {
    var ids = studies();
    if (!ids.length) { return; }
    if (ids.indexOf(selected) < 0) { selected = ids[0]; }
    box.querySelectorAll("section.vmt-study").forEach(function (el) {
      el.hidden = el.getAttribute("data-study") !== selected; });
    box.querySelectorAll("button.vmt-tab").forEach(function (el) {
      el.classList.toggle("active", el.getAttribute("data-study") === selected); });
    Object.keys(holders).forEach(function (id) { holders[id].hidden = id !== selected; });
    plots(selected);
  }
  function plots(id) {
    if (!haveBokeh) { sci.textContent = "(plots need bokeh on the scheduler)"; return; }
    if (holders[id] === undefined) {
      var holder = document.createElement("div");
      holder.id = "vmt-sci-" + Object.keys(holders).length;
      holder.className = "vmt-plot-holder";
      holder.setAttribute("data-study", id);
      sci.appendChild(holder);
      holders[id] = holder;
      chain = chain.then(function () {
        layout = layout || fetch("../vmt/api/plots").then(function (r) { return r.json(); });
        return layout.then(function (item) {
          var copy = JSON.parse(JSON.stringify(item));
          var before = Bokeh.documents.length;
          return Bokeh.embed.embed_item(copy, holder.id).then(function () {
            docs[id] = Bokeh.documents[before];
          });
        });
      }).then(function () { update(id); }).catch(function () {});
    } else if (docs[id]) {
      update(id);
    }
  }
  function update(id) {
    fetch("../vmt/api/science?study=" + encodeURIComponent(id), {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (body) {
        if (versions[id] === body.version || !docs[id]) { return; }
        versions[id] = body.version;
        Object.keys(body.data).forEach(function (name) {
          var source = docs[id].get_model_by_name(name);
          if (source) { source.data = body.data[name]; }
        });
      }).catch(function () {});
  }
  box.addEventListener("click", function (ev) {
    var tab = ev.target.closest("button.vmt-tab");
    if (tab) { selected = tab.getAttribute("data-study"); location.hash = encodeURIComponent(selected); show(); }
  });
  function refresh() {
    fetch("studies/fragment", {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (text) { box.innerHTML = text; show(); })
      .catch(function () {});
  }
  show();
  setInterval(refresh, %d);
})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def flatten_latest(latest: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}, "c": 2}`` -> ``[("a.b", 1), ("c", 2)]`` (insertion order)."""
    rows: list[tuple[str, Any]] = []
    for key, value in latest.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(flatten_latest(value, prefix=f"{name}."))
        elif isinstance(value, (list, tuple)):
            rows.append((name, ", ".join(_fmt(v) for v in value)))
        else:
            rows.append((name, value))
    return rows


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _stamp(seconds: float) -> str:
    return _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(seconds))


def _eta(study: Mapping[str, Any]) -> str:
    state = str(study.get("state", ""))
    if state != "running":
        return state or "unknown"
    eta = study.get("eta_s")
    return "measuring the rate…" if eta is None else _duration(eta)


def _tabs(studies: Sequence[Mapping[str, Any]]) -> str:
    buttons = "".join(
        f'<button type="button" class="vmt-tab" data-study="{_e(s["study"])}">{_e(s["study"])} '
        f'<small>{_e(s.get("state", ""))}</small></button>' for s in studies
    )
    return f'<div class="vmt-tabs" role="tablist">{buttons}</div>'


def _study_html(study: Mapping[str, Any], now: float) -> str:
    state = str(study.get("state", "unknown"))
    css_state = state if state in ("running", "finished", "failed", "interrupted") else "unknown"
    end = now if state == "running" else study["updated"]
    parts = [
        f'<section class="vmt-study" data-study="{_e(study["study"])}" data-state="{_e(state)}">',
        f'<h2>Study {_e(study["study"])}'
        f'<span class="vmt-state vmt-state-{css_state}">{_e(state)}</span></h2>',
        f'<div class="meta">store <code>{_e(study.get("store", ""))}</code> · started '
        f'{_e(_stamp(study["started"]))} · elapsed {_e(_duration(end - study["started"]))} · '
        f'last update {_e(_stamp(study["updated"]))} · {int(study.get("messages", 0))} events</div>',
        f'<div class="meta">estimated time to finish: <b class="vmt-eta">{_e(_eta(study))}</b></div>',
        "<table class=\"vmt-stages\"><thead><tr><th>stage</th><th>what</th><th>progress</th>"
        "<th>done / total</th><th>failed</th><th>tasks / min</th></tr></thead><tbody>",
    ]
    for name, stage in study["stages"].items():
        pct = 100.0 * float(stage.get("fraction", 0.0))
        complete = " complete" if stage["total"] and stage["done"] >= stage["total"] else ""
        failed = int(stage["failed"])
        failed_html = f'<span class="vmt-failed">{failed}</span>' if failed else "0"
        parts.append(
            f'<tr data-stage="{_e(name)}"><td><b>{_e(name)}</b></td>'
            f'<td>{_e(STAGE_LABELS.get(name, ""))}</td>'
            f'<td><div class="vmt-bar" title="{pct:.0f}%"><div class="done{complete}" '
            f'style="width: {pct:.1f}%"></div></div></td>'
            f'<td class="vmt-num">{int(stage["done"])} / {int(stage["total"])}</td>'
            f"<td class=\"vmt-num\">{failed_html}</td>"
            f'<td class="vmt-num">{_e(_fmt(stage.get("rate_per_min")))}</td></tr>'
        )
    parts.append("</tbody></table>")
    rows = flatten_latest(dict(sorted(study.get("values", {}).items())))
    if rows:
        parts.append('<table class="vmt-values"><thead><tr><th>latest descriptor / M-factor'
                     "</th><th>value</th></tr></thead><tbody>")
        parts.extend(
            f'<tr><td>{_e(k)}</td><td class="vmt-num">{_e(_fmt(v))}</td></tr>' for k, v in rows
        )
        parts.append("</tbody></table>")
    else:
        parts.append('<div class="vmt-empty">no descriptor or M-factor values yet</div>')
    event = flatten_latest(study.get("latest", {}))
    if event:
        parts.append('<div class="vmt-event">last event: ' + ", ".join(
            f"{_e(k)}=<code>{_e(_fmt(v))}</code>" for k, v in event) + "</div>")
    failures = study.get("failures") or [
        {"time": None, "stage": "", "key": "", "error": e} for e in study.get("errors") or []]
    if failures:
        parts.append(f'<div><b>failures ({study.get("failed", len(failures))})</b></div>'
                     '<table class="vmt-failures"><thead><tr><th>time</th><th>stage</th><th>task</th>'
                     "<th>reason</th></tr></thead><tbody>")
        parts.extend(
            f'<tr><td>{_e(_stamp(f["time"]) if f.get("time") else "")}</td><td>{_e(f.get("stage", ""))}</td>'
            f'<td><code>{_e(f.get("key", ""))}</code></td><td class="vmt-errors">{_e(f.get("error", ""))}</td></tr>'
            for f in failures
        )
        parts.append("</tbody></table>")
    parts.append("</section>")
    return "\n".join(parts)


def render_studies(studies: Sequence[Mapping[str, Any]], *, now: float | None = None) -> str:
    """HTML fragment (no ``<html>``) showing every study summary.

    Parameters
    ----------
    studies : sequence of dict
        Summaries from :func:`vmt_dask.dashboard.progress.summarize_events`.
    now : float, optional
        Current unix time for the elapsed time of running studies.
    """
    now = _time.time() if now is None else float(now)
    if not studies:
        legend = "".join(
            f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in STAGE_LABELS.items()
        )
        return (
            '<div class="vmt-studies"><p class="vmt-empty">No study has reported progress on '
            "this scheduler yet. Start one with <code>vmt study run</code> or from the "
            f"notebook; its stages will show here:</p><ul>{legend}</ul></div>"
        )
    return ('<div class="vmt-studies">' + _tabs(studies)
            + "\n".join(_study_html(s, now) for s in studies) + "</div>")


def render_page(studies: Sequence[Mapping[str, Any]], *, refresh_ms: int = 2000,
                now: float | None = None) -> str:
    """Complete HTML page: navigation back to the Dask dashboard, the studies, auto-refresh."""
    if isinstance(refresh_ms, bool) or not isinstance(refresh_ms, int):
        raise TypeError(f"refresh_ms must be an int, got {refresh_ms!r}")
    if refresh_ms < 100:
        raise ValueError(f"refresh_ms must be >= 100, got {refresh_ms!r}")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"/>"
        "<title>VMT studies · Dask</title>"
        '<link rel="shortcut icon" href="../statics/images/favicon.ico"/>'
        f"<style>{_NAV_STYLE}{STYLE}</style></head><body>"
        '<nav class="vmt-nav"><a href="../status">Dask status</a><a href="../workers">Workers</a>'
        '<a href="../tasks">Tasks</a><a class="current" href="studies">VMT studies</a>'
        '<a href="api/studies">JSON</a></nav>'
        f'<main><div id="vmt-studies">{render_studies(studies, now=now)}</div>'
        '<div class="vmt-science"><h3>Science so far</h3>'
        '<div class="vmt-legend">gradient-step lines: ' + "".join(
            f'<span style="color:{c}">{_e(q)}</span>' for q, c in FUNCTION_COLOURS.items())
        + ' · shaded: the paper\'s Section 3.2 range</div><div id="vmt-science"></div></div></main>'
        '<script src="../static/js/bokeh.min.js"></script>'
        f"<script>{_SCRIPT % refresh_ms}</script></body></html>"
    )
