"""The report renders from a small dataset; every figure is a readable image."""
from __future__ import annotations

import os

import matplotlib.image as mpimg
import numpy as np
import pytest

from vmt_dask.regression import fit_all
from vmt_dask.regression.synthetic import synthetic_results
from vmt_dask.report import figures as F
from vmt_dask.report.report import write_report


def _check_png(path):
    assert os.path.getsize(path) > 1000, path
    img = mpimg.imread(path)  # PIL under the hood: raises if not an image
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    # not blank: more than one colour
    assert np.ptp(img[..., :3]) > 0.1


def _labels(seed, n=24):
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([0, 1, 2], dtype=np.uint8), size=(n, n, n), p=[0.1, 0.4, 0.5])


@pytest.fixture(scope="module")
def small():
    return synthetic_results(2, seed=3)  # 66 structures


def test_report_from_small_dataset(tmp_path, small):
    vols = {k: _labels(i) for i, k in enumerate(("BM01", "BM03", "BM10"))}
    rep = write_report(small, tmp_path / "out", volumes=vols, seed=1, source="synthetic")
    assert set(rep.figures) == {"parity_AM", "parity_SE", "distributions", "gradient_steps", "calibrated_slices"}
    for path in rep.figures.values():
        _check_png(path)
    text = open(rep.html, encoding="utf-8").read()
    assert text.count("data:image/png;base64,") == 5  # self-contained
    assert "<img" in text and "src='figures/" not in text
    assert "Regression table" in text and "M4" in text and "MAPE" in text
    assert os.path.getsize(rep.tables["csv"]) > 0 and os.path.getsize(rep.tables["markdown"]) > 0
    assert rep.table.ok


def test_report_survives_bad_data(tmp_path):
    ds = synthetic_results(1, seed=0).isel(structure=[0, 1]).drop_vars(["function"])
    rep = write_report(ds, tmp_path, slice_size=None)
    assert rep.table is None
    assert any("too few structures" in n for n in rep.notes)
    assert any("gradient steps" in n and "function" in n for n in rep.notes)
    assert set(rep.figures) == {"distributions"}
    _check_png(rep.figures["distributions"])
    assert "too few structures" in open(rep.html, encoding="utf-8").read()


def test_parity_figure_shows_skipped_model(tmp_path):
    ds = synthetic_results(1, seed=0).drop_vars("tortuosity_std_SE")
    table = fit_all(ds)
    path = F.save_figure(F.parity_figure(table, "SE"), tmp_path / "p.png")
    _check_png(path)
    with pytest.raises(ValueError, match="phase must be one of"):
        F.parity_figure(table, "pore")


def test_violins_with_nan_and_constant_values(tmp_path):
    ds = synthetic_results(1, seed=0).copy(deep=True)
    v = ds["tortuosity_mean_SE"].values
    v[:5] = np.nan
    ds["tortuosity_mean_SE"] = ("structure", v)
    ds["constrictivity_AM"] = ("structure", np.ones(ds.sizes["structure"]))
    _check_png(F.save_figure(F.violin_figure(ds), tmp_path / "v.png"))


def test_slices_figure_validates():
    with pytest.raises(ValueError, match="3-D"):
        F.slices_figure({"x": np.zeros((4, 4), np.uint8)})
    with pytest.raises(ValueError, match="empty"):
        F.slices_figure({})


def test_calibrated_slices_from_model(tmp_path, small):
    from vmt_dask.report.report import calibrated_volumes

    vols = calibrated_volumes((32, 32, 32), seed=2)
    assert set(vols) == {"BM01", "BM03", "BM10"}
    for v in vols.values():
        assert v.dtype == np.uint8 and v.shape == (32, 32, 32) and set(np.unique(v)) <= {0, 1, 2}
    _check_png(F.save_figure(F.slices_figure(vols), tmp_path / "s.png"))
