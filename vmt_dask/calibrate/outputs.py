"""What ``vmt calibrate`` writes into its store: result JSON, a study preset, plots, an HTML page.

Layout under the store root (``calibration/``):

* ``result.json`` (sealed record): theta, standard errors, per-statistic discrepancy, the
  acceptance bound, calibrated versus measured descriptors and M-factors, cost;
* ``preset.yaml``: a study spec whose endpoints are the calibrated theta (``calibrated``)
  and the Table 1 presets, paired with ``calibrated`` (``vmt study run calibration/preset.yaml``);
* ``two-point.png``: measured, expected and simulated two-point correlations;
* ``index.html``: the report section.
"""
from __future__ import annotations

import html
import io
import math

import numpy as np

from ..domain import PARAMETER_NAMES, STUDY_PHASES, TABLE1

__all__ = ["calibrated_spec", "two_point_figure", "write_outputs", "comparison_rows"]

COMPARE_KEYS = ("volume_fraction", "specific_surface_area", "tortuosity_mean", "constrictivity", "m_factor")


def calibrated_spec(theta, *, base: str = "demo", name: str = "calibrated", shape=None,
                    voxel_size: float | None = None) -> dict:
    """A study spec (dict) with ``calibrated`` = theta as an endpoint paired with each preset.

    Validated by :func:`vmt_dask.study.load_spec` before it is returned.
    """
    from ..study.spec import load_spec, preset_dict

    data = preset_dict(base)
    endpoints = {name: [round(float(x), 6) for x in theta]}
    endpoints.update({k: list(v) for k, v in TABLE1.items()})
    data["name"] = f"{name}-{base}"
    data["endpoints"] = endpoints
    data["pairs"] = [[name, k] for k in TABLE1]
    if shape is not None:
        data["shape"] = [int(s) for s in shape]
    if voxel_size is not None:
        data["voxel_size"] = float(voxel_size)
    load_spec(data)  # raises InputError if the loader would refuse it
    return data


def two_point_figure(result) -> bytes:
    """PNG of the two-point correlations: image, model expectation, realizations (mean +- sd)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    lags = np.asarray(result.lags)
    n = len(lags)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), sharey=True)
    k = 0
    for ph in ("SE", "AM"):
        for d in ("xy", "z"):
            ax = axes[k // n]
            sl = slice(k, k + n)
            ax.plot(lags, result.observed[sl], "o", color="k", label="image")
            ax.plot(lags, result.expected[sl], "-", color="C0", label="model (expectation)")
            m, s = result.simulated_mean[sl], result.sigma[sl]
            ax.fill_between(lags, m - s, m + s, color="C1", alpha=0.3, label="realizations, mean +- sd")
            ax.set_title(f"{ph}, lag along {d}")
            ax.set_xlabel("lag (voxels)")
            k += n
    axes[0].set_ylabel("c(h) = (S2(h) - p^2) / (p - p^2)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def comparison_rows(image_props: dict, sim_props: list[dict]) -> list[dict]:
    """Rows (phase, descriptor, measured, calibrated mean, calibrated sd) side by side."""
    rows = []
    for ph in STUDY_PHASES:
        for key in COMPARE_KEYS:
            vals = np.array([np.nan if p[ph].get(key) is None else float(p[ph][key]) for p in sim_props])
            meas = image_props[ph].get(key)
            rows.append({"phase": ph, "descriptor": key,
                         "measured": None if meas is None or not math.isfinite(float(meas)) else float(meas),
                         "calibrated_mean": _f(np.nanmean(vals)) if np.isfinite(vals).any() else None,
                         "calibrated_sd": _f(np.nanstd(vals, ddof=1)) if np.isfinite(vals).sum() > 1 else None})
    return rows


def _f(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _fmt(x, digits=4):
    return "" if x is None else f"{x:.{digits}g}"


def write_outputs(store: str, result, *, rows: list[dict] | None, preset: dict | None,
                  extra: dict | None = None) -> dict:
    """Write the outputs listed in the module docstring; return the result dict written."""
    import yaml

    from ..storage import resolve, write_file_atomic, write_record

    out = result.to_dict()
    out["comparison"] = rows or []
    out.update(extra or {})
    write_record(store, "calibration/result.json", out)
    loc = resolve(store)
    files = {}
    png = two_point_figure(result)
    files["calibration/two-point.png"] = png
    if preset is not None:
        files["calibration/preset.yaml"] = (
            "# Study spec written by vmt calibrate: the calibrated theta as an endpoint\n"
            + yaml.safe_dump(preset, sort_keys=False)).encode()
    files["calibration/index.html"] = _html(out).encode()
    for rel, data in files.items():
        if loc.local:
            path = loc.path(rel)
            import os

            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_file_atomic(path, data)
        else:  # remote store: one object write each
            with loc.fs.open(loc.path(rel), "wb") as fh:
                fh.write(data)
    return out


def _html(out: dict) -> str:
    th = out["theta"]
    se = out["std_errors_log"]
    rows = "".join(
        f"<tr><td>{n}</td><td>{th[n]:.4g}</td><td>{_fmt(se.get(n), 3)}</td></tr>" for n in PARAMETER_NAMES)
    stats = "".join(
        f"<tr><td>{html.escape(s['name'])}</td><td>{_fmt(s['observed'])}</td><td>{_fmt(s['expected'])}</td>"
        f"<td>{_fmt(s['simulated_mean'])}</td><td>{_fmt(s['sigma'], 3)}</td><td>{_fmt(s['z'], 3)}</td></tr>"
        for s in out["statistics"])
    comp = "".join(
        f"<tr><td>{r['phase']}</td><td>{r['descriptor']}</td><td>{_fmt(r['measured'])}</td>"
        f"<td>{_fmt(r['calibrated_mean'])}</td><td>{_fmt(r['calibrated_sd'], 3)}</td></tr>"
        for r in out.get("comparison", []))
    verdict = out.get("verdict") or ("accepted" if out["accepted"] else "REJECTED")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>vmt calibrate</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:1em auto}}td,th{{padding:2px 8px;text-align:right}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}</style></head><body>
<h1>Calibration</h1>
<p>Fit {verdict}: max |z| = {out['max_abs_z']:.3g}, bound {out['bound']:.3g}
(Bonferroni over {len(out['statistics'])} statistics, level {out['level']}).</p>
<h2>theta</h2><table><tr><th>parameter</th><th>value</th><th>standard error (log for alpha, a)</th></tr>{rows}</table>
<h2>Two-point correlations</h2><img src="two-point.png" alt="two-point functions" width="100%">
<h2>Discrepancy per statistic</h2><table><tr><th>statistic</th><th>image</th><th>model expectation</th>
<th>realizations mean</th><th>sigma</th><th>z</th></tr>{stats}</table>
<h2>Measured versus calibrated descriptors and M-factors</h2><table><tr><th>phase</th><th>descriptor</th>
<th>image</th><th>calibrated (mean)</th><th>sd</th></tr>{comp}</table>
<h2>Cost</h2><pre>{html.escape(str(out['cost']))}</pre>
</body></html>"""
