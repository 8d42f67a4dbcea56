"""Figures of the study report (paper Figs. 1 and 5-7), drawn with matplotlib's Agg canvas.

Every function returns a :class:`matplotlib.figure.Figure` built without
:mod:`matplotlib.pyplot`, so no global figure state or interactive backend is
touched; :func:`save_figure` renders it to PNG through ``FigureCanvasAgg``.
"""
from __future__ import annotations

import os
import textwrap
from typing import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..paper import SECTION_3_2_RANGES
from ..domain import STUDY_PHASES

__all__ = [
    "PHASE_COLORS",
    "LABEL_COLORS",
    "violin_figure",
    "parity_figure",
    "gradient_step_figure",
    "slices_figure",
    "curves_figure",
    "save_figure",
]

#: Colours of AM and SE in all plots.
PHASE_COLORS = {"AM": "#d95f02", "SE": "#1b9e77"}
#: Colours of the labels 0 = pore, 1 = SE, 2 = AM in slice images.
LABEL_COLORS = ("#202020", PHASE_COLORS["SE"], PHASE_COLORS["AM"])

_VIOLINS = (
    ("volume_fraction", "(a) volume fraction ε", ""),
    ("tortuosity_mean", "(b) mean geodesic tortuosity μ(τ)", ""),
    ("constrictivity", "(c) constrictivity β", ""),
    ("specific_surface_area", "(d) specific surface area S", "µm⁻¹"),
    ("m_factor", "(e) M-factor", ""),
)


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 110) -> str:
    """Render *fig* to a PNG file and return its path."""
    FigureCanvasAgg(fig)
    fig.savefig(os.fspath(path), dpi=dpi, format="png")
    return os.fspath(path)


def save_svg(fig: Figure, path: str | os.PathLike) -> str:
    """Render *fig* to an SVG file (text kept as text where fonts allow) and return its path."""
    FigureCanvasAgg(fig)
    fig.savefig(os.fspath(path), format="svg", metadata={"Date": None})
    return os.fspath(path)


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 40)), ha="center", va="center",
            transform=ax.transAxes, fontsize=8, color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


def violin_figure(results, *, phases: tuple[str, ...] = STUDY_PHASES, paper_ranges: bool = True) -> Figure:
    """Violin plots of descriptor and M-factor distributions per phase (like paper Fig. 5).

    Parameters
    ----------
    results : xarray.Dataset
        Study results (``docs/results-schema.md``).  NaN values (a phase that
        does not percolate has NaN tortuosity; values not yet computed) are
        left out and counted in the panel's x labels.
    paper_ranges : bool, default True
        Mark the ranges the paper reports for its 495 structures (Section 3.2,
        :data:`vmt_dask.paper.SECTION_3_2_RANGES`) as a bar beside each violin, with
        the share of our structures inside it in the x label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(15, 3.6), layout="constrained")
    axes = fig.subplots(1, len(_VIOLINS))
    for ax, (stem, title, unit) in zip(axes, _VIOLINS):
        data, labels, colors = [], [], []
        for i, phase in enumerate(phases):
            name = f"{stem}_{phase}"
            if name not in results.variables:
                labels.append(f"{phase}\n(absent)")
                data.append(None)
                continue
            v = np.asarray(results[name].values, dtype=float).ravel()
            ok = v[np.isfinite(v)]
            missing = v.size - ok.size
            label = f"{phase}\nn={ok.size}" + (f"\n{missing} NaN" if missing else "")
            rng = SECTION_3_2_RANGES.get(name) if paper_ranges else None
            if rng is not None:
                x = i + 1 + 0.33
                ax.plot([x, x], [rng.low, rng.high], color="#b8860b", lw=5, alpha=0.6, solid_capstyle="butt")
                if ok.size:
                    inside = np.mean((ok >= rng.low) & (ok <= rng.high))
                    label += f"\n{100 * inside:.0f}% in paper"
            labels.append(label)
            data.append(ok)
            colors.append(PHASE_COLORS.get(phase, "0.5"))
        pos = [i + 1 for i, d in enumerate(data) if d is not None and d.size > 0]
        vals = [d for d in data if d is not None and d.size > 0]
        if not vals:
            _no_data(ax, "no values")
        else:
            singular = [np.ptp(v) == 0 for v in vals]
            if all(singular):
                for p, v in zip(pos, vals):
                    ax.plot([p], [v[0]], "o", color=PHASE_COLORS[phases[p - 1]])
            else:
                parts = ax.violinplot([v if np.ptp(v) > 0 else v + np.r_[0, 1e-12 * np.ones(v.size - 1)]
                                       for v in vals], positions=pos, showmedians=True, showextrema=True)
                for body, p in zip(parts["bodies"], pos):
                    body.set_facecolor(PHASE_COLORS.get(phases[p - 1], "0.5"))
                    body.set_edgecolor("black")
                    body.set_alpha(0.7)
            ax.set_xticks(range(1, len(phases) + 1), labels)
            ax.set_xlim(0.4, len(phases) + 0.6)
        ax.set_title(title, fontsize=10)
        if unit:
            ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
    title = f"Distributions over {results.sizes.get('structure', 0)} structures"
    if paper_ranges:
        title += " (gold bars: the paper's ranges over its 495 structures, Section 3.2)"
    fig.suptitle(title, fontsize=11)
    return fig


def parity_figure(table, phase: str) -> Figure:
    """Predicted over simulated M-factors on the test set (like paper Figs. 6-7).

    Parameters
    ----------
    table : vmt_dask.regression.RegressionTable
        Fitted models (:func:`vmt_dask.regression.fit_all`).
    phase : {"AM", "SE"}
        Which phase's four models to show.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per model with the line ``M_hat = M`` (red), MAPE and R^2;
        a skipped model's panel states why.
    """
    from ..regression import get_model

    if phase not in table.phases:
        raise ValueError(f"phase must be one of {list(table.phases)}, got {phase!r}")
    n = len(table.models)
    ncols = 2 if n > 1 else 1
    nrows = (n + ncols - 1) // ncols
    fig = Figure(figsize=(4.2 * ncols, 4.0 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    letters = "abcdefgh"
    for k, (ax, model) in enumerate(zip(axes, table.models)):
        mdl = get_model(model)
        ax.set_title(f"({letters[k]}) {model}: M = {mdl.formula()}", fontsize=9)
        res = table.fits.get((phase, model))
        if res is None:
            _no_data(ax, f"not fitted: {table.skipped.get((phase, model), '')}")
            continue
        obs, pred = res.observed_test, res.predicted_test
        ax.scatter(res.observed_train, res.predicted_train, s=8, color="0.75", label=f"train (n={res.n_train})")
        ax.scatter(obs, pred, s=14, color=PHASE_COLORS.get(phase, "C0"), edgecolor="black", linewidth=0.3,
                   label=f"test (n={res.n_test})")
        allv = np.concatenate([obs, pred, res.observed_train, res.predicted_train])
        lo, hi = float(np.min(allv)), float(np.max(allv))
        pad = 0.05 * (hi - lo if hi > lo else max(abs(hi), 1e-3))
        lim = (lo - pad, hi + pad)
        ax.plot(lim, lim, color="red", linewidth=1.2, label="M̂ = M")
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal")
        r2_text = "n/a" if not np.isfinite(res.r2) else f"{res.r2:.3f}"
        flag = "" if res.converged else "\n(optimizer did not converge)"
        ax.text(0.04, 0.96, f"MAPE = {res.mape:.2f} %\nR² = {r2_text}{flag}", transform=ax.transAxes,
                va="top", fontsize=9, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"})
        ax.set_xlabel(f"simulated M ({phase})")
        ax.set_ylabel(f"predicted M̂ ({phase})")
        ax.legend(loc="lower right", fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"Predicted vs simulated M-factor, {phase} (test set)", fontsize=11)
    return fig


def gradient_step_figure(results, *, functions: tuple[str, ...] | None = None) -> Figure:
    """Descriptor value over the gradient step h, one line per interpolated point.

    For each descriptor function f stepped along in the study, the value of
    f at the point (h = 0) and at its steps theta + h grad f; a line per
    point.  Values rising with h show the gradient steps do what they should.

    Parameters
    ----------
    results : xarray.Dataset
        Study results with the provenance coordinates ``function``, ``h``
        and ``point`` on the ``structure`` dimension.
    functions : tuple of str, optional
        Functions to show; default every non-empty value of ``function``
        that is a variable of *results*.

    Raises
    ------
    ValueError
        If a provenance coordinate is missing.
    """
    for name in ("function", "h", "point"):
        if name not in results.coords and name not in results.variables:
            raise ValueError(f"results lack the provenance coordinate {name!r} needed for the gradient-step plot")
    # tolist(): works for object, fixed-width and numpy StringDType arrays alike
    func = np.array([str(x) for x in np.asarray(results["function"].values).tolist()], dtype=object)
    h = np.asarray(results["h"].values, dtype=float)
    point = np.asarray(results["point"].values)
    if functions is None:
        functions = tuple(f for f in dict.fromkeys(func) if f and f in results.variables)
    n = max(len(functions), 1)
    ncols = min(4, n)
    nrows = (n + ncols - 1) // ncols
    fig = Figure(figsize=(3.6 * ncols, 3.0 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    if not functions:
        _no_data(axes[0], "no gradient steps in the results")
    points = np.unique(point)
    cmap = [f"C{i % 10}" for i in range(len(points))]
    for ax, f in zip(axes, functions):
        val = np.asarray(results[f].values, dtype=float)
        for c, p in zip(cmap, points):
            sel = (point == p) & ((func == f) | (func == ""))
            if not sel.any():
                continue
            order = np.argsort(h[sel])
            hx, vy = h[sel][order], val[sel][order]
            ax.plot(hx, vy, "o-", color=c, markersize=3, linewidth=0.8, alpha=0.8)
        ax.axvline(0, color="0.6", linewidth=0.6)
        ax.set_title(f, fontsize=9)
        ax.set_xlabel("step h")
        ax.grid(alpha=0.3)
    for ax in axes[len(functions):] if functions else axes[1:]:
        ax.set_visible(False)
    fig.suptitle(f"Descriptors along the gradient steps ({len(points)} points, one line each)", fontsize=11)
    return fig


def slices_figure(volumes: Mapping[str, np.ndarray], *, voxel_size: float = 0.2) -> Figure:
    """Mid-plane slices of label volumes (like paper Fig. 1).

    Parameters
    ----------
    volumes : mapping of str to ndarray
        Name (e.g. ``"BM01"``) to uint8 label volume (x, y, z) with 0 = pore,
        1 = SE, 2 = AM.
    voxel_size : float, default 0.2
        Voxel edge in micrometres, for the axis scales.

    Returns
    -------
    matplotlib.figure.Figure
        Per volume: the x-y plane at mid z and the x-z plane at mid y (z, the
        pressing direction, upwards).
    """
    if not volumes:
        raise ValueError("volumes is empty")
    cmap = ListedColormap(LABEL_COLORS)
    fig = Figure(figsize=(3.4 * len(volumes), 6.6), layout="constrained")
    axes = fig.subplots(2, len(volumes), squeeze=False)
    for j, (name, vol) in enumerate(volumes.items()):
        v = np.asarray(vol)
        if v.ndim != 3:
            raise ValueError(f"volume {name!r} must be 3-D, got shape {v.shape}")
        nx, ny, nz = v.shape
        ext_xy = (0, nx * voxel_size, 0, ny * voxel_size)
        ext_xz = (0, nx * voxel_size, 0, nz * voxel_size)
        fr = [float(np.mean(v == k)) for k in (0, 1, 2)]
        axes[0, j].imshow(v[:, :, nz // 2].T, origin="lower", cmap=cmap, vmin=-0.5, vmax=2.5,
                          interpolation="nearest", extent=ext_xy)
        axes[0, j].set_title(f"{name}: x-y at z = {nz // 2}\npore {fr[0]:.2f}, SE {fr[1]:.2f}, AM {fr[2]:.2f}",
                             fontsize=9)
        axes[0, j].set_xlabel("x [µm]")
        axes[0, j].set_ylabel("y [µm]")
        axes[1, j].imshow(v[:, ny // 2, :].T, origin="lower", cmap=cmap, vmin=-0.5, vmax=2.5,
                          interpolation="nearest", extent=ext_xz)
        axes[1, j].set_title(f"{name}: x-z at y = {ny // 2}", fontsize=9)
        axes[1, j].set_xlabel("x [µm]")
        axes[1, j].set_ylabel("z [µm] (pressing)")
    fig.legend(handles=[Patch(color=c, label=l) for c, l in zip(LABEL_COLORS, ("pore", "SE", "AM"))],
               loc="outside lower center", ncols=3, fontsize=9)
    return fig


def curves_figure(curves: Mapping[str, list]) -> Figure:
    """CPSD (solid) and SMIP (dashed) curves per phase, one colour per structure (paper Sec. 2.3).

    *curves* maps a phase name to a list of ``(label, dataset)`` with the datasets of
    :func:`vmt_dask.study.read_curves` (``radius`` in micrometres, ``cpsd``/``smip`` as volume
    fractions, attributes ``volume_fraction``, ``r_min``, ``r_max``, ``constrictivity``);
    ``eps / 2`` is drawn for each structure, r_min and r_max marked where the curves cross it.
    """
    phases = [ph for ph in STUDY_PHASES if ph in curves] or list(curves)
    if not phases or not any(curves[ph] for ph in phases):
        raise ValueError("no curves to draw")
    fig = Figure(figsize=(5.2 * len(phases), 3.8), layout="constrained")
    axes = fig.subplots(1, len(phases), squeeze=False)[0]
    palette = ("#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
    for ax, ph in zip(axes, phases):
        items = curves[ph]
        if not items:
            _no_data(ax, f"{ph}: no curves stored")
            continue
        for i, (label, ds) in enumerate(items):
            color = palette[i % len(palette)]
            r = np.asarray(ds["radius"].values)
            if r.size == 0:
                continue
            # right-continuous steps in r: the value at r[j] holds on (r[j-1], r[j]]
            ax.step(r, ds["cpsd"].values, where="pre", color=color, lw=1.4,
                    label=f"{label}: β = {ds.attrs['constrictivity']:.2f}")
            ax.step(r, ds["smip"].values, where="pre", color=color, lw=1.2, ls="--")
            half = 0.5 * float(ds.attrs["volume_fraction"])
            ax.axhline(half, color=color, lw=0.6, ls=":")
            for key, mark in (("r_max", "o"), ("r_min", "s")):
                x = float(ds.attrs[key])
                if np.isfinite(x) and x > 0:
                    ax.plot([x], [half], marker=mark, color=color, ms=5, mfc="white")
        ax.set_xlabel("radius r (µm)")
        ax.set_ylabel("volume fraction of the window")
        ax.set_title(f"{ph}: CPSD (solid), SMIP (dashed); ○ r_max, □ r_min at ε/2", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="upper right")
    return fig
