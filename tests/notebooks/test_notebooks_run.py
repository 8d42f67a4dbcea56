"""Both notebooks run top to bottom at smoke size with a local kernel (nbclient)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the 'notebook' extra is not installed")
nbclient = pytest.importorskip("nbclient", reason="the 'notebook' extra is not installed")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("01-submit-study.ipynb", "02-explore-model.ipynb", "03-calibrate-and-design.ipynb")


# Appended before the notebook's clean-up cell: while the embedded LocalCluster still runs,
# read the study page and its JSON over HTTP, as a browser would (this is the dashboard's
# end-to-end check with a real smoke study, without running a second study).
_HTTP_PROBE = """
import json as _json, urllib.request as _rq
_base = f"http://127.0.0.1:{client.scheduler_info()['services']['dashboard']}/"
with _rq.urlopen(_base + "vmt/api/studies", timeout=10) as _r:
    print("VMT-API " + _json.dumps(_json.load(_r)))
with _rq.urlopen(_base + "vmt/studies", timeout=10) as _r:
    print("VMT-PAGE " + _json.dumps(_r.read().decode()))
"""


def _execute(name: str, cwd: Path, monkeypatch, *, probe: bool = False) -> nbformat.NotebookNode:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    if probe:
        last = max(i for i, c in enumerate(book.cells) if "client.close()" in c.source)
        book.cells.insert(last, nbformat.v4.new_code_cell(_HTTP_PROBE))
    # the kernel inherits this process's environment
    monkeypatch.setenv("VMT_PRESET", "smoke")
    # one worker process for the embedded cluster (the notebook's default is 2): a second process
    # would load every kernel family from numba's cache again, for a 17-structure study; the
    # 2-worker study on worker processes is tests/study/test_study_run.py's reference
    monkeypatch.setenv("VMT_WORKERS", "1")
    monkeypatch.setenv("VMT_STORE", str(cwd / "study-smoke.zarr"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend renders PNGs
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    client = nbclient.NotebookClient(
        book, timeout=240, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    return book


def _text(book) -> str:
    out = []
    for cell in book.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", ""))
            out.extend(str(v) for v in o.get("data", {}).values())
    return "\n".join(out)


@pytest.mark.slow
def test_submit_study_notebook(tmp_path, monkeypatch):
    book = _execute(NAMES[0], tmp_path, monkeypatch, probe=True)
    text = _text(book)
    assert "/vmt/studies" in text           # the study page link is shown
    assert "study finished" in text
    assert 'data-stage="conduct"' in text   # live progress was displayed
    assert "xarray.Dataset" in text or "<xarray" in text
    assert (tmp_path / "study-smoke.zarr").exists()
    images = sum("image/png" in o.get("data", {}) for c in book.cells for o in c.get("outputs", []))
    assert images >= 2                      # distributions and parity plots

    # the study page, over HTTP, after the smoke study on the notebook's LocalCluster
    lines = text.splitlines()
    api = json.loads(next(x for x in lines if x.startswith("VMT-API "))[len("VMT-API "):])
    page = json.loads(next(x for x in lines if x.startswith("VMT-PAGE "))[len("VMT-PAGE "):])
    (study,) = api["studies"]
    assert study["state"] == "finished" and study["failed"] == 0 and study["errors"] == []
    assert study["store"].endswith("study-smoke.zarr")
    for stage in api["stages"]:
        entry = study["stages"][stage]
        assert entry["total"] > 0 and entry["done"] == entry["total"], (stage, entry)
        assert f'data-stage="{stage}"' in page
    assert f"Study {study['study']}" in page and "finished" in page
    if not study["values"]:
        warnings.warn("the study coordinator publishes no descriptor/M-factor values in its "
                      "events' latest; the study page shows none", stacklevel=1)


@pytest.mark.slow
def test_explore_model_notebook(tmp_path, monkeypatch):
    book = _execute(NAMES[1], tmp_path, monkeypatch)
    text = _text(book)
    for name in ("BM01", "BM03", "BM10", "interpolated", "step volume_fraction_AM"):
        assert name in text
    images = sum("image/png" in o.get("data", {}) for c in book.cells for o in c.get("outputs", []))
    assert images >= 2                      # slices and descriptor plot


@pytest.mark.slow
def test_calibrate_and_design_notebook(tmp_path, monkeypatch):
    book = _execute(NAMES[2], tmp_path, monkeypatch)
    text = _text(book)
    for needle in ("accepted:", "calibrated", "candidates verified", "endpoints:"):
        assert needle in text
    images = sum("image/png" in o.get("data", {}) for c in book.cells for o in c.get("outputs", []))
    assert images >= 3                      # slices, two-point functions, Pareto plot


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stripped_and_parametrized(name):
    """Committed notebooks carry no outputs; a tagged parameter cell reads VMT_PRESET."""
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]
    params = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    assert 'os.environ.get("VMT_PRESET", "smoke")' in params[0].source
