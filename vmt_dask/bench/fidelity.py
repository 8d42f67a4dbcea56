"""Paper fidelity: descriptors and M-factors next to paper Table 2 and the Section 3.2 ranges.

    python -m vmt_dask.bench fidelity [--presets BM01,BM03,BM10] [--sizes 401] [--seeds 1,2]
        [--skip-conduct] [--variants all|none|NAME,...] [--neighbourhoods 26,98]
        [--generator lattice] [--voxel-size 0.2] [--database STORE] [--json FILE] [--plot FILE.png]

For every preset, grid size N (voxels per edge, 0.2 micrometre voxels: the window grows
with N) and seed: one realization of the calibrated model (paper Table 1), all descriptors
of AM and SE (:func:`vmt_dask.descriptors.describe`'s conventions), both M-factors
(:func:`vmt_dask.conductivity.m_factor`), every constrictivity convention of
:data:`CONSTRICTIVITY_VARIANTS` and every tortuosity neighbourhood on the same realization.
Printed: (1) the largest N against paper Table 2 (mean and spread over seeds, deviation per
entry); (2) each estimator variant's deviation from Table 2; (3) finite size: every
descriptor per N and its distance to the largest N; (4) with ``--database``, the
distribution of every descriptor over a study database next to the Section 3.2 ranges.
``--json FILE`` keeps one record per structure and is resumed: structures already in the
file are not recomputed, so a long series can run in several invocations; a structure stored
without M-factors (``--skip-conduct``) gets them added by a later run without the option (the
realization is regenerated from its seed: the same volume, and only the two solves run).
A structure is identified by (preset, N, seed, voxel size, generator); each record keeps the
git commit and the load average of the run that made it.  With several voxel sizes, (5) compares
every grid (N, voxel size) with the reference grid (largest N at 0.2 micrometre): the bias of the
seed mean and the root-mean-square error of one realization, which is what one structure of a
study database carries.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import numbers
import os
import subprocess
import time

import numpy as np

from ._measure import format_table
from ..domain import STUDY_PHASES

__all__ = ["add_arguments", "run", "CONSTRICTIVITY_VARIANTS", "TORTUOSITY_NEIGHBOURHOODS"]

#: Constrictivity conventions evaluated on every realization (keyword arguments of
#: :func:`vmt_dask.descriptors.constrictivity`; ``{}`` is the library default).
CONSTRICTIVITY_VARIANTS: dict[str, dict] = {
    "centres-6": {"intrusion": "centres", "connectivity": 6},
    "centres-26": {"intrusion": "centres", "connectivity": 26},
    "opening-6": {"intrusion": "opening", "connectivity": 6},
    "opening-26": {"intrusion": "opening", "connectivity": 26},
    "centres-6 whole-voxel": {"intrusion": "centres", "radius_step": 1.0},
    "centres-6 whole-voxel closed": {"intrusion": "centres", "radius_step": 1.0, "balls": "closed"},
    "centres-6 half-voxel": {"intrusion": "centres", "radius_step": 0.5},
    "centres-6 reservoir": {"intrusion": "centres", "inlet": "reservoir"},
    "centres-6 interpolated": {"intrusion": "centres", "crossing": "interpolate"},
    "opening-26 whole-voxel": {"intrusion": "opening", "connectivity": 26, "radius_step": 1.0},
    "opening-26 interpolated": {"intrusion": "opening", "connectivity": 26, "crossing": "interpolate"},
    "opening-26 reservoir": {"intrusion": "opening", "connectivity": 26, "inlet": "reservoir"},
}
#: Path neighbourhoods of the geodesic tortuosity evaluated on every realization.
TORTUOSITY_NEIGHBOURHOODS = (26, 98)

_PHASES = STUDY_PHASES
_DESCRIPTORS = ("volume_fraction", "specific_surface_area", "tortuosity_mean", "tortuosity_std",
                "constrictivity", "r_min", "r_max")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presets", default="BM01,BM03,BM10", help="comma-separated presets")
    parser.add_argument("--sizes", default="401",
                        help="comma-separated grid sizes N (default 401; finite size: 64,96,128,200,401)")
    parser.add_argument("--seeds", default="1,2", help="comma-separated realization seeds (default 1,2)")
    parser.add_argument("--skip-conduct", action="store_true", help="no M-factors (the costly part)")
    parser.add_argument("--variants", default="all",
                        help="constrictivity/tortuosity variants: all, none or comma-separated names")
    parser.add_argument("--neighbourhoods", default="26,98",
                        help="geodesic-tortuosity neighbourhoods evaluated besides the default 26 "
                             "(comma-separated from 26, 98; default 26,98)")
    from vmt_dask.model.covariance import DEFAULT_GENERATOR, GENERATORS

    parser.add_argument("--generator", default=None, choices=GENERATORS,
                        help=f"random-field generator of vmt_dask.model.realize (default: "
                             f"{DEFAULT_GENERATOR!r}, the library's)")
    parser.add_argument("--voxel-size", type=float, default=0.2, help="micrometres (default 0.2)")
    parser.add_argument("--database", default=None, help="study store: descriptor distributions vs Sec. 3.2")
    parser.add_argument("--database-conventions", action="store_true",
                        help="with --database: recompute constrictivity (centres-6 and opening-26) and "
                             "tortuosity (26, 98) on its stored structures, each against Section 3.2")
    parser.add_argument("--json", default=None, help="write (and resume from) this JSON file")
    parser.add_argument("--plot", default=None, help="finite-size plot (PNG) when several sizes are present")
    parser.add_argument("--report-only", action="store_true",
                        help="compute nothing: print the tables of the records in --json")


def _ints(text: str, name: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise SystemExit(f"{name} must be comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise SystemExit(f"{name} must be positive integers, got {text!r}")
    return vals


def _variants(text: str) -> dict[str, dict]:
    if text == "all":
        return dict(CONSTRICTIVITY_VARIANTS)
    if text == "none":
        return {}
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in CONSTRICTIVITY_VARIANTS]
    if bad:
        raise SystemExit(f"unknown variant(s) {bad}; choose from {sorted(CONSTRICTIVITY_VARIANTS)}")
    return {n: CONSTRICTIVITY_VARIANTS[n] for n in names}


@functools.lru_cache(maxsize=1)
def _commit() -> str:
    """Git commit of the checkout the package runs from, when first asked (about when the code was
    imported), with "-dirty" for uncommitted changes in the checkout; "unknown" outside git."""
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=here,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _generator_name(generator: str | None) -> str:
    from vmt_dask.model.covariance import DEFAULT_GENERATOR

    return generator or DEFAULT_GENERATOR


def _missing_m(rec: dict) -> list[str]:
    """Phases whose M-factor a record lacks (stored with ``--skip-conduct``, or with one M-factor
    taken from another benchmark on the same realization)."""
    return [ph for ph in _PHASES if f"m_factor_{ph}" not in rec["values"]]


def add_m_factors(rec: dict, log=print) -> dict:
    """Add the missing M-factors to a record stored without them (same realization, from its
    seed); an M-factor already in the record is kept, not recomputed."""
    from vmt_dask.conductivity import m_factor
    from vmt_dask.domain import phase_label
    from vmt_dask.model import CALIBRATED, realize

    t0 = time.perf_counter()
    labels = realize(CALIBRATED[rec["preset"]], (rec["size"],) * 3, seed=rec["seed"],
                     voxel_size=rec["voxel_size"], generator=rec["generator"])
    todo = _missing_m(rec)
    for ph in _PHASES:
        m = labels == phase_label(ph)
        # the regenerated realization must be the stored one (volume fractions to the voxel)
        vf = float(np.count_nonzero(m)) / m.size
        if abs(vf - rec["values"][f"volume_fraction_{ph}"]) > 0.5 / m.size:
            raise RuntimeError(f"{rec['preset']} N={rec['size']} seed={rec['seed']}: regenerated "
                               f"volume fraction {vf} != stored {rec['values'][f'volume_fraction_{ph}']}")
        if ph not in todo:
            continue
        t = time.perf_counter()
        rec["values"][f"m_factor_{ph}"] = m_factor(m, axis=2).m_factor
        rec["seconds"][f"m_factor_{ph}"] = time.perf_counter() - t
        log(f"    {rec['preset']} N={rec['size']} seed={rec['seed']} {ph} M = "
            f"{rec['values'][f'm_factor_{ph}']:.4f} ({rec['seconds'][f'm_factor_{ph}']:.0f} s)")
    rec["seconds"]["m_realize"] = time.perf_counter() - t0 - sum(
        rec["seconds"][f"m_factor_{ph}"] for ph in todo)
    rec["m_commit"], rec["m_load"] = _commit(), round(os.getloadavg()[0], 1)
    return rec


def measure_structure(preset: str, n: int, seed: int, *, voxel_size: float, generator: str | None,
                      variants: dict[str, dict], conduct: bool, log=print,
                      neighbourhoods: tuple[int, ...] = TORTUOSITY_NEIGHBOURHOODS) -> dict:
    """Every descriptor, variant and M-factor of one realization: one JSON-ready record."""
    from vmt_dask.descriptors import (
        constrictivity,
        constrictivity_variants,
        geodesic_tortuosity,
        specific_surface_area,
    )
    from vmt_dask.domain import phase_label
    from vmt_dask.model import CALIBRATED, realize

    generator = _generator_name(generator)
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    labels = realize(CALIBRATED[preset], (n, n, n), seed=seed, voxel_size=voxel_size,
                     generator=generator)
    rec = {"preset": preset, "size": n, "seed": seed, "voxel_size": voxel_size,
           "generator": generator, "commit": _commit(), "values": {}, "variants": {}, "seconds": {}}
    rec["seconds"]["realize"] = time.perf_counter() - t0
    vals, var, sec = rec["values"], rec["variants"], rec["seconds"]
    for ph in _PHASES:
        m = labels == phase_label(ph)
        t = time.perf_counter()
        vals[f"volume_fraction_{ph}"] = float(np.count_nonzero(m)) / m.size
        vals[f"specific_surface_area_{ph}"] = specific_surface_area(m, voxel_size=voxel_size)
        sec[f"surface_{ph}"] = time.perf_counter() - t
        for nb in sorted({26, *neighbourhoods}) if variants else (26,):
            t = time.perf_counter()
            tau = geodesic_tortuosity(m, axis=2, neighbourhood=nb)
            sec[f"tortuosity{nb}_{ph}"] = time.perf_counter() - t
            var.setdefault(f"tortuosity_mean_{ph}", {})[f"neighbourhood-{nb}"] = tau.mean
            var.setdefault(f"tortuosity_std_{ph}", {})[f"neighbourhood-{nb}"] = tau.std
            if nb == 26:  # the library default (describe)
                vals[f"tortuosity_mean_{ph}"] = tau.mean
                vals[f"tortuosity_std_{ph}"] = tau.std
                vals[f"tortuosity_reached_{ph}"] = tau.reached_fraction
        t = time.perf_counter()
        con = constrictivity(m, voxel_size=voxel_size, axis=2)
        sec[f"constrictivity_{ph}"] = time.perf_counter() - t
        vals[f"constrictivity_{ph}"] = con.beta
        vals[f"r_min_{ph}"] = con.r_min
        vals[f"r_max_{ph}"] = con.r_max
        if variants:
            t = time.perf_counter()
            res = constrictivity_variants(m, variants, voxel_size=voxel_size, axis=2)
            sec[f"constrictivity_variants_{ph}"] = time.perf_counter() - t
            for name, r in res.items():
                var.setdefault(f"constrictivity_{ph}", {})[name] = r.beta
                var.setdefault(f"r_min_{ph}", {})[name] = r.r_min
                var.setdefault(f"r_max_{ph}", {})[name] = r.r_max
        if conduct:
            from vmt_dask.conductivity import m_factor

            t = time.perf_counter()
            mr = m_factor(m, axis=2)
            sec[f"m_factor_{ph}"] = time.perf_counter() - t
            vals[f"m_factor_{ph}"] = mr.m_factor
        log(f"    {preset} N={n} seed={seed} {ph} done "
            f"({time.perf_counter() - t0:.0f} s since the start of this structure)")
        del m
    rec["seconds"]["total"] = time.perf_counter() - t0
    rec["load"] = [round(load0, 1), round(os.getloadavg()[0], 1)]
    return rec


# ----------------------------------------------------------------------------- summaries
def _stats(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return math.nan, math.nan, 0
    a = np.asarray(xs, float)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0, int(a.size)


def _f(v, digits=3):
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def table2_rows(records: list[dict], size: int) -> list[dict]:
    """Ours (mean, spread over seeds) vs paper Table 2 at grid ``size``, one row per entry."""
    from vmt_dask.paper import TABLE2

    rows = []
    for preset, ref in TABLE2.items():
        recs = [r for r in records if r["preset"] == preset and r["size"] == size]
        if not recs:
            continue
        for key, paper in ref.items():
            mean, sd, k = _stats([r["values"].get(key) for r in recs])
            if k == 0:
                continue
            rows.append({"preset": preset, "quantity": key, "paper": _f(paper, 2),
                         "ours": _f(mean), "sd": _f(sd), "n": k, "ours-paper": f"{mean - paper:+.3f}",
                         "rel %": f"{100 * (mean - paper) / paper:+.1f}"})
    return rows


def variant_rows(records: list[dict], size: int) -> tuple[list[dict], list[dict]]:
    """Per variant: value per preset/phase, deviation from Table 2, median |deviation|."""
    from vmt_dask.paper import TABLE2

    detail, summary = [], []
    keys = sorted({k for r in records if r["size"] == size for k in r["variants"]})
    for key in keys:
        if not (key.startswith("constrictivity_") or key.startswith("tortuosity_mean_")):
            continue
        names = []
        for r in records:
            if r["size"] == size:
                for nm in r["variants"].get(key, {}):
                    if nm not in names:
                        names.append(nm)
        for nm in names:
            devs = []
            for preset, ref in TABLE2.items():
                recs = [r for r in records if r["preset"] == preset and r["size"] == size]
                mean, sd, k = _stats([r["variants"].get(key, {}).get(nm) for r in recs])
                if k == 0:
                    continue
                paper = ref.get(key)
                dev = mean - paper if paper is not None else math.nan
                devs.append(dev)
                detail.append({"quantity": key, "variant": nm, "preset": preset, "ours": _f(mean),
                               "sd": _f(sd), "paper": _f(paper, 2), "ours-paper": f"{dev:+.3f}"})
            if devs:
                summary.append({"quantity": key, "variant": nm,
                                "median |dev|": _f(float(np.median(np.abs(devs)))),
                                "max |dev|": _f(float(np.max(np.abs(devs)))),
                                "mean dev": f"{float(np.mean(devs)):+.3f}"})
    return detail, summary


def section32_rows(records: list[dict], size: int) -> list[dict]:
    """Calibrated realizations at grid ``size`` (all presets and seeds) against the Section 3.2
    ranges of the paper's model database, per estimator convention.

    Section 3.2 describes the paper's *model realizations* (its 495 structures, with the three
    calibrated presets as interpolation end points), so the calibrated realizations of our model
    should fall inside its ranges; an estimator convention that puts them outside disagrees with
    the paper's estimator on the paper's kind of structure.  Table 2 describes the tomograms.
    """
    from vmt_dask.paper import SECTION_3_2_RANGES

    recs = [r for r in records if r["size"] == size]
    rows = []
    for key, rng in SECTION_3_2_RANGES.items():
        convs = {"default": [(r["preset"], r["seed"], r["values"].get(key)) for r in recs]}
        for r in recs:
            for nm, v in r["variants"].get(key, {}).items():
                convs.setdefault(nm, []).append((r["preset"], r["seed"], v))
        for nm, vals in convs.items():
            vals = [(p, s, v) for p, s, v in vals
                    if v is not None and not (isinstance(v, float) and math.isnan(v))]
            if not vals:
                continue
            lo, hi = (rng.bulk_low, rng.bulk_high) if rng.bulk_low is not None else (rng.low, rng.high)
            inside = [v for _, _, v in vals if lo <= v <= hi]
            rows.append({"quantity": key, "convention": nm, "paper": f"[{lo}, {hi}]",
                         "inside": f"{len(inside)}/{len(vals)}",
                         "values (preset seed)": " ".join(f"{p[2:]}s{s}:{v:.2f}" for p, s, v in sorted(vals))})
    return rows


def finite_size_rows(records: list[dict]) -> list[dict]:
    """Every descriptor per preset and N (mean over seeds) and its difference to the largest N."""
    rows = []
    for preset in sorted({r["preset"] for r in records}):
        sizes = sorted({r["size"] for r in records if r["preset"] == preset})
        if len(sizes) < 2:
            continue
        ref_n = sizes[-1]
        keys = sorted({k for r in records if r["preset"] == preset for k in r["values"]
                       if not k.startswith("tortuosity_reached")})
        for key in keys:
            ref, _, _ = _stats([r["values"].get(key) for r in records
                                if r["preset"] == preset and r["size"] == ref_n])
            row = {"preset": preset, "quantity": key}
            for n in sizes:
                mean, sd, k = _stats([r["values"].get(key) for r in records
                                      if r["preset"] == preset and r["size"] == n])
                row[f"N={n}"] = _f(mean)
                if n != ref_n and not math.isnan(ref):
                    row[f"d{n}"] = f"{mean - ref:+.3f}"
            rows.append(row)
    return rows


def plot_finite_size(records: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["volume_fraction", "specific_surface_area", "tortuosity_mean", "constrictivity",
            "m_factor"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.6))
    for ax, q in zip(axes, keys):
        for preset in sorted({r["preset"] for r in records}):
            sizes = sorted({r["size"] for r in records if r["preset"] == preset})
            if len(sizes) < 2:
                continue
            for ph, style in (("AM", "-o"), ("SE", "--s")):
                ys = [_stats([r["values"].get(f"{q}_{ph}") for r in records
                              if r["preset"] == preset and r["size"] == n])[0] for n in sizes]
                if not all(math.isnan(y) for y in ys):
                    ax.plot(sizes, ys, style, label=f"{preset} {ph}", ms=4)
        ax.set_xlabel("N (voxels per edge, 0.2 um)")
        ax.set_title(q)
        ax.set_xscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def database_rows(store: str) -> list[dict]:
    """Distribution of every descriptor of a study database next to the Section 3.2 ranges."""
    from vmt_dask.paper import SECTION_3_2_RANGES
    from vmt_dask.study import open_results

    ds = open_results(store)
    rows = []
    for q in ("volume_fraction", "specific_surface_area", "tortuosity_mean", "tortuosity_std",
              "constrictivity", "m_factor"):
        for ph in _PHASES:
            key = f"{q}_{ph}"
            if key not in ds:
                continue
            x = np.asarray(ds[key].values, float)
            x = x[np.isfinite(x)]
            if x.size == 0:
                continue
            rng = SECTION_3_2_RANGES.get(key)
            qs = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
            row = {"quantity": key, "n": x.size, "q05": _f(qs[0]), "q25": _f(qs[1]), "median": _f(qs[2]),
                   "q75": _f(qs[3]), "q95": _f(qs[4]), "min": _f(x.min()), "max": _f(x.max())}
            if rng is not None:
                row["paper range"] = f"[{rng.low}, {rng.high}]"
                row["inside %"] = f"{100 * np.mean((x >= rng.low) & (x <= rng.high)):.0f}"
                if rng.bulk_low is not None:
                    row["paper bulk"] = f"[{rng.bulk_low}, {rng.bulk_high}]"
                    row["in bulk %"] = f"{100 * np.mean((x >= rng.bulk_low) & (x <= rng.bulk_high)):.0f}"
            rows.append(row)
    return rows


#: Bins of the largest covariance parameter per voxel for :func:`database_alpha_rows`.
ALPHA_BINS = (0.0, 0.25, 0.5, 1.0, 2.0, math.inf)


def _alphas_per_voxel(theta: np.ndarray, voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Largest per-voxel covariance parameter of each structure's X fields (X~, X'': the SE
    boundary, Eq. 4) and Y fields (Y~, Y'': the AM/pore boundary, Eq. 5).  The alphas of theta
    are in 1/(0.2 um) (paper Eq. 3, docs/conventions.md); a voxel of ``voxel_size`` um turns
    them into alpha * voxel_size / 0.2 per voxel, and the compression along z by the anisotropy
    factor a (<= 1 in the paper) divides that axis's value by a
    (:func:`vmt_dask.model.kernels.axis_alphas`).  Shapes (n,) float64 each."""
    from vmt_dask.domain import A_INDEX, PARAMETER_NAMES
    from vmt_dask.model.kernels import REFERENCE_VOXEL_SIZE

    theta = np.asarray(theta, float)
    scale = (voxel_size / REFERENCE_VOXEL_SIZE) / np.minimum(theta[:, A_INDEX], 1.0)
    ix = [PARAMETER_NAMES.index(n) for n in ("alpha_xt", "alpha_x")]
    iy = [PARAMETER_NAMES.index(n) for n in ("alpha_yt", "alpha_y")]
    return theta[:, ix].max(axis=1) * scale, theta[:, iy].max(axis=1) * scale


def database_alpha_rows(store: str) -> tuple[list[dict], list[dict]]:
    """Specific surface areas of a study database against the paper's largest values (Section
    3.2: 2.61 /um AM, 2.33 /um SE) and the per-voxel covariance parameters of each structure.

    SE = {X >= lambda_X} (Eq. 4), so the X fields' alpha sets the SE boundary, i.e. S_SE and
    most of S_AM (AM borders SE over most of its surface).  A field whose alpha approaches
    1 per voxel is close to white noise on the lattice and S saturates at the grid's limit
    (docs/fidelity.md, the model's discretisation).  The gradient steps of Eq. (11),
    theta + h * grad f, move an alpha by h * df/dalpha, large for f = S (S grows steeply with
    alpha_xt).  Returns (rows per bin of the X fields' per-voxel alpha, rows per gradient
    function and step h), each with the count of structures whose S exceeds the paper's
    largest value.  Raises InputError (from open_results) when the store holds no study."""
    from vmt_dask.paper import SECTION_3_2_RANGES
    from vmt_dask.study import open_results
    from vmt_dask.study.coordinator import read_spec

    ds = open_results(store)
    voxel = float(read_spec(store).voxel_size)
    s_am = np.asarray(ds["specific_surface_area_AM"].values, float)
    s_se = np.asarray(ds["specific_surface_area_SE"].values, float)
    ok = np.isfinite(s_am) & np.isfinite(s_se)
    ax, ay = _alphas_per_voxel(np.asarray(ds["theta"].values, float)[ok], voxel)
    s_am, s_se = s_am[ok], s_se[ok]
    func = np.asarray(ds["function"].values)[ok].astype(str)
    hs = np.asarray(ds["h"].values, float)[ok]
    hi_am = SECTION_3_2_RANGES["specific_surface_area_AM"].high
    hi_se = SECTION_3_2_RANGES["specific_surface_area_SE"].high
    over_am, over_se = s_am > hi_am, s_se > hi_se

    def row(sel, **head):
        def q(x, fn):
            return _f(float(fn(x[sel]))) if sel.any() else "-"
        return {**head, "n": int(sel.sum()), "alpha_X/vox max": q(ax, np.max),
                "alpha_Y/vox max": q(ay, np.max), "S_AM median": q(s_am, np.median),
                "S_AM max": q(s_am, np.max), f"S_AM>{hi_am}": int(over_am[sel].sum()),
                "S_SE median": q(s_se, np.median), "S_SE max": q(s_se, np.max),
                f"S_SE>{hi_se}": int(over_se[sel].sum())}

    by_alpha = []
    for lo, hi in zip(ALPHA_BINS[:-1], ALPHA_BINS[1:]):
        sel = (ax >= lo) & (ax < hi)
        if sel.any():
            by_alpha.append(row(sel, **{"alpha_X/voxel": f"[{lo:g}, {hi:g})"}))
    by_alpha.append(row(np.ones(ax.size, bool), **{"alpha_X/voxel": "all"}))
    by_step = []
    for fn in sorted(set(func)):
        for h in sorted(set(hs[func == fn])):
            sel = (func == fn) & (hs == h)
            by_step.append(row(sel, function=fn or "(interpolation point)", h=f"{h:+g}"))
    return by_alpha, by_step


#: Conventions recomputed on a database's stored structures by ``--database-conventions``: the
#: first release's (centre connectivity, 6) and the current default (opened set, 26).
DATABASE_CONVENTIONS = ("centres-6", "opening-26")


def database_convention_rows(store: str, log=print) -> list[dict]:
    """Recompute constrictivity (per :data:`DATABASE_CONVENTIONS`) and the mean geodesic
    tortuosity (26- and 98-neighbourhood) on every stored structure of a study database and
    compare each convention's distribution with the Section 3.2 ranges (bulk interval where the
    paper gives one): the same structures under the old and the new conventions."""
    from vmt_dask.descriptors import constrictivity_variants, geodesic_tortuosity
    from vmt_dask.domain import phase_label
    from vmt_dask.paper import SECTION_3_2_RANGES
    from vmt_dask.storage.volumes import list_volumes, read_volume

    keys = [k for k in list_volumes(store) if k.startswith("structure-")]
    if not keys:
        raise SystemExit(f"--database {store!r}: no stored structure volumes")
    variants = {n: CONSTRICTIVITY_VARIANTS[n] for n in DATABASE_CONVENTIONS}
    vals: dict[tuple[str, str], list[float]] = {}
    t0 = time.perf_counter()
    for i, key in enumerate(keys):
        labels, attrs = read_volume(store, key)
        voxel = attrs.get("voxel_size", 0.2)
        for ph in _PHASES:
            m = labels == phase_label(ph)
            for nm, r in constrictivity_variants(m, variants, voxel_size=voxel, axis=2).items():
                vals.setdefault((f"constrictivity_{ph}", nm), []).append(r.beta)
            for nb in TORTUOSITY_NEIGHBOURHOODS:
                tau = geodesic_tortuosity(m, axis=2, neighbourhood=nb, voxel_size=voxel)
                vals.setdefault((f"tortuosity_mean_{ph}", f"neighbourhood-{nb}"), []).append(tau.mean)
        if (i + 1) % 50 == 0 or i + 1 == len(keys):
            done = time.perf_counter() - t0
            log(f"    {i + 1}/{len(keys)} structures recomputed, {done:.0f} s, "
                f"ETA {done / (i + 1) * (len(keys) - i - 1):.0f} s")
    rows = []
    for (q, nm), xs in sorted(vals.items()):
        x = np.asarray(xs, float)
        x = x[np.isfinite(x)]
        if x.size == 0:
            continue
        qs = np.quantile(x, [0.05, 0.5, 0.95])
        row = {"quantity": q, "convention": nm, "n": x.size, "q05": _f(qs[0]), "median": _f(qs[1]),
               "q95": _f(qs[2])}
        rng = SECTION_3_2_RANGES.get(q)
        if rng is not None:
            lo, hi = (rng.bulk_low, rng.bulk_high) if rng.bulk_low is not None else (rng.low, rng.high)
            row["paper"] = f"[{lo}, {hi}]"
            row["inside %"] = f"{100 * np.mean((x >= lo) & (x <= hi)):.0f}"
        rows.append(row)
    return rows


def _print_table(title: str, rows: list[dict]) -> None:
    if not rows:
        return
    cols = []
    for r in rows:
        for c in r:
            if c not in cols:
                cols.append(c)
    print(f"\n{title}\n")
    print(format_table(rows, cols))


def _load(path: str | None) -> list[dict]:
    if path and os.path.exists(path):
        with open(path) as fh:
            recs = json.load(fh).get("structures", [])
        for r in recs:  # records written before the generator was resolved: it was "lattice"
            if r.get("generator", "default") == "default":
                r["generator"] = "lattice"
        return recs
    return []


def _key(r: dict) -> tuple:
    return (r["preset"], r["size"], r["seed"], round(float(r.get("voxel_size", 0.2)), 6),
            r.get("generator", "lattice"))


_GRID_KEYS = ("volume_fraction", "specific_surface_area", "tortuosity_mean", "constrictivity",
              "m_factor")


def grid_rows(records: list[dict], ref_size: int, ref_voxel: float = 0.2) -> list[dict]:
    """Each grid (N, voxel size) against the reference grid, per preset and descriptor.

    ``bias`` is the difference of the seed means; ``rmse`` = sqrt(bias^2 + sd^2) with the
    sample sd of the candidate grid over seeds: the expected error of one realization of that
    grid against the reference grid's mean (what one structure of a database carries).
    """
    rows = []
    for preset in sorted({r["preset"] for r in records}):
        mine = [r for r in records if r["preset"] == preset]
        ref = [r for r in mine if r["size"] == ref_size and abs(r["voxel_size"] - ref_voxel) < 1e-9]
        if not ref:
            continue
        grids = sorted({(r["size"], r["voxel_size"]) for r in mine}, key=lambda g: (g[0] * g[1], g[0]))
        for q in _GRID_KEYS:
            for ph in _PHASES:
                key = f"{q}_{ph}"
                rmean, rsd, rk = _stats([r["values"].get(key) for r in ref])
                if rk == 0:
                    continue
                for n, h in grids:
                    if n == ref_size and abs(h - ref_voxel) < 1e-9:
                        continue
                    mean, sd, k = _stats([r["values"].get(key) for r in mine
                                          if r["size"] == n and r["voxel_size"] == h])
                    if k == 0:
                        continue
                    bias = mean - rmean
                    rows.append({"preset": preset, "quantity": key, "grid": f"{n}^3 x {h:g} um",
                                 "window um": f"{n * h:.1f}", "seeds": k, "mean": _f(mean),
                                 "sd": _f(sd), f"ref {ref_size}^3": f"{_f(rmean)} ({rk})",
                                 "bias": f"{bias:+.3f}",
                                 "rmse": _f(math.sqrt(bias ** 2 + sd ** 2)) if k > 1 else "n/a"})
    return rows


def _json_safe(obj):
    """``obj`` with every NaN/inf float (and numpy scalar) as plain JSON: NaN -> null.

    A phase that does not percolate has no tortuosity (NaN); bare ``NaN`` tokens are not JSON
    (RFC 8259), so strict readers (jq, JavaScript, Go) rejected the file. ``_load`` and the
    tables read null as a missing value, as they did NaN.
    """
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (bool, str, np.bool_)) or obj is None:
        return bool(obj) if isinstance(obj, np.bool_) else obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    try:
        x = float(obj)
    except (TypeError, ValueError):
        return obj
    return x if math.isfinite(x) else None


def _save(path: str, records: list[dict], extra: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(_json_safe({"structures": records, **extra}), fh, indent=1, allow_nan=False)
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    from vmt_dask.domain import PRESET_NAMES

    bad = [p for p in presets if p not in PRESET_NAMES]
    if bad:
        raise SystemExit(f"unknown preset(s) {bad}; choose from {list(PRESET_NAMES)}")
    sizes = _ints(args.sizes, "--sizes")
    seeds = _ints(args.seeds, "--seeds")
    variants = _variants(args.variants)
    hoods = tuple(_ints(args.neighbourhoods, "--neighbourhoods"))
    if any(nb not in TORTUOSITY_NEIGHBOURHOODS for nb in hoods):
        raise SystemExit(f"--neighbourhoods: choose from {TORTUOSITY_NEIGHBOURHOODS}, got {args.neighbourhoods!r}")
    if not (math.isfinite(args.voxel_size) and args.voxel_size > 0):
        raise SystemExit(f"--voxel-size must be a positive number of micrometres, got {args.voxel_size!r}")
    if args.generator is not None:
        from vmt_dask.model.covariance import check_generator

        try:
            check_generator(args.generator)
        except (TypeError, ValueError) as exc:
            raise SystemExit(f"--generator: {exc}") from None
    if args.database_conventions and not args.database:
        raise SystemExit("--database-conventions needs --database STORE")
    if args.database and not os.path.exists(args.database):
        raise SystemExit(f"--database {args.database!r}: no such store")
    records = _load(args.json)
    gen = _generator_name(args.generator)
    have = {_key(r): r for r in records}
    todo, add_m = [], []
    for n in sorted(sizes):
        for p in presets:
            for s in seeds:
                r = have.get(_key({"preset": p, "size": n, "seed": s, "voxel_size": args.voxel_size,
                                   "generator": gen}))
                if r is None:
                    todo.append((p, n, s))
                elif not args.skip_conduct and _missing_m(r):
                    add_m.append(r)
    if args.report_only:
        todo, add_m = [], []
    print(f"fidelity: {len(todo)} structure(s) to compute, {len(records)} already in "
          f"{args.json or 'memory'} ({len(add_m)} of them to complete with M-factors); commit {_commit()}; cores "
          f"{os.cpu_count()}; load {os.getloadavg()[0]:.1f}", flush=True)
    _commit()  # the code this process imported
    t_start = time.perf_counter()
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    for i, (p, n, s) in enumerate(todo):
        rec = measure_structure(p, n, s, voxel_size=args.voxel_size, generator=args.generator,
                                variants=variants, conduct=not args.skip_conduct, log=log,
                                neighbourhoods=hoods)
        records.append(rec)
        done = time.perf_counter() - t_start
        # ETA weighted by voxels: later (larger) structures cost more
        vox_done = sum(m ** 3 for _, m, _ in todo[: i + 1])
        vox_left = sum(m ** 3 for _, m, _ in todo[i + 1:])
        print(f"[{i + 1}/{len(todo)}] {p} N={n} seed={s}: {rec['seconds']['total']:.0f} s; "
              f"ETA {done * vox_left / vox_done:.0f} s", flush=True)
        if args.json:
            _save(args.json, records, {})
    for i, rec in enumerate(add_m):
        add_m_factors(rec, log=log)
        print(f"[M {i + 1}/{len(add_m)}] {rec['preset']} N={rec['size']} seed={rec['seed']} done",
              flush=True)
        if args.json:
            _save(args.json, records, {})
    # tables (records of the chosen generator; Table 2 and finite size on the 0.2 um grid)
    recs = [r for r in records if r.get("generator") == gen]
    if records and not recs:
        present = sorted({str(r.get("generator")) for r in records})
        print(f"no records of generator {gen!r} to tabulate; the records hold {', '.join(present)}: "
              f"name one with --generator", flush=True)
    ref = [r for r in recs if abs(r.get("voxel_size", 0.2) - 0.2) < 1e-9]
    big = max((r["size"] for r in ref), default=None)
    summary: dict = {}
    if big is not None:
        rows = table2_rows(ref, big)
        _print_table(f"Paper Table 2 vs ours at N={big} (mean, sample sd over seeds; generator {gen}; "
                     "n below the seeds: the phase did not percolate in a realization, so its "
                     "tortuosity is undefined there and left out)", rows)
        detail, vsum = variant_rows(ref, big)
        _print_table(f"Estimator variants at N={big}: deviation from paper Table 2", detail)
        _print_table(f"Estimator variants at N={big}: summary over presets", vsum)
        s32 = section32_rows(ref, big)
        _print_table(f"Calibrated realizations at N={big} inside the Section 3.2 ranges (the paper's "
                     "model database; bulk interval where the paper gives one), per convention; "
                     "'default' = the library's defaults (constrictivity opening-26, tortuosity "
                     "neighbourhood-26)", s32)
        fs = finite_size_rows(ref)
        _print_table("Finite size: mean over seeds per N, and minus the largest N", fs)
        summary = {"table2": rows, "variants": detail, "variant_summary": vsum, "finite_size": fs,
                   "section32_calibrated": s32}
        if len({(r["size"], r["voxel_size"]) for r in recs}) > 1:
            gr = grid_rows(recs, big)
            _print_table(f"Grids against {big}^3 x 0.2 um: bias of the mean, rmse of one realization", gr)
            summary["grids"] = gr
        if args.plot and fs:
            plot_finite_size(ref, args.plot)
            print(f"\nfinite-size plot: {args.plot}")
    if args.database:
        db = database_rows(args.database)
        _print_table(f"Database {args.database}: distributions vs paper Section 3.2", db)
        summary["database"] = db
        by_alpha, by_step = database_alpha_rows(args.database)
        _print_table(f"Database {args.database}: specific surface area against the largest per-voxel "
                     "alpha (paper's largest S: 2.61 AM, 2.33 SE per um)", by_alpha)
        _print_table(f"Database {args.database}: the same per gradient function and step h (Eq. 11)",
                     by_step)
        summary["database_alpha"], summary["database_alpha_steps"] = by_alpha, by_step
        if args.database_conventions:
            dbc = database_convention_rows(args.database, log=log)
            _print_table(f"Database {args.database}: the same structures under each convention vs "
                         "Section 3.2", dbc)
            summary["database_conventions"] = dbc
    if args.json:
        _save(args.json, records, {"summary": summary})
        print(f"\nJSON: {args.json}")
    secs = {}
    for r in recs:
        for k, v in r["seconds"].items():
            secs.setdefault((r["size"], r["voxel_size"], k), []).append(v)
    if secs:
        rows = [{"N": n, "voxel um": f"{h:g}", "step": k, "median s": f"{np.median(v):.1f}", "runs": len(v)}
                for (n, h, k), v in sorted(secs.items())]
        _print_table(f"Wall time per step (load now {os.getloadavg()[0]:.1f})", rows)
    return 0
