"""The study page rendered once in headless Chromium (Debian's ``chromium`` package)."""
from __future__ import annotations

import os
import re
import shutil
import tempfile

import numpy as np

from vmt_dask.events import STAGES


def test_study_page_screenshot(chromium, cluster_client, dash, tmp_path):
    from matplotlib.image import imread

    dash.publish_example(cluster_client)
    dash.publish_science(cluster_client)
    dash.publish_example(cluster_client, study="second")  # a second study: a second tab
    dash.wait_for(lambda: {"example", "second"} <= {s["study"] for s in dash.api(cluster_client)["studies"]})
    dash.http_get(dash.dashboard_base(cluster_client) + "vmt/api/plots", timeout=120)  # layout built once
    url = dash.dashboard_base(cluster_client) + "vmt/studies#example"
    png = tmp_path / "studies.png"
    with tempfile.TemporaryDirectory() as profile:
        # virtual time lets the page's scripts fetch the Bokeh layout and the data, and draw; one
        # browser start writes the screenshot and prints the DOM after the scripts ran
        dom = dash.headless(chromium, profile, "--window-size=1200,1800", "--virtual-time-budget=8000",
                            f"--screenshot={png}", "--dump-dom", url, timeout=240)
        assert png.exists(), f"no screenshot: rc={dom.returncode} {dom.stderr[-2000:]}"
    # the DOM after the browser ran the page (scripts included) shows every stage
    assert dom.returncode == 0, dom.stderr[-2000:]
    for stage in STAGES:
        assert f'data-stage="{stage}"' in dom.stdout
    assert "Study example" in dom.stdout and "M-factors done" in dom.stdout
    # one tab per study, the selected one active, the other study's section hidden
    assert dom.stdout.count("<button type=\"button\" class=\"vmt-tab") == 2 and 'class="vmt-tab active" data-study="example"' in dom.stdout
    assert re.search(r'<section class="vmt-study" data-study="second"[^>]*hidden', dom.stdout)
    # the Bokeh plots were embedded for the selected study
    assert 'class="vmt-plot-holder" data-study="example"' in dom.stdout
    assert "bk-Column" in dom.stdout or "bk-root" in dom.stdout or 'data-root-id' in dom.stdout

    if os.environ.get("VMT_KEEP_SCREENSHOT"):
        shutil.copy(png, os.environ["VMT_KEEP_SCREENSHOT"])
    img = imread(png)[..., :3]  # float RGB in [0, 1]
    assert img.shape[:2] == (1800, 1200)
    pixels = (img * 255).round().astype(np.uint8).reshape(-1, 3)
    colours = np.unique(pixels, axis=0)
    assert len(colours) > 50, "screenshot looks blank"  # text anti-aliasing gives many shades

    def count(rgb):
        return int(np.all(pixels == np.array(rgb, dtype=np.uint8), axis=1).sum())

    # progress bars were painted: blue (partial stages) and green (complete stages); each
    # bar is 14 px high, so a stage at fraction f fills about 14 * 260 * f pixels.
    assert count((0x1F, 0x77, 0xB4)) > 14 * 260 * 0.1
    assert count((0x2C, 0xA0, 0x2C)) > 14 * 260 * 1.5
    # the failed counter and error text are red
    assert count((0xD6, 0x27, 0x28)) > 20
    # the plots were drawn: histogram bars of AM (orange) and SE (blue) at fill alpha 0.55 over
    # white give (1 - 0.55) * 255 + 0.55 * colour per channel; the viridis scatter and the
    # shaded paper ranges add many further colours
    def blend(rgb, alpha=0.55):
        return tuple(int(round((1 - alpha) * 255 + alpha * c)) for c in rgb)

    def near(rgb, tol=3):
        return int((np.abs(pixels.astype(int) - np.array(rgb)).max(axis=1) <= tol).sum())

    assert near(blend((0xFF, 0x7F, 0x0E))) > 200, "no AM histogram bars"
    assert near(blend((0x1F, 0x77, 0xB4))) > 200, "no SE histogram bars"
