"""Synthetic study results with known structure-property relations.

For tests, documentation and trying the report without running a study: a
Dataset laid out as ``docs/results-schema.md`` (dimension ``structure``,
descriptors and M-factors per phase, theta and the provenance coordinates of
the gradient design), whose M-factors follow one predictor of Eqs. (18)-(21)
with chosen coefficients plus Gaussian noise.
"""
from __future__ import annotations

from itertools import combinations
from typing import Mapping

import numpy as np

from ..domain import PARAMETER_NAMES, PRESET_NAMES, STUDY_DESCRIPTORS, STUDY_PHASES, TABLE1, UNITS
from ..errors import InputError
from .models import get_model, predict

__all__ = ["synthetic_results", "PAPER_M3", "FUNCTIONS", "STEPS"]

#: Paper Table 5, M3 (Eq. 20) per phase: (c1, c2, c3, c4).
PAPER_M3: dict[str, tuple[float, ...]] = {"AM": (1.10, -19.60, 0.03, 0.24), "SE": (3.99, -0.54, 0.13, 3.26)}

#: The eight descriptor functions stepped along (docs/conventions.md, "Parameter study").
FUNCTIONS = tuple(f"{d}_{p}" for d in STUDY_DESCRIPTORS for p in STUDY_PHASES)
#: Step sizes h per function kind (those of the paper preset, vmt_dask/presets/paper.yaml).
STEPS = {"default": (-0.2, -0.1, 0.1, 0.2), "constrictivity": (-0.05, -0.025, 0.025, 0.05)}
# Descriptor ranges (paper Section 3.2 / Fig. 5); sigma(tau) from BM01-like volumes.
_RANGES = {
    "volume_fraction": {"AM": (0.45, 0.57), "SE": (0.33, 0.48)},
    "tortuosity_mean": {"AM": (1.05, 1.08), "SE": (1.08, 1.19)},
    "tortuosity_std": {"AM": (0.02, 0.04), "SE": (0.05, 0.12)},
    "constrictivity": {"AM": (0.85, 0.99), "SE": (0.31, 0.99)},
    "specific_surface_area": {"AM": (0.7, 1.7), "SE": (0.27, 1.35)},
}
_SHORT = {"volume_fraction": "eps", "tortuosity_mean": "mu_tau", "tortuosity_std": "sigma_tau",
          "constrictivity": "beta"}


def synthetic_results(
    n_points: int = 15,
    *,
    seed: int = 0,
    model: str = "M3",
    coefficients: Mapping[str, tuple[float, ...]] | None = None,
    noise: float = 0.005,
):
    """A results Dataset whose M-factors follow a known predictor.

    Parameters
    ----------
    n_points : int, default 15
        Interpolated points; each gets 32 gradient steps (8 functions x 4 h),
        so there are ``33 * n_points`` structures (495 for 15).
    seed : int, default 0
        Seed of all random draws.
    model : {"M1", "M2", "M3", "M4"}, default "M3"
        Predictor generating the M-factors.
    coefficients : mapping phase -> tuple, optional
        Its coefficients per phase; default the paper's M3 values
        (:data:`PAPER_M3`), which requires ``model="M3"``.
    noise : float, default 0.005
        Standard deviation of the additive Gaussian noise on the M-factors.

    Returns
    -------
    xarray.Dataset
        Descriptor variables ``<descriptor>_<phase>``, ``m_factor_<phase>``,
        ``theta(structure, parameter)`` and the provenance coordinates
        ``pair``, ``t``, ``point``, ``function``, ``h``, ``seed``.  The
        true coefficients are in ``attrs["true_coefficients"]``.
    """
    import xarray as xr

    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 1:
        raise InputError(f"n_points must be a positive int, got {n_points!r}")
    if noise < 0:
        raise InputError(f"noise must be >= 0, got {noise!r}")
    mdl = get_model(model)
    if coefficients is None:
        if mdl.name != "M3":
            raise InputError(f"coefficients are required for model {mdl.name!r} (defaults exist for M3 only)")
        coefficients = PAPER_M3
    rng = np.random.default_rng(seed)
    pairs = list(combinations(PRESET_NAMES, 2))
    ts = [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6]
    rows = []  # (pair, t, point, function, h)
    for p in range(n_points):
        a, b = pairs[(p // 5) % 3]
        t = ts[p % 5]
        rows.append((f"{a}-{b}", t, p, "", 0.0))
        for f in FUNCTIONS:
            for h in STEPS["constrictivity" if f.startswith("constrictivity") else "default"]:
                rows.append((f"{a}-{b}", t, p, f, h))
    n = len(rows)
    point = np.array([r[2] for r in rows])
    func = np.array([r[3] for r in rows], dtype=object)
    h = np.array([r[4] for r in rows])
    data = {}
    for stem, by_phase in _RANGES.items():
        for phase, (lo, hi) in by_phase.items():
            base = rng.uniform(lo, hi, size=n_points)[point]
            # A step along this descriptor's own function moves it by about
            # h times a third of its range per unit h; other steps jitter it.
            slope = rng.uniform(0.5, 1.5, size=n_points)[point] * (hi - lo)
            own = func == f"{stem}_{phase}"
            val = base + np.where(own, slope * h, 0.0) + rng.normal(0, 0.02 * (hi - lo), size=n)
            val = np.clip(val, lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
            if stem == "constrictivity":
                val = np.clip(val, 1e-3, 1.0)
            data[f"{stem}_{phase}"] = val
    for phase in STUDY_PHASES:
        desc = {_SHORT[s]: data[f"{s}_{phase}"] for s in _SHORT}
        m = predict(mdl, coefficients[phase], desc) + rng.normal(0, noise, size=n)
        data[f"m_factor_{phase}"] = m
        data[f"tortuosity_reached_{phase}"] = np.ones(n)
        data[f"r_max_{phase}"] = rng.uniform(0.4, 1.0, size=n)
        data[f"r_min_{phase}"] = data[f"r_max_{phase}"] * np.sqrt(data[f"constrictivity_{phase}"])
    theta = np.empty((n, len(PARAMETER_NAMES)))
    for j, (pair, t, *_rest) in enumerate(rows):
        a, b = pair.split("-")
        theta[j] = (1 - t) * np.asarray(TABLE1[a]) + t * np.asarray(TABLE1[b])
    ds = xr.Dataset(
        {k: (("structure",), v) for k, v in data.items()} | {"theta": (("structure", "parameter"), theta)},
        coords={
            "structure": np.arange(n),
            "parameter": np.array(PARAMETER_NAMES, dtype=object),
            "pair": (("structure",), np.array([r[0] for r in rows], dtype=object)),
            "t": (("structure",), np.array([r[1] for r in rows])),
            "point": (("structure",), point),
            "function": (("structure",), func),
            "h": (("structure",), h),
            "seed": (("structure",), rng.integers(0, 2**31, size=n)),
        },
        attrs={
            "synthetic": 1,
            "generating_model": mdl.name,
            "true_coefficients": {p: list(map(float, c)) for p, c in coefficients.items()},
            "noise": float(noise),
        },
    )
    for phase in STUDY_PHASES:
        for stem in ("specific_surface_area", "r_min", "r_max"):
            ds[f"{stem}_{phase}"].attrs["units"] = UNITS[stem]
    return ds
