"""The study page rendered once in headless Chromium (Debian's ``chromium`` package)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from vmt_dask.events import STAGES

_INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"


def _chromium() -> str:
    """Path of the chromium binary, installing the Debian package if missing and possible."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and there is no apt-get to install it")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        pytest.skip(f"chromium is not installed and installing needs root: {_INSTALL}")
    proc = subprocess.run(["bash", "-c", _INSTALL], capture_output=True, text=True, timeout=900)
    path = shutil.which("chromium")
    if proc.returncode != 0 or not path:
        pytest.skip(f"could not install chromium ({_INSTALL}): rc={proc.returncode}, "
                    f"{proc.stderr.strip()[-300:]}")
    return path


def _headless(binary: str, profile: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def chromium() -> str:
    return _chromium()


def test_study_page_screenshot(chromium, cluster_client, dash, tmp_path):
    from matplotlib.image import imread

    dash.publish_example(cluster_client)
    dash.wait_for(lambda: any(s["study"] == "example" for s in dash.api(cluster_client)["studies"]))
    url = dash.dashboard_base(cluster_client) + "vmt/studies"
    png = tmp_path / "studies.png"
    with tempfile.TemporaryDirectory() as profile:
        shot = _headless(chromium, profile, "--window-size=1200,900", f"--screenshot={png}", url)
        assert png.exists(), f"no screenshot: rc={shot.returncode} {shot.stderr[-2000:]}"
        # the DOM after the browser ran the page (scripts included) shows every stage
        dom = _headless(chromium, profile, "--virtual-time-budget=3000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for stage in STAGES:
        assert f'data-stage="{stage}"' in dom.stdout
    assert "Study example" in dom.stdout and "M-factors done" in dom.stdout

    if os.environ.get("VMT_KEEP_SCREENSHOT"):
        shutil.copy(png, os.environ["VMT_KEEP_SCREENSHOT"])
    img = imread(png)[..., :3]  # float RGB in [0, 1]
    assert img.shape[:2] == (900, 1200)
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
