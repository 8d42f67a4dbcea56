"""The study report: PNG figures and one self-contained HTML page.

:func:`write_report` draws every figure of :mod:`vmt_dask.report.figures`
from a results Dataset, fits the regression table if none is given, and
writes ``report.html`` (images embedded as base64, so the file can be mailed
or opened anywhere), the PNGs under ``figures/`` and the table as CSV and
Markdown.  A figure that cannot be drawn from the data at hand (too few
structures to fit, no provenance coordinates, no model package) is replaced
by a note saying why; the report itself is always written.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import logging
import os
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..errors import InputError
from . import figures as F

__all__ = ["Report", "write_report", "calibrated_volumes", "CALIBRATED_NAMES"]

log = logging.getLogger(__name__)

#: The three calibrated structures shown as slices (paper Table 1).
CALIBRATED_NAMES = ("BM01", "BM03", "BM10")


@dataclass
class Report:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    html : str
        Path of the self-contained HTML report.
    figures : dict of str to str
        Figure name to PNG path.
    tables : dict of str to str
        ``"csv"``/``"markdown"`` to the regression table files.
    notes : list of str
        Figures left out and why, exclusions, fit warnings.
    table : RegressionTable or None
        The fitted table (None if nothing could be fitted).
    """

    html: str
    figures: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    table: object | None = None


def calibrated_volumes(shape: tuple[int, int, int] = (128, 128, 128), *, seed: int = 1,
                       voxel_size: float = 0.2) -> dict[str, np.ndarray]:
    """Realizations of BM01, BM03 and BM10 (paper Table 1) for the slice figure.

    Parameters
    ----------
    shape : (int, int, int), default (128, 128, 128)
        Grid in voxels.
    seed : int, default 1
        Seed of the realizations (the same for all three).
    voxel_size : float, default 0.2
        Voxel edge in micrometres.

    Returns
    -------
    dict of str to ndarray
        Name to uint8 labels (0 = pore, 1 = SE, 2 = AM).
    """
    from ..model import CALIBRATED, realize

    return {name: realize(CALIBRATED[name], shape, seed=seed, voxel_size=voxel_size)
            for name in CALIBRATED_NAMES}


def _img(path: str) -> str:
    with open(path, "rb") as fh:
        return "data:image/png;base64," + base64.b64encode(fh.read()).decode("ascii")


def _table_html(table) -> str:
    header, rows = table._wide_rows()
    phases = table.phases
    per = (len(header) - 1) // max(len(phases), 1)
    top = "<tr><th></th>" + "".join(f'<th colspan="{per}">{html.escape(p)}</th>' for p in phases) + "</tr>"
    sub = "<tr><th>model</th>" + "".join(f"<th>{html.escape(h.split(' ', 1)[1])}</th>" for h in header[1:]) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="reg">{top}{sub}{body}</table>'


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
img{max-width:100%;border:1px solid #eee}
table.reg{border-collapse:collapse;font-size:0.85em} table.reg td,table.reg th{border:1px solid #ccc;
padding:3px 6px;text-align:right} table.reg th{background:#f4f4f4}
.note{color:#8a4b00} pre{background:#f7f7f7;padding:0.8em;overflow-x:auto;font-size:0.8em}
ul.notes li{font-size:0.85em}
"""


def write_report(
    results,
    out_dir: str | os.PathLike,
    *,
    table=None,
    seed: int | None = None,
    volumes: Mapping[str, np.ndarray] | None = None,
    slice_size: int | None = 128,
    slice_seed: int = 1,
    title: str | None = None,
    source: str | None = None,
) -> Report:
    """Write the study report into *out_dir*.

    Parameters
    ----------
    results : xarray.Dataset
        Study results (``docs/results-schema.md``).
    out_dir : str or path
        Output directory (created).  Receives ``report.html``,
        ``figures/*.png``, ``regression.csv`` and ``regression.md``.
    table : RegressionTable, optional
        Fitted models; default ``fit_all(results, seed=seed)``.
    seed : int, optional
        Split seed when *table* is not given (default 0).
    volumes : mapping of str to ndarray, optional
        Label volumes for the slice figure; default
        :func:`calibrated_volumes` of BM01/BM03/BM10 on a grid of at most
        *slice_size* per axis (the study's grid if smaller) at the study's
        voxel size.
    slice_size : int or None, default 128
        Largest edge of the realizations for the slice figure; None leaves
        the slice figure out (unless *volumes* is given).
    slice_seed : int, default 1
        Seed of those realizations.
    title : str, optional
        Page title; default the results' ``title`` attribute.
    source : str, optional
        Where the results came from (shown in the report).

    Returns
    -------
    Report
    """
    from ..regression import DEFAULT_SEED, fit_all

    out = os.fspath(out_dir)
    figdir = os.path.join(out, "figures")
    os.makedirs(figdir, exist_ok=True)
    rep = Report(html=os.path.join(out, "report.html"))
    sections: list[str] = []
    seed = DEFAULT_SEED if seed is None else seed
    n = int(results.sizes.get("structure", 0))

    def add_figure(name: str, heading: str, caption: str, draw) -> None:
        try:
            fig = draw()
        except (ValueError, InputError, ImportError) as exc:
            msg = f"{heading}: not drawn ({exc})"
            rep.notes.append(msg)
            log.warning(msg)
            sections.append(f"<h2>{html.escape(heading)}</h2><p class='note'>{html.escape(msg)}</p>")
            return
        except Exception as exc:  # noqa: BLE001 - one broken figure must not lose the report
            msg = f"{heading}: not drawn ({type(exc).__name__}: {exc})"
            rep.notes.append(msg)
            log.exception("figure %s failed", name)
            sections.append(f"<h2>{html.escape(heading)}</h2><p class='note'>{html.escape(msg)}</p>")
            return
        path = F.save_figure(fig, os.path.join(figdir, f"{name}.png"))
        rep.figures[name] = path
        sections.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(caption)}</p>"
                        f"<img alt='{html.escape(name)}' src='{_img(path)}'>")

    # Regression table
    if table is None:
        try:
            table = fit_all(results, seed=seed)
        except InputError as exc:
            rep.notes.append(f"regression: {exc}")
            table = None
    rep.table = table
    if table is not None:
        csv_path = os.path.join(out, "regression.csv")
        md_path = os.path.join(out, "regression.md")
        with open(csv_path, "w", encoding="utf-8") as fh:
            fh.write(table.to_csv())
        with open(md_path, "w", encoding="utf-8") as fh:
            fh.write("# M-factor regression (paper Table 5)\n\n" + table.to_markdown())
        rep.tables = {"csv": csv_path, "markdown": md_path}
        notes = table.notes()
        rep.notes.extend(notes)
        formulas = "".join(
            f"<li>{m} (Eq. {F_eq}): M = {html.escape(f)}</li>"
            for m, F_eq, f in ((m, _eq(m), _formula(m)) for m in table.models))
        notes_html = ("<p>Notes:</p><ul class='notes'>" + "".join(f"<li>{html.escape(x)}</li>" for x in notes)
                      + "</ul>") if notes else ""
        sections.append(
            "<h2>Regression table (like paper Table 5)</h2>"
            f"{_table_html(table)}<p>{html.escape(table._caption())}</p><ul>{formulas}</ul>{notes_html}"
            "<p>Also as <code>regression.csv</code> and <code>regression.md</code> beside this page.</p>")
        for phase in table.phases:
            add_figure(f"parity_{phase}", f"Predicted vs simulated M-factor, {phase} (like paper Fig. "
                       f"{6 if phase == 'AM' else 7})",
                       "Test structures in colour, training structures in grey; the red line is M̂ = M.",
                       lambda phase=phase: F.parity_figure(table, phase))
    else:
        sections.append("<h2>Regression table</h2><p class='note'>"
                        + html.escape(rep.notes[-1]) + "</p>")

    add_figure("distributions", "Distributions of descriptors and M-factors (like paper Fig. 5)",
               f"Violin plots over the {n} structures of the study, per phase (median and extremes marked).",
               lambda: F.violin_figure(results))
    add_figure("gradient_steps", "Descriptors along the gradient steps",
               "For every descriptor function f: its value at each interpolated point (h = 0) and after the "
               "steps θ + h ∇f, one line per point. Rising lines mean the steps move f as intended.",
               lambda: F.gradient_step_figure(results))

    voxel = float(results.attrs.get("voxel_size_um", 0.2) or 0.2)

    def draw_slices():
        vols = volumes
        if vols is None:
            if slice_size is None:
                raise ValueError("slices disabled")
            grid = results.attrs.get("shape")
            shape = tuple(min(int(s), slice_size) for s in grid) if grid is not None and len(grid) == 3 \
                else (slice_size,) * 3
            vols = calibrated_volumes(shape, seed=slice_seed, voxel_size=voxel)
        return F.slices_figure(vols, voxel_size=voxel)

    add_figure("calibrated_slices", "Calibrated structures BM01, BM03, BM10 (like paper Fig. 1)",
               "Mid-plane slices of model realizations with the calibrated parameters of paper Table 1: "
               "pore black, SE green, AM orange; z is the pressing direction.", draw_slices)

    title = title or str(results.attrs.get("title", "vmt-dask study report"))
    meta = [f"{n} structures"]
    if source:
        meta.insert(0, f"source: {source}")
    if "complete" in results.attrs:
        meta.append("complete" if int(results.attrs["complete"]) else
                    f"INCOMPLETE ({results.attrs.get('records_present')} of "
                    f"{results.attrs.get('records_expected')} records)")
    if "version" in results.attrs:
        meta.append(f"vmt-dask {results.attrs['version']}")
    meta.append(f"generated {_dt.datetime.now().isoformat(timespec='seconds')}")
    spec = results.attrs.get("spec")
    spec_html = f"<h2>Study specification</h2><pre>{html.escape(str(spec))}</pre>" if spec else ""
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(' · '.join(meta))}</p>"
        + "".join(sections) + spec_html + "</body></html>\n"
    )
    with open(rep.html, "w", encoding="utf-8") as fh:
        fh.write(page)
    return rep


def _eq(model: str) -> int:
    from ..regression import get_model

    return get_model(model).equation


def _formula(model: str) -> str:
    from ..regression import get_model

    return get_model(model).formula()
