"""Study tasks drop the model's per-process buffers before describe/conduct on large grids (review)."""
from __future__ import annotations

import numpy as np

import importlib

from vmt_dask.study import tasks

realize_mod = importlib.import_module("vmt_dask.model.realize")   # the package exports the function


def test_large_grids_release_the_model_pool(monkeypatch):
    calls = []
    monkeypatch.setattr(realize_mod, "release_buffers", lambda: calls.append(1) or 0)
    small = np.zeros((8, 8, 8), dtype=np.uint8)
    tasks._release_model_buffers(small)
    assert calls == []
    monkeypatch.setattr(tasks, "POOL_RELEASE_VOXELS", small.size)
    tasks._release_model_buffers(small)
    assert calls == [1]
