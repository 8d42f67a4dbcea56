"""M-factor of BM01/BM03/BM10 realizations beside paper Table 2, with the conventions that could explain a gap.

    python -m vmt_dask.bench mgap [--presets BM01,BM03,BM10] [--sizes 200,401] [--seeds 1]
        [--variants-max 200] [--out FILE]

For each preset, grid size and seed one realization of the calibrated model is
generated and, for SE and AM, the M-factor is computed

* along z with this solver's convention (potential on the outer faces half a
  voxel beyond the first and last layer, no flux across the lateral faces, only
  the percolating cluster; the paper's Section 2.5 wording);
* along x and y as well (for sizes <= ``--variants-max``): is Table 2 perhaps a
  mean over directions, and how anisotropic is the model's structure?
* with **contact layers**: one fully conducting layer added before the first and
  after the last layer along z (a commercial solver's electrode/reservoir
  convention), the structure's M recovered by subtracting the two layers' series
  resistance: ``n / M = (n + 2) / M_padded - 2``;
* with **mirrored lateral boundaries**: identical to no-flux for this
  discretisation (a reflected copy carries no current across the mirror plane),
  so it is not solved separately -- stated here for completeness.

``M_z_at_eps_paper`` moves our M to the paper's volume fraction with the paper's
own fit M = eps^c1 (Table 5, M1), so that a realization's volume-fraction
fluctuation is not read as an M gap.  Finite size shows in the sizes column.  Table 2 was computed on the
measured tomograms, not on model realizations, so part of any gap is the
model's fit; the fidelity benchmark (issue 12) compares the descriptors.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ._measure import format_table
from ..domain import PHASES

_CODES = {ph: PHASES[ph] for ph in ("SE", "AM")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presets", default="BM01,BM03,BM10",
                        help="comma-separated presets whose calibrated structures are solved "
                             "(default BM01,BM03,BM10)")
    parser.add_argument("--sizes", default="200,401", help="comma-separated grid edges")
    parser.add_argument("--seeds", default="1", help="comma-separated seeds")
    parser.add_argument("--variants-max", type=int, default=200,
                        help="largest size at which x, y and the contact-layer variant run")
    parser.add_argument("--out", default=None, help="also write the rows as JSON to this file")


def _padded_m(mask: np.ndarray) -> float:
    """Structure M along z with one fully conducting contact layer at each end."""
    from vmt_dask.conductivity import m_factor

    n = mask.shape[2]
    pad = np.ones(mask.shape[:2] + (n + 2,), bool)
    pad[:, :, 1:-1] = mask
    m_pad = m_factor(pad, axis=2).m_factor
    del pad
    if m_pad <= 0:
        return 0.0
    # resistance per unit cross-section in voxel units: (n + 2) / M_pad = 2 * 1 + n / M
    return n / ((n + 2) / m_pad - 2.0)


def run(args: argparse.Namespace) -> int:
    from vmt_dask.conductivity import m_factors
    from vmt_dask.model import CALIBRATED, realize
    from vmt_dask.paper import SECTION_3_2_RANGES, TABLE2, TABLE5

    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    rows = []
    for preset in presets:
        for n in sizes:
            for seed in seeds:
                t0 = time.perf_counter()
                labels = realize(CALIBRATED[preset], (n, n, n), seed=seed)
                t_gen = time.perf_counter() - t0
                for phase, code in _CODES.items():
                    mask = labels == code
                    axes = (2, 0, 1) if n <= args.variants_max else (2,)
                    t0 = time.perf_counter()
                    res = m_factors(mask, axes=axes)
                    t_solve = time.perf_counter() - t0
                    paper = TABLE2[preset][f"m_factor_{phase}"]
                    eps_paper = TABLE2[preset][f"volume_fraction_{phase}"]
                    # the paper's own M1 fit M = eps^c1 (Table 5) moves our M to the paper's
                    # volume fraction, so a realization's eps fluctuation is not read as a gap
                    c1 = TABLE5[(phase, "M1")].coefficients[0]
                    eps = res[2].volume_fraction
                    m_adj = res[2].m_factor * (eps_paper / eps) ** c1 if eps > 0 else 0.0
                    row = {"preset": preset, "N": n, "seed": seed, "phase": phase,
                           "eps": round(res[2].volume_fraction, 4),
                           "eps_paper": TABLE2[preset][f"volume_fraction_{phase}"],
                           "M_paper": paper, "M_z": round(res[2].m_factor, 4),
                           "z_vs_paper_%": round(100 * (res[2].m_factor - paper) / paper, 1),
                           "M_z/eps": round(res[2].m_factor / max(res[2].volume_fraction, 1e-12),
                                            4),
                           "M_z_at_eps_paper": round(m_adj, 4),
                           "adj_vs_paper_%": round(100 * (m_adj - paper) / paper, 1),
                           "iters_z": res[2].iterations, "solve_s": round(t_solve, 1),
                           "gen_s": round(t_gen, 1)}
                    if len(axes) == 3:
                        mx, my = res[0].m_factor, res[1].m_factor
                        mean = (mx + my + res[2].m_factor) / 3
                        row.update(M_x=round(mx, 4), M_y=round(my, 4), M_mean=round(mean, 4),
                                   mean_vs_paper_pct=round(100 * (mean - paper) / paper, 1))
                        mc = _padded_m(mask)
                        row.update(M_contact=round(mc, 4),
                                   contact_vs_paper_pct=round(100 * (mc - paper) / paper, 1))
                    rows.append(row)
                    print("  " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
                del labels
    columns = ["preset", "N", "seed", "phase", "eps", "eps_paper", "M_paper", "M_z",
               "z_vs_paper_%", "M_z/eps", "M_z_at_eps_paper", "adj_vs_paper_%", "M_x", "M_y", "M_mean", "mean_vs_paper_pct",
               "M_contact", "contact_vs_paper_pct", "iters_z", "solve_s", "gen_s"]
    print()
    print(format_table(rows, columns))
    print("\nM/eps removes the volume-fraction part of the gap (the paper's M/eps: "
          + ", ".join(f"{p} SE {TABLE2[p]['m_factor_SE'] / TABLE2[p]['volume_fraction_SE']:.3f}"
                      f" AM {TABLE2[p]['m_factor_AM'] / TABLE2[p]['volume_fraction_AM']:.3f}"
                      for p in presets) + ")")
    print("paper Section 3.2, M over the 495 virtual structures: SE "
          f"{SECTION_3_2_RANGES['m_factor_SE'].low}..{SECTION_3_2_RANGES['m_factor_SE'].high}, AM "
          f"{SECTION_3_2_RANGES['m_factor_AM'].low}..{SECTION_3_2_RANGES['m_factor_AM'].high} "
          "(Table 2 is measured tomograms, not model realizations)")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0
