"""Bokeh figures of a study's science for the study page.

The page embeds one ``bokeh.embed.json_item`` layout per study, built once, with the
BokehJS that the Dask dashboard already serves (``static/js/bokeh.min.js``, so nothing is
fetched from outside the cluster).  Afterwards it only fetches the data of the layout's
``ColumnDataSource`` models (:func:`plot_data`, a few kB) and sets them in the browser, so
the plots fill in as records arrive without rebuilding figures on the scheduler.

Panels:

* distributions: per descriptor, the histograms of AM and SE with the paper's Section 3.2
  ranges shaded (paper Fig. 5);
* M-factor against volume fraction per phase, coloured by the mean geodesic tortuosity;
* gradient steps per phase: the relative change of the function a step was taken along,
  against the step size h scaled by its largest value, one line per (point, function)
  (paper Sec. 2.4).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..domain import STUDY_PHASES
from .science import HISTOGRAM_BINS, PLOTTED_QUANTITIES

__all__ = ["FUNCTION_COLOURS", "build_layout", "layout_json", "plot_data", "source_names"]

_SHADE = {"AM": "#ff7f0e", "SE": "#1f77b4"}
#: Line colour of the gradient steps along each descriptor (the page prints the legend).
FUNCTION_COLOURS = {"volume_fraction": "#2ca02c", "specific_surface_area": "#d62728",
                     "tortuosity_mean": "#9467bd", "constrictivity": "#8c564b"}
_LABEL = {
    "volume_fraction": "volume fraction ε",
    "specific_surface_area": "specific surface area S [1/µm]",
    "tortuosity_mean": "mean geodesic tortuosity μ(τ)",
    "constrictivity": "constrictivity β",
    "m_factor": "M-factor",
}
#: Colour range of the mean geodesic tortuosity in the M-factor plot.
TAU_COLOUR_RANGE = (1.0, 1.3)


def source_names() -> list[str]:
    """Names of the ColumnDataSource models that :func:`plot_data` fills."""
    return ([f"hist-{q}_{ph}" for q in PLOTTED_QUANTITIES for ph in STUDY_PHASES]
            + [f"scatter-{ph}" for ph in STUDY_PHASES] + [f"steps-{ph}" for ph in STUDY_PHASES])


def _edges(q: str) -> list[float]:
    low, high, n = HISTOGRAM_BINS[q]
    width = (high - low) / n
    return [low + i * width for i in range(n + 1)]


def plot_data(science: Mapping[str, Any]) -> dict[str, dict[str, list]]:
    """Column data of every source of :func:`build_layout`, from a science snapshot.

    Parameters
    ----------
    science : dict
        :meth:`vmt_dask.dashboard.science.StudyScience.snapshot`.

    Returns
    -------
    dict
        ``{source name: {column: list}}`` (JSON-ready).
    """
    out: dict[str, dict[str, list]] = {}
    for name, h in science["histograms"].items():
        quantity = name.rpartition("_")[0]
        edges = _edges(quantity)
        out[f"hist-{name}"] = {"left": edges[:-1], "right": edges[1:], "top": list(h["counts"])}
    for ph, pts in science["scatter"].items():
        out[f"scatter-{ph}"] = {"x": list(pts["volume_fraction"]), "y": list(pts["m_factor"]),
                                "tau": list(pts["tortuosity_mean"])}
    steps: dict[str, dict[str, list]] = {ph: {"xs": [], "ys": [], "color": [], "label": []}
                                         for ph in STUDY_PHASES}
    for p, entry in science["points"].items():
        for function, by_h in entry["steps"].items():
            quantity, _, ph = function.rpartition("_")
            base = entry["base"].get(function)
            if ph not in steps or not base or not by_h:  # a relative change needs f(point) != 0
                continue
            hs = sorted([0.0, *map(float, by_h)])
            scale = max(abs(h) for h in hs) or 1.0
            vals = {0.0: base, **{float(h): v for h, v in by_h.items()}}
            steps[ph]["xs"].append([h / scale for h in hs])
            steps[ph]["ys"].append([vals[h] / base - 1.0 for h in hs])
            steps[ph]["color"].append(FUNCTION_COLOURS.get(quantity, "#7f7f7f"))
            steps[ph]["label"].append(f"point {p}: {function}")
    out.update({f"steps-{ph}": v for ph, v in steps.items()})
    return out


def build_layout(science: Mapping[str, Any] | None = None):
    """The Bokeh layout of the study page's plots (sources named as :func:`source_names`).

    With ``science`` the sources start filled; otherwise empty, for :func:`plot_data` to fill.
    """
    from bokeh.layouts import column, gridplot, row
    from bokeh.models import BoxAnnotation, ColorBar, ColumnDataSource, LinearColorMapper
    from bokeh.palettes import Viridis256
    from bokeh.plotting import figure

    from ..paper import SECTION_3_2_RANGES

    data = plot_data(science) if science is not None else {}

    def source(name: str, columns: tuple[str, ...]) -> ColumnDataSource:
        return ColumnDataSource(data.get(name, {c: [] for c in columns}), name=name)

    hists = []
    for q in PLOTTED_QUANTITIES:
        low, high, _ = HISTOGRAM_BINS[q]
        fig = figure(width=230, height=180, title=_LABEL[q], x_range=(low, high), toolbar_location=None,
                     tools="", name=f"fig-hist-{q}")
        fig.title.text_font_size = "9pt"
        fig.yaxis.visible = False
        for ph in STUDY_PHASES:
            rng = SECTION_3_2_RANGES.get(f"{q}_{ph}")
            if rng is not None:
                fig.add_layout(BoxAnnotation(left=rng.low, right=rng.high, fill_color=_SHADE[ph],
                                             fill_alpha=0.12, line_color=_SHADE[ph], line_alpha=0.6,
                                             line_dash="dashed"))
            fig.quad(left="left", right="right", bottom=0, top="top", fill_color=_SHADE[ph],
                     fill_alpha=0.55, line_color=None, legend_label=ph,
                     source=source(f"hist-{q}_{ph}", ("left", "right", "top")))
        fig.legend.label_text_font_size = "8pt"
        fig.legend.padding = 2
        fig.legend.margin = 2
        hists.append(fig)

    mapper = LinearColorMapper(palette=Viridis256, low=TAU_COLOUR_RANGE[0], high=TAU_COLOUR_RANGE[1],
                               nan_color="#bbbbbb")  # grey: the phase does not percolate
    scatters = []
    for ph in STUDY_PHASES:
        fig = figure(width=380, height=300, title=f"{ph}: M-factor vs volume fraction (colour: μ(τ))",
                     toolbar_location=None, tools="hover", name=f"fig-scatter-{ph}",
                     tooltips=[("ε", "@x{0.000}"), ("M", "@y{0.000}"), ("μ(τ)", "@tau{0.000}")])
        fig.scatter("x", "y", source=source(f"scatter-{ph}", ("x", "y", "tau")), size=6,
                    fill_color={"field": "tau", "transform": mapper}, line_color=None)
        fig.xaxis.axis_label = _LABEL["volume_fraction"]
        fig.yaxis.axis_label = "M-factor"
        rng = SECTION_3_2_RANGES.get(f"m_factor_{ph}")
        if rng is not None:
            fig.add_layout(BoxAnnotation(bottom=rng.low, top=rng.high, fill_color="#ffbf00", fill_alpha=0.15))
        fig.add_layout(ColorBar(color_mapper=mapper, title="μ(τ)", width=8), "right")
        scatters.append(fig)

    step_figs = []
    for ph in STUDY_PHASES:
        fig = figure(width=380, height=260, title=f"{ph}: gradient steps (relative change of f)",
                     toolbar_location=None, tools="hover", name=f"fig-steps-{ph}",
                     tooltips=[("", "@label")])
        fig.multi_line("xs", "ys", color="color", line_width=2, alpha=0.7,
                       source=source(f"steps-{ph}", ("xs", "ys", "color", "label")))
        fig.xaxis.axis_label = "h / max |h|"
        fig.yaxis.axis_label = "f(step) / f(point) - 1"
        step_figs.append(fig)
    return column(gridplot([hists], toolbar_location=None), row(*scatters), row(*step_figs),
                  name="vmt-science")


def layout_json(target: str, science: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``bokeh.embed.json_item`` of :func:`build_layout`, to embed into element ``target``."""
    from bokeh.embed import json_item

    return json_item(build_layout(science), target)
