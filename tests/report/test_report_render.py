"""The report renders from a small dataset; every figure is a readable image."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import matplotlib.image as mpimg
import numpy as np
import pytest

from vmt_dask.regression import fit_all
from vmt_dask.regression.synthetic import synthetic_results
from vmt_dask.report import figures as F
from vmt_dask.paper import TABLE2, TABLE5
from vmt_dask.report.report import grid_note, write_report


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
    assert set(rep.svgs) == set(rep.figures)
    for path in rep.svgs.values():  # the same figures as SVG: well-formed XML with an <svg> root
        assert ET.parse(path).getroot().tag.endswith("svg")
    text = open(rep.html, encoding="utf-8").read()
    assert text.count("data:image/svg+xml;base64,") == 5  # self-contained (SVG embedded)
    assert "<img" in text and "src='figures/" not in text
    assert "Regression table" in text and "M4" in text and "MAPE" in text
    assert os.path.getsize(rep.tables["csv"]) > 0 and os.path.getsize(rep.tables["markdown"]) > 0
    assert rep.table.ok
    # paper Table 5 beside ours: every paper R^2 and MAPE appears in the comparison
    cmp = text[text.index("Ours beside paper Table 5"):]
    for ref in TABLE5.values():
        assert f"{ref.r2:.3f}" in cmp and f"{100 * ref.mape:.2f}%" in cmp
    # the calibrated structures beside paper Table 2, with the paper's values
    t2 = text[text.index("Calibrated structures beside paper Table 2"):]
    assert all(name in t2 for name in ("BM01", "BM03", "BM10"))
    assert f"<td class='paper'>{TABLE2['BM10']['constrictivity_SE']:.3g}</td>" in t2


def test_grid_note_says_when_the_grid_is_not_the_papers():
    assert grid_note((401, 401, 401), 0.2) is None
    note = grid_note((64, 64, 64), 0.2)
    assert "64 × 64 × 64 voxels" in note and "401³" in note and "12.8" in note
    assert grid_note((401, 401, 401), 0.1) is not None


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
