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

from ..domain import STUDY_PHASES, phase_label
from ..errors import InputError
from ..paper import GRID as PAPER_GRID
from ..paper import TABLE2, TABLE5
from ..paper import VOXEL_SIZE_UM as PAPER_VOXEL_UM
from ..storage import atomic_path, write_file_atomic
from . import figures as F

__all__ = ["Report", "write_report", "calibrated_volumes", "calibrated_descriptors", "grid_note",
           "CALIBRATED_NAMES"]

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
    svgs : dict of str to str
        Figure name to SVG path (the same figures; the HTML embeds these).
    tables : dict of str to str
        ``"csv"``/``"markdown"`` to the regression table files.
    notes : list of str
        Figures left out and why, exclusions, fit warnings.
    table : RegressionTable or None
        The fitted table (None if nothing could be fitted).
    """

    html: str
    figures: dict[str, str] = field(default_factory=dict)
    svgs: dict[str, str] = field(default_factory=dict)
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


def calibrated_descriptors(volumes: Mapping[str, np.ndarray], *, voxel_size: float = 0.2,
                           axis: int = 2) -> dict[str, dict[str, float]]:
    """Descriptors and M-factors of label volumes, keyed like paper Table 2.

    Parameters
    ----------
    volumes : mapping of str to ndarray of uint8, shape (nx, ny, nz)
        Name to labels (0 = pore, 1 = SE, 2 = AM), e.g. :func:`calibrated_volumes`.
    voxel_size : float
        Voxel edge in micrometres.
    axis : int
        Transport direction (default z).

    Returns
    -------
    dict of str to dict of str to float
        Name to ``{"<quantity>_<phase>": value}`` for every quantity of
        :data:`vmt_dask.paper.TABLE2` (a phase that does not percolate gives NaN M-factor
        and tortuosity).
    """
    from ..conductivity import m_factor
    from ..descriptors import describe

    out = {}
    for name, labels in volumes.items():
        row: dict[str, float] = {}
        for phase in STUDY_PHASES:
            try:
                d = describe(labels, phase=phase, voxel_size=voxel_size, axis=axis)
            except InputError:  # phase absent from a tiny grid
                d = {}
            for key, value in d.items():
                row[f"{key}_{phase}"] = float(value)
            row[f"m_factor_{phase}"] = float(m_factor(labels == phase_label(phase), axis=axis).m_factor)
        out[name] = row
    return out


def grid_note(shape, voxel_size: float) -> str | None:
    """A plain sentence when the study's grid differs from the paper's 401^3 at 0.2 µm, else None."""
    if shape is None or len(shape) != 3:
        return None
    shape = tuple(int(s) for s in shape)
    if shape == (PAPER_GRID,) * 3 and abs(float(voxel_size) - PAPER_VOXEL_UM) < 1e-9:
        return None
    edge = " × ".join(f"{s * voxel_size:.1f}" for s in shape)
    paper_edge = PAPER_GRID * PAPER_VOXEL_UM
    return (
        f"This study's structures are {' × '.join(map(str, shape))} voxels of {voxel_size:g} µm "
        f"({edge} µm); the paper's are {PAPER_GRID}³ voxels of {PAPER_VOXEL_UM:g} µm "
        f"({paper_edge:.1f} µm per edge). On a smaller window the model's smoothest fields "
        "(correlation lengths up to ~50 voxels for BM01) are seen over only a few correlation "
        "lengths: volume fractions and specific surface areas stay close to the paper's, while "
        "tortuosities, constrictivities and M-factors scatter more between structures and are "
        "biased (the phase may not even percolate), so distributions and regression coefficients are "
        "not directly comparable with the paper's. See docs/fidelity.md for the finite-size table."
    )


def _img(path: str) -> str:
    kind = "svg+xml" if path.endswith(".svg") else "png"
    with open(path, "rb") as fh:
        return f"data:image/{kind};base64," + base64.b64encode(fh.read()).decode("ascii")


def _cell(value, fmt: str = "{:.3g}") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    return fmt.format(value)


def _paper_regression_html(table) -> str:
    """Our coefficients, MAPE and R^2 beside paper Table 5's, per phase and model."""
    ours = {(r["phase"], r["model"]): r for r in table.records()}
    parts = []
    for phase in table.phases:
        n_coef = max((len(TABLE5[(phase, m)].coefficients) for m in table.models if (phase, m) in TABLE5),
                     default=5)
        head = "".join(f"<th>c{i + 1} ours</th><th>c{i + 1} paper</th>" for i in range(n_coef))
        rows = []
        for model in table.models:
            rec, ref = ours.get((phase, model)), TABLE5.get((phase, model))
            cells = []
            for i in range(n_coef):
                c_ours = rec.get(f"c{i + 1}") if rec else None
                c_paper = ref.coefficients[i] if ref and i < len(ref.coefficients) else None
                cells.append(f"<td>{_cell(c_ours)}</td><td class='paper'>{_cell(c_paper)}</td>")
            mape = rec.get("mape_percent") if rec else None
            r2 = rec.get("r2") if rec else None
            cells.append(f"<td>{_cell(mape, '{:.2f}%')}</td>"
                         f"<td class='paper'>{_cell(ref.mape * 100 if ref else None, '{:.2f}%')}</td>")
            cells.append(f"<td>{_cell(r2, '{:.3f}')}</td><td class='paper'>{_cell(ref.r2 if ref else None, '{:.3f}')}</td>")
            rows.append(f"<tr><th>{html.escape(model)}</th>{''.join(cells)}</tr>")
        parts.append(
            f"<h3>{html.escape(phase)}</h3><table class='reg cmp'><tr><th>model</th>{head}"
            "<th>MAPE ours</th><th>MAPE paper</th><th>R² ours</th><th>R² paper</th></tr>"
            + "".join(rows) + "</table>")
    return "".join(parts)


def _paper_descriptor_html(ours: Mapping[str, Mapping[str, float]], shape, voxel_size: float) -> str:
    """Descriptors of our BM01/BM03/BM10 realizations beside paper Table 2."""
    quantities = list(next(iter(TABLE2.values())))
    head = "".join(f"<th colspan='3'>{html.escape(q)}</th>" for q in quantities)
    sub = "".join("<th>ours</th><th>paper</th><th>Δ</th>" for _ in quantities)
    rows = []
    for name, values in ours.items():
        ref = TABLE2.get(name, {})
        cells = []
        for q in quantities:
            a, b = values.get(q), ref.get(q)
            delta = a - b if a is not None and b is not None and np.isfinite(a) else None
            cells.append(f"<td>{_cell(a)}</td><td class='paper'>{_cell(b)}</td><td>{_cell(delta, '{:+.2f}')}</td>")
        rows.append(f"<tr><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
    grid = " × ".join(str(int(s)) for s in shape) if shape is not None else "?"
    return (f"<p>One realization of each calibrated parameter vector (paper Table 1) on this study's grid "
            f"({html.escape(grid)} at {voxel_size:g} µm), described and simulated as the study does; paper "
            "values are for the measured image data (Table 2, 401³ at 0.2 µm).</p>"
            f"<div class='wide'><table class='reg cmp'><tr><th></th>{head}</tr><tr><th>data set</th>{sub}</tr>"
            + "".join(rows) + "</table></div>")


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
table.cmp td.paper{background:#fff6dc} .wide{overflow-x:auto}
.grid-note{background:#fff3cd;border:1px solid #e0c36b;padding:0.6em 0.8em;border-radius:4px}
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
    describe_calibrated: bool = True,
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
    describe_calibrated : bool, default True
        Describe and simulate those realizations and show them beside paper Table 2
        (seconds at 128^3; set False to skip).
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
        path = os.path.join(figdir, f"{name}.png")
        svg = os.path.join(figdir, f"{name}.svg")
        with atomic_path(path) as tmp:
            F.save_figure(fig, tmp)
        with atomic_path(svg) as tmp:
            F.save_svg(fig, tmp)
        rep.figures[name], rep.svgs[name] = path, svg
        sections.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(caption)}</p>"
                        f"<img alt='{html.escape(name)}' src='{_img(svg)}'>")

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
        write_file_atomic(csv_path, table.to_csv().encode("utf-8"))
        write_file_atomic(md_path, ("# M-factor regression (paper Table 5)\n\n" + table.to_markdown()).encode("utf-8"))
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
            "<p>Also as <code>regression.csv</code> and <code>regression.md</code> beside this page.</p>"
            "<h2>Ours beside paper Table 5</h2><p>Coefficients c1..c5 (Eqs. 18-21), MAPE (Eq. 23) and "
            "R² (Eq. 24) on the test set; paper columns shaded.</p>" + _paper_regression_html(table))
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
    if source:
        add_figure("curves", "CPSD and SMIP curves (paper Section 2.3)",
                   "The continuous phase size distribution (solid) and the simulated mercury intrusion "
                   "(dashed) of the interpolation points' own structures nearest to the middle of each pair, as "
                   "the study stored them (vmt_dask.study.read_curves); r_max and r_min are the largest radii "
                   "where they still reach ε/2 (dotted), β = (r_min / r_max)².",
                   lambda: F.curves_figure(_point_curves(source, results)))

    voxel = float(results.attrs.get("voxel_size_um", 0.2) or 0.2)
    grid = results.attrs.get("shape")
    calibrated: dict[str, np.ndarray] = {}

    def calibrated_vols() -> Mapping[str, np.ndarray]:
        if volumes is not None:
            return volumes
        if not calibrated:
            if slice_size is None:
                raise ValueError("slices disabled")
            shape = tuple(min(int(s), slice_size) for s in grid) if grid is not None and len(grid) == 3 \
                else (slice_size,) * 3
            calibrated.update(calibrated_volumes(shape, seed=slice_seed, voxel_size=voxel))
        return calibrated

    add_figure("calibrated_slices", "Calibrated structures BM01, BM03, BM10 (like paper Fig. 1)",
               "Mid-plane slices of model realizations with the calibrated parameters of paper Table 1: "
               "pore black, SE green, AM orange; z is the pressing direction.",
               lambda: F.slices_figure(calibrated_vols(), voxel_size=voxel))
    if describe_calibrated:
        try:
            vols = calibrated_vols()
            shape = next(iter(vols.values())).shape
            sections.append("<h2>Calibrated structures beside paper Table 2</h2>"
                            + _paper_descriptor_html(calibrated_descriptors(vols, voxel_size=voxel), shape, voxel))
        except (ValueError, InputError) as exc:
            rep.notes.append(f"calibrated descriptors: not computed ({exc})")
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
    note = grid_note(grid, voxel)
    note_html = f"<p class='grid-note'><b>Grid:</b> {html.escape(note)}</p>" if note else ""
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(' · '.join(meta))}</p>{note_html}"
        + "".join(sections) + spec_html + "</body></html>\n"
    )
    write_file_atomic(rep.html, page.encode("utf-8"))
    return rep


def _point_curves(store: str, results, per_pair: int = 1) -> dict[str, list]:
    """``{phase: [(label, curves dataset)]}`` of the point structures (h = 0) nearest to t = 1/2
    of each pair in a study store (:func:`vmt_dask.study.read_curves`)."""
    from ..study import read_curves

    h = np.asarray(results["h"].values, dtype=float)
    fn = np.asarray(results["function"].values).astype(str)
    idx = np.asarray(results["structure"].values)
    pairs = np.asarray(results["pair"].values).astype(str)
    t = np.asarray(results["t"].values, dtype=float)
    picked = []
    for pair in dict.fromkeys(pairs[(h == 0) & (fn == "")]):
        own = np.flatnonzero((h == 0) & (fn == "") & (pairs == pair))
        order = own[np.argsort(np.abs(t[own] - 0.5), kind="stable")][:per_pair]
        picked += [(int(idx[i]), f"{pair} t={t[i]:.2f}") for i in order]
    return {ph: [(label, read_curves(store, s, ph)) for s, label in picked] for ph in STUDY_PHASES}


def _eq(model: str) -> int:
    from ..regression import get_model

    return get_model(model).equation


def _formula(model: str) -> str:
    from ..regression import get_model

    return get_model(model).formula()
