"""The report renders from the smoke study (issue 6: "the report renders from the
smoke study and every figure file is non-empty and opens as an image")."""
from __future__ import annotations

import os

import matplotlib.image as mpimg
import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_store(smoke_study):
    """The session's smoke study (tests/conftest.py)."""
    assert smoke_study.run.state == "finished", smoke_study.run.state
    return smoke_study.store


def test_report_from_smoke_study(smoke_store, tmp_path):
    from vmt_dask.cli import main
    from vmt_dask.report.io import load_results
    from vmt_dask.report.report import write_report

    results = load_results(smoke_store)
    assert results.sizes["structure"] == 17
    # Slices of the calibrated structures are covered in test_report_render.py.
    rep = write_report(results, tmp_path / "report", slice_size=None, source=smoke_store)
    assert {"distributions", "gradient_steps"} <= set(rep.figures)
    # 17 structures split 12 / 5: every model can be fitted unless the tiny
    # volumes leave a phase non-percolating, which must then be reported.
    if rep.table is not None:
        assert len(rep.table.fits) + len(rep.table.skipped) == 8
        for (phase, model), reason in rep.table.skipped.items():
            assert "too few usable structures" in reason
    for path in rep.figures.values():
        assert os.path.getsize(path) > 1000
        img = mpimg.imread(path)
        assert img.ndim == 3 and np.ptp(img[..., :3]) > 0.1
    assert os.path.getsize(rep.html) > 10_000
    # and the CLI on the same store
    assert main(["regress", smoke_store, "--no-save"]) == 0
