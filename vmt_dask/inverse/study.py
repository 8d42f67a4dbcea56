"""Inverse design as a study kind: database, simulation on Dask, outputs.

:func:`design` is what ``vmt design`` runs:

* ``around`` a study store: the database is its results (theta and the objectives of every
  structure, :func:`vmt_dask.study.open_results`); the region is the box the study spans,
  alphas floored at 0.05 (paper Section 2.4), unless the user gives one;
* ``around`` a preset (``paper``, ``demo``, ``smoke``, a Table 1 name or a spec file): the
  region is the box of its endpoints (floored), and a pilot sample of ``pilot`` Sobol points
  is simulated there first to fit the surrogate.

Simulation (pilot and verification) = ``realizations`` realizations per theta (common seeds
from ``SeedSequence(seed)``), each with the descriptors and M-factors of SE and AM, as Dask
futures with one sealed record each in the output store (a rerun reuses them), through
:class:`vmt_dask.calibrate.runner.Runner`.
"""
from __future__ import annotations

import io
import math
import os
from typing import Callable, Sequence

import numpy as np

from ..domain import PARAMETER_NAMES, TABLE1
from ..errors import InputError
from .search import DesignResult, region_from_thetas, run_design
from .targets import ALPHA_FLOOR, Target

__all__ = ["design", "load_around", "dask_simulator", "write_design_outputs"]


def load_around(around: str, *, shape=None, voxel_size=None) -> dict:
    """Resolve ``--around``: ``{"kind": "store"|"preset", "thetas", "values", "shape", "voxel_size", "axis"}``."""
    from ..study.presets import PRESETS

    text = str(around).strip()
    if not text:
        raise InputError("--around '': expected a study store or a preset")
    if text.upper() in TABLE1:
        th = np.array([TABLE1[text.upper()]])
        return {"kind": "preset", "name": text.upper(), "thetas": th, "values": None,
                "shape": shape or (32, 32, 32), "voxel_size": voxel_size or 0.2, "axis": 2}
    if text in PRESETS or text.lower().endswith((".yaml", ".yml", ".toml")):
        from ..study.spec import load_spec

        spec = load_spec(text)
        th = np.array([list(v) for v in spec.endpoints.values()])
        return {"kind": "preset", "name": text, "thetas": th, "values": None,
                "shape": shape or tuple(spec.shape), "voxel_size": voxel_size or float(spec.voxel_size),
                "axis": int(spec.axis)}
    from ..storage import resolve

    loc = resolve(text)
    if loc.local and not os.path.exists(loc.root):
        raise InputError(f"--around {text!r}: no such study store, and not a preset "
                         f"({', '.join(PRESETS)}, {', '.join(TABLE1)}) or spec file")
    from ..study import open_results

    ds = open_results(text)
    thetas = np.asarray(ds["theta"].values, dtype=np.float64)
    values = {name: np.asarray(ds[name].values, dtype=np.float64) for name in ds.data_vars
              if name.endswith(("_SE", "_AM")) and ds[name].dims == ("structure",)}
    import yaml

    spec = yaml.safe_load(ds.attrs.get("spec", "{}")) or {}
    return {"kind": "store", "name": text, "thetas": thetas, "values": values,
            "shape": shape or tuple(spec.get("shape", (32, 32, 32))),
            "voxel_size": voxel_size or float(spec.get("voxel_size", 0.2)),
            "axis": _axis(spec.get("axis", 2))}


def _axis(a) -> int:
    from ..domain import axis_index

    return axis_index(a)


def dask_simulator(*, client, store, shape, voxel_size, axis, realizations, seed, progress=None):
    """``simulate(thetas)`` -> per theta {objective: (mean, sd, n)} via Runner "props" jobs."""
    from ..calibrate.fit import seeds_for
    from ..calibrate.runner import Runner

    runner = Runner(client=client, store=store, name="design", progress=progress)
    seeds = seeds_for(seed, realizations)

    def simulate(thetas):
        jobs = [{"kind": "props", "theta": [float(x) for x in th], "seed": s, "shape": [int(n) for n in shape],
                 "voxel_size": float(voxel_size), "axis": int(axis)} for th in thetas for s in seeds]
        recs = runner.run(jobs)
        out = []
        for k in range(len(thetas)):
            chunk = recs[k * len(seeds):(k + 1) * len(seeds)]
            d = {}
            for ph in ("SE", "AM"):
                for q in ("m_factor", "volume_fraction", "specific_surface_area", "tortuosity_mean",
                          "constrictivity"):
                    vals = np.array([np.nan if r[ph].get(q) is None else float(r[ph][q]) for r in chunk])
                    fin = vals[np.isfinite(vals)]
                    mean = float(fin.mean()) if fin.size else math.nan
                    sd = float(fin.std(ddof=1)) if fin.size > 1 else (0.0 if fin.size else math.nan)
                    d[f"{q}_{ph}"] = (mean, sd, int(fin.size))
            out.append(d)
        return out

    simulate.runner = runner
    return simulate


def design(targets: Sequence[Target], maximize: Sequence[str], around: dict, *, simulate: Callable,
           region_override: dict | None = None, n_candidates: int = 6, pilot: int = 16,
           seed: int = 0) -> DesignResult:
    """Run an inverse design (module docstring); ``around`` from :func:`load_around`."""
    region = region_from_thetas(around["thetas"], alpha_floor=ALPHA_FLOOR, override=region_override)
    if around["values"] is not None:
        thetas, values = around["thetas"], around["values"]
        pilot_cost = 0
    else:
        import scipy.stats.qmc

        from .search import from_x

        lo, hi = region.x_bounds
        U = scipy.stats.qmc.Sobol(d=7, scramble=True, seed=seed + 1).random(int(2 ** math.ceil(math.log2(max(pilot, 2)))))
        U = U[:pilot]
        thetas = from_x(lo + U * (hi - lo))
        sims = simulate([list(map(float, t)) for t in thetas])
        values = {o: np.array([s[o][0] for s in sims]) for o in sims[0]}
        pilot_cost = len(thetas)
    res = run_design(thetas, values, targets, maximize, region, simulate, n_candidates=n_candidates, seed=seed)
    res.cost["pilot_points"] = pilot_cost
    res.cost["database_structures"] = int(len(thetas))
    return res


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def pareto_figure(result: DesignResult) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    objs = result.objectives
    rows = result.candidates
    fig, ax = plt.subplots(figsize=(6, 4.5))
    if len(objs) >= 2:
        a, b = objs[0], objs[1]
        for r in rows:
            ax.plot([r["predicted"][a], r["simulated"][a]], [r["predicted"][b], r["simulated"][b]], "-",
                    color="0.7", lw=0.8)
            ax.plot(r["predicted"][a], r["predicted"][b], "o", mfc="none", color="C0")
            ax.plot(r["simulated"][a], r["simulated"][b], "o", color="C2" if r["verified"] else "C3")
            if r["pareto"]:
                ax.plot(r["simulated"][a], r["simulated"][b], "*", ms=14, color="gold", mec="k")
        for t in result.targets:
            if t.objective == a:
                ax.axvline(t.value, ls="--", color="k", lw=0.8)
            if t.objective == b:
                ax.axhline(t.value, ls="--", color="k", lw=0.8)
        ax.set_xlabel(a)
        ax.set_ylabel(b)
    else:
        a = objs[0]
        k = np.arange(len(rows))
        ax.bar(k - 0.2, [r["predicted"][a] for r in rows], 0.4, label="predicted", color="C0")
        ax.bar(k + 0.2, [r["simulated"][a] for r in rows], 0.4, label="simulated",
               color=["C2" if r["verified"] else "C3" for r in rows])
        for t in result.targets:
            ax.axhline(t.value, ls="--", color="k", lw=0.8)
        ax.set_xlabel("candidate")
        ax.set_ylabel(a)
        ax.legend()
    ax.set_title("open: predicted, filled: simulated (green verified, red not), star: Pareto")
    ax.title.set_fontsize(8)
    fig.tight_layout()
    return _png(fig)


def slices_figure(thetas, *, shape, voxel_size, seed) -> bytes:
    """x-y and x-z mid slices of one realization of each theta (0 pore black, SE grey, AM white)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..calibrate.fit import seeds_for
    from ..model import realize

    n = max(1, len(thetas))
    fig, axes = plt.subplots(n, 2, figsize=(6, 3 * n), squeeze=False)
    s = seeds_for(seed, 1)[0]
    for k, th in enumerate(thetas):
        lab = realize(th, tuple(shape), seed=s, voxel_size=voxel_size)
        axes[k, 0].imshow(lab[:, :, lab.shape[2] // 2].T, cmap="gray", vmin=0, vmax=2, origin="lower")
        axes[k, 0].set_title(f"candidate {k}: x-y slice", fontsize=8)
        axes[k, 1].imshow(lab[:, lab.shape[1] // 2, :].T, cmap="gray", vmin=0, vmax=2, origin="lower")
        axes[k, 1].set_title("x-z slice (z up)", fontsize=8)
        for ax in axes[k]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return _png(fig)


def write_design_outputs(store: str, result: DesignResult, *, shape, voxel_size, seed, extra=None) -> dict:
    """design/result.json (sealed), design/candidates.csv, pareto.png, slices.png, index.html."""
    from ..storage import resolve, write_file_atomic, write_record

    out = result.to_dict()
    out.update(extra or {})
    write_record(store, "design/result.json", out)
    best = [r for r in result.candidates if r["pareto"]] or result.candidates[:1]
    best_thetas = [[r["theta"][n] for n in PARAMETER_NAMES] for r in best[:3]]
    files = {"design/pareto.png": pareto_figure(result),
             "design/slices.png": slices_figure(best_thetas, shape=shape, voxel_size=voxel_size, seed=seed),
             "design/candidates.csv": _csv(result).encode(),
             "design/index.html": _html(out).encode()}
    loc = resolve(store)
    for rel, data in files.items():
        if loc.local:
            write_file_atomic(loc.path(rel), data)
        else:
            with loc.fs.open(loc.path(rel), "wb") as fh:
                fh.write(data)
    return out


def _csv(result: DesignResult) -> str:
    objs = result.objectives
    head = ["candidate", *PARAMETER_NAMES, *[f"predicted_{o}" for o in objs], *[f"simulated_{o}" for o in objs],
            *[f"simulated_sd_{o}" for o in objs], "predicted_feasible", "verified", "pareto"]
    lines = [",".join(head)]
    for k, r in enumerate(result.candidates):
        vals = [k, *[r["theta"][n] for n in PARAMETER_NAMES], *[r["predicted"][o] for o in objs],
                *[r["simulated"][o] for o in objs], *[r["simulated_sd"][o] for o in objs],
                int(r["predicted_feasible"]), int(r["verified"]), int(r["pareto"])]
        lines.append(",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in vals))
    return "\n".join(lines) + "\n"


def _html(out: dict) -> str:
    import html

    objs = out["objectives"]
    head = "".join(f"<th>{n}</th>" for n in PARAMETER_NAMES) + "".join(
        f"<th>{o}<br>predicted</th><th>{o}<br>simulated</th>" for o in objs)
    body = ""
    for k, r in enumerate(out["candidates"]):
        cells = "".join(f"<td>{r['theta'][n]:.4g}</td>" for n in PARAMETER_NAMES)
        for o in objs:
            flag = " style='color:#b00'" if r["mismatch"][o] else ""
            cells += (f"<td>{r['predicted'][o]:.4g}</td><td{flag}>{r['simulated'][o]:.4g} "
                      f"&plusmn; {r['simulated_sd'][o]:.2g}</td>")
        status = ("verified, Pareto-optimal" if r["pareto"] else "verified") if r["verified"] else "not verified"
        body += f"<tr><td>{k}</td>{cells}<td>{status}</td></tr>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>vmt design</title>
<style>body{{font-family:sans-serif;max-width:1300px;margin:1em auto}}td,th{{padding:2px 6px;text-align:right;font-size:90%}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}</style></head><body>
<h1>Inverse design</h1>
<p>Targets: {html.escape(', '.join(out['targets']))}; maximise: {html.escape(', '.join(out['maximize']) or '-')}.
{len([c for c in out['candidates'] if c['verified']])} of {len(out['candidates'])} candidates verified by simulation;
red simulated values differ from the surrogate by more than 3 x its training error and sampling error.</p>
<img src="pareto.png" alt="Pareto plot"><img src="slices.png" alt="slices of the best structures" width="45%">
<table><tr><th>#</th>{head}<th>status</th></tr>{body}</table>
<h2>Cost</h2><pre>{html.escape(str(out['cost']))}</pre></body></html>"""
