"""A real smoke study fills the study page's plots as it runs (events -> science -> page)."""
from __future__ import annotations

import json
import tempfile
import threading

import numpy as np
import pytest

from vmt_dask.dashboard import local_cluster
from vmt_dask.domain import STUDY_PHASES
from vmt_dask.study import FUNCTIONS, load_spec, open_results, run_study

pytestmark = pytest.mark.timeout(600)
SPEC = load_spec("smoke")


def test_running_study_fills_the_plots(tmp_path, dash, chromium):
    from distributed import Client
    from matplotlib.image import imread

    store = str(tmp_path / "smoke.zarr")
    with local_cluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, Client(cluster) as client:
        base = dash.dashboard_base(client)
        result = {}
        runner = threading.Thread(target=lambda: result.update(run=run_study(SPEC, store, client=client)))
        runner.start()
        # mid-run: the study shows up with some structures already folded into the plots
        study = dash.wait_for(lambda: next((s for s in dash.api(client)["studies"] if s["science_version"] > 0),
                                           None), timeout=300)
        runner.join(timeout=500)
        assert result["run"].ok, result["run"].errors
        sid = study["study"]
        science = json.loads(dash.http_get(base + f"vmt/api/science?study={sid}")[2])
        dash.http_get(base + "vmt/api/plots", timeout=120)  # the layout is built (once) before the page loads
        url = base + f"vmt/studies#{sid}"
        png = tmp_path / "live.png"
        with tempfile.TemporaryDirectory() as profile:
            shot = dash.headless(chromium, profile, "--window-size=1200,1800", "--virtual-time-budget=8000",
                             f"--screenshot={png}", url, timeout=240)
        assert png.exists(), shot.stderr[-2000:]

    # every database structure is counted once per phase in the histograms, and joined with its
    # M-factor in the scatter; each of the 8 functions has its steps around the point
    ds = open_results(store)
    n = SPEC.n_structures
    data = science["data"]
    for ph in STUDY_PHASES:
        assert sum(data[f"hist-volume_fraction_{ph}"]["top"]) == n  # all inside [0, 1)
        eps = np.sort(np.asarray(ds[f"volume_fraction_{ph}"].values, dtype=float))
        np.testing.assert_allclose(np.sort(data[f"scatter-{ph}"]["x"]), eps)
        np.testing.assert_allclose(np.sort(data[f"scatter-{ph}"]["y"]),
                                   np.sort(np.asarray(ds[f"m_factor_{ph}"].values, dtype=float)))
    # one line per function with a finite, non-zero value at the point (a relative change needs
    # one) and a finite value after at least one step; at 24^3 SE may not percolate (NaN tortuosity)
    def drawn(f):
        base = float(ds[f].values[0])
        steps = np.asarray(ds[f].values[np.asarray(ds["function"].values) == f], dtype=float)
        return np.isfinite(base) and base != 0.0 and np.isfinite(steps).any()

    expected = sum(drawn(f) for f in FUNCTIONS)
    assert expected >= 6
    assert len(data["steps-AM"]["xs"]) + len(data["steps-SE"]["xs"]) == expected
    img = (imread(png)[..., :3] * 255).round().astype(int).reshape(-1, 3)
    se_bar = [round(0.45 * 255 + 0.55 * c) for c in (0x1F, 0x77, 0xB4)]  # SE histogram fill over white
    assert int((np.abs(img - se_bar).max(axis=1) <= 3).sum()) > 100, "no histogram bars painted"
