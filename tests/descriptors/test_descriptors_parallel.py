"""Chunked threads of the descriptor kernels (vmt_dask/descriptors/_parallel.py): the result
does not depend on the chunking or the thread count, errors reach the caller, and no
descriptor kernel is a parallel (parfor) numba function (their compile cost is the
descriptors' first-run cost, see the module docstring)."""
import importlib
import pkgutil

import numpy as np
import pytest
from scipy import ndimage

import vmt_dask.descriptors as D
from vmt_dask.descriptors import _parallel
from vmt_dask.descriptors._parallel import run_chunks
from vmt_dask.descriptors.thickness import bottleneck_from_plane, local_thickness_squared


def _fill(out, lo, hi):
    for i in range(lo, hi):
        out[i] += i + 1  # each index written once: a twice-covered or missed index shows


@pytest.mark.parametrize("n,threads,chunks", [(1, 2, None), (7, 3, None), (100, 2, 3), (100, 4, 100),
                                              (5, 8, None)])
def test_run_chunks_covers_each_index_once(monkeypatch, n, threads, chunks):
    monkeypatch.setattr(_parallel, "SERIAL_BELOW", 0)  # threads even for tiny jobs
    out = np.zeros(n, np.int64)
    run_chunks(_fill, (out,), n, threads=threads, chunks=chunks)
    np.testing.assert_array_equal(out, np.arange(1, n + 1))


def test_run_chunks_raises_the_kernels_error(monkeypatch):
    monkeypatch.setattr(_parallel, "SERIAL_BELOW", 0)

    def bad(lo, hi):
        if lo <= 5 < hi:
            raise ZeroDivisionError("chunk with 5")

    with pytest.raises(ZeroDivisionError, match="chunk with 5"):
        run_chunks(bad, (), 10, threads=2, chunks=10)


def test_run_chunks_small_job_on_the_calling_thread():
    calls = []
    run_chunks(lambda lo, hi: calls.append((lo, hi)), (), 50, work=10, threads=4)
    assert calls == [(0, 50)]


def test_kernels_independent_of_threads_and_chunks(monkeypatch):
    # 40 x 44 x 48 three-phase noise: the threaded path (above SERIAL_BELOW) against one
    # serial call per kernel; integer kernels, so equality is exact
    rng = np.random.default_rng(3)
    f = ndimage.gaussian_filter(rng.standard_normal((40, 44, 48)), 2.0)
    labels = np.digitize(f, np.quantile(f, [0.3, 0.6])).astype(np.uint8)
    m = labels == 2

    def run():
        dt = D.squared_edt(m)
        lt = local_thickness_squared(dt)
        return (dt, lt, bottleneck_from_plane(lt), D.squared_distance_to(m, bound=30),
                D.geodesic_distance_to_plane(m), D.specific_surface_area(m, voxel_size=0.2),
                D.specific_surface_area(m, voxel_size=(0.2, 0.3, 0.25)),
                D.constrictivity(m, voxel_size=(0.2, 0.2, 0.3)).r_max)

    threaded = run()
    monkeypatch.setattr(_parallel, "SERIAL_BELOW", 1 << 62)
    serial = run()
    monkeypatch.setattr(_parallel, "SERIAL_BELOW", 0)
    monkeypatch.setattr(_parallel, "n_threads", lambda: 3)
    three = run()
    for a, b, c in zip(threaded, serial, three):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_no_descriptor_kernel_is_a_parfor():
    # parallel=True roughly triples a kernel's compile time (docs/descriptors.md, first run)
    found = 0
    for info in pkgutil.iter_modules(D.__path__):
        mod = importlib.import_module(f"vmt_dask.descriptors.{info.name}")
        for name, obj in vars(mod).items():
            opts = getattr(obj, "targetoptions", None)
            if isinstance(opts, dict) and getattr(obj, "__module__", "") == mod.__name__:
                found += 1
                assert not opts.get("parallel"), f"{mod.__name__}.{name} is compiled with parallel=True"
                assert opts.get("nogil"), f"{mod.__name__}.{name} holds the GIL: threads would serialize"
    assert found >= 15
