"""The simulation-based refinement stays within its budget and does not worsen the fit."""
from __future__ import annotations

import numpy as np

from vmt_dask.calibrate import fit_theta
from vmt_dask.model import realize


def test_refinement_budget_and_records(tmp_path):
    theta = (0.05, 0.4, 0.15, 0.3, 0.95, 2.1, -0.1)
    image = realize(theta, 20, seed=5, voxel_size=0.6, generator="lattice")  # the runner's generator: one compile
    store = str(tmp_path / "r.zarr")
    base = fit_theta(image, voxel_size=0.6, realizations=2, store=store)
    res = fit_theta(image, voxel_size=0.6, realizations=2, refine_budget=6, store=store)
    sim = [h for h in res.history if h["stage"] == "simulation"]
    assert 1 <= len(sim) <= 6 + 1          # Nelder-Mead may overshoot maxfev by one step
    # each new simulated theta costs R = 2 realizations; the analytic fit's are reused
    assert res.cost["evaluations_reused"] >= 2
    assert res.cost["evaluations_computed"] <= 2 * (len(sim) + 1)
    # Nelder-Mead returns the best point it evaluated, the analytic fit being its first vertex
    objective = [h["objective"] for h in sim]
    assert min(objective) <= objective[0] + 1e-9
    assert np.all(np.isfinite(res.theta))
    assert base.seeds == res.seeds          # common random numbers
