"""The solve's setup (level-1 graph in one edge walk, exact dtype compaction, percolation):
the same arrays and the same M-factor as the reference builds, bit for bit."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from vmt_dask.conductivity import _graph as gr
from vmt_dask.conductivity import _stencil as st
from vmt_dask.conductivity import m_factor, percolating_mask
from vmt_dask.conductivity import multigrid as mg


def _two_walk_graph(pat, base, lut, count, bound, offsets, n_nodes, n_fine2, wx, wy):
    """The level-1 graph as built before the one-walk kernel: degrees, then fill."""
    degree = gr.fine_graph_degrees(pat, base, lut, count, n_nodes)
    rowptr = np.cumsum(degree)
    col = np.empty(int(rowptr[-1]), np.int32)
    val = np.empty(int(rowptr[-1]), np.float32)
    dirichlet = np.empty(n_nodes, np.float32)
    coords = np.empty(n_nodes, np.int64)
    gr.fine_graph_fill(pat, base, lut, count, n_fine2, wx, wy, rowptr, col, val, dirichlet,
                       coords)
    return rowptr, col, val, dirichlet, coords


def _channels(n, seed=11):
    """The solver benchmark's channel stack: a band around the zero level of a smooth
    2-D field (30 %), extruded along z."""
    from vmt_dask.bench.solver import _smooth_noise, _threshold

    section = _threshold(-np.abs(_smooth_noise((n, n), n / 80, seed)), 0.30)
    return np.repeat(section[:, :, None], n, axis=2)


@functools.lru_cache(maxsize=1)
def _structures():
    from vmt_dask.model import CALIBRATED, realize

    out = []
    for preset in ("BM01", "BM03", "BM10"):
        labels = realize(CALIBRATED[preset], (48, 48, 48), seed=2)
        out += [(f"{preset}-{ph}", labels == ph) for ph in (1, 2)]
    return tuple(out) + (("channels", _channels(56)),)


def _level1_inputs(code):
    count = gr.BOX_COUNT
    pat, slab = gr.fine_pieces(code, count)
    n_red = int(slab[0].sum())
    n1 = n_red + int(slab[1].sum())
    offsets = np.zeros_like(slab)
    offsets[0, 1:] = np.cumsum(slab[0])[:-1]
    offsets[1] = n_red + np.concatenate(([0], np.cumsum(slab[1])[:-1]))
    base = gr.fine_bases(pat, count, offsets)
    return pat, base, gr.BOX_LUT, count, gr.BOX_ENTRY_BOUND, offsets, n1, code.shape[2]


def test_box_entry_bound_holds_for_every_box_of_real_structures():
    # The scratch of the one-walk build is sized by BOX_ENTRY_BOUND: a box's rows must
    # never hold more entries.  Checked box by box with the reference degrees (the bound
    # is a claim about 2x2 faces that a wrong table would break on these structures).
    reached = 0
    for name, mask in _structures():
        for axis in (0, 2):
            active = np.ascontiguousarray(np.moveaxis(percolating_mask(mask, axis=axis),
                                                      axis, -1))
            code = st.fine_code(active)
            pat, base, lut, count, bound, offsets, n1, _ = _level1_inputs(code)
            degree = gr.fine_graph_degrees(pat, base, lut, count, n1)[1:]
            occupied = pat != 0
            first = base[occupied].astype(np.int64)
            pieces = count[pat[occupied]].astype(np.int64)
            per_box = np.zeros(first.size, np.int64)
            for c in range(4):
                has = c < pieces
                per_box[has] += degree[first[has] + c]
            assert np.all(per_box <= bound[pat[occupied]]), name
            reached += int(np.count_nonzero(per_box == bound[pat[occupied]]))
    assert reached > 0       # the bound is tight: some boxes reach it


@pytest.mark.parametrize("wx, wy", [(1.0, 1.0), (0.7, 1.3)])
def test_one_walk_level1_graph_equals_the_two_walk_build(wx, wy):
    for name, mask in _structures():
        for axis in (0, 1, 2):
            active = np.ascontiguousarray(np.moveaxis(percolating_mask(mask, axis=axis),
                                                      axis, -1))
            code = st.fine_code(active)
            args = _level1_inputs(code) + (wx, wy)
            new = gr.fine_graph(*args)
            ref = _two_walk_graph(*args)
            for a_new, a_ref, what in zip(new, ref, ("rowptr", "col", "val", "dirichlet",
                                                      "coords")):
                assert a_new.dtype == a_ref.dtype, (name, axis, what)
                np.testing.assert_array_equal(a_new, a_ref, err_msg=f"{name} {axis} {what}")


def test_m_factor_bit_identical_to_the_two_walk_build(monkeypatch):
    # reference: the level-1 graph by two walks (the build before the one-walk kernel)
    for name, mask in _structures():
        new = [m_factor(mask, axis=a).m_factor for a in (0, 2)]
        with monkeypatch.context() as m:
            m.setattr(gr, "fine_graph", _two_walk_graph)
            ref = [m_factor(mask, axis=a).m_factor for a in (0, 2)]
        assert new == ref, name


@pytest.mark.parametrize("wx, wy", [(1.0, 1.0), (0.7, 1.3)])
def test_hierarchy_levels_equal_the_two_walk_build(monkeypatch, wx, wy):
    for name, mask in _structures()[::2]:
        code = st.fine_code(np.ascontiguousarray(percolating_mask(mask)))
        new = mg.ConnectedHierarchy(code, wx=wx, wy=wy, max_coarse=4)
        with monkeypatch.context() as m:
            m.setattr(gr, "fine_graph", _two_walk_graph)
            ref = mg.ConnectedHierarchy(code, wx=wx, wy=wy, max_coarse=4)
        assert len(new.graphs) == len(ref.graphs) >= 4, name
        for g1, g2 in zip(new.graphs, ref.graphs):
            for what in ("dirichlet", "slabs", "agg", "inv"):
                a1, a2 = getattr(g1, what), getattr(g2, what)
                assert (a1 is None) == (a2 is None), (name, what)
                if a1 is not None:
                    assert a1.dtype == a2.dtype, (name, what)
                    np.testing.assert_array_equal(a1, a2, err_msg=f"{name} {what}")
            for a1, a2 in zip(g1.csr(), g2.csr()):
                assert a1.dtype == a2.dtype, name
                np.testing.assert_array_equal(a1, a2, err_msg=name)


def _compact_reference(val, dirichlet):
    """mg._compact_values as written before its one-pass exactness test."""
    def exact(a):
        return not a.size or (float(a.max()) <= 255.0 and bool(np.all(a == np.round(a))))

    if exact(val) and exact(dirichlet):
        return val.astype(np.uint8), dirichlet.astype(np.uint8)
    return val.astype(np.float32, copy=False), dirichlet.astype(np.float32, copy=False)


@pytest.mark.parametrize("values", [
    [0.0, 1.0, 4.0, 255.0], [0.0, 256.0], [1.0, 2.5], [0.0, np.nan], [np.inf, 1.0], [],
    [3.0, 1e-7 + 3.0], [254.99998],
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compact_values_same_as_the_numpy_rule(values, dtype):
    val = np.asarray(values, dtype)
    for dirichlet in (np.asarray([2.0, 0.0], dtype), np.asarray([0.5], dtype), val):
        got = mg._compact_values(val, dirichlet)
        ref = _compact_reference(val, dirichlet)
        for g, r in zip(got, ref):
            assert g.dtype == r.dtype
            np.testing.assert_array_equal(g, r)


def _bits_reference(mask, axes):
    """Percolation bits from scipy's 6-connected labels (the build before the run labelling)."""
    from vmt_dask.conductivity.percolation import face_components, percolating_from_components

    labels, n = face_components(mask)
    out = np.zeros(mask.shape, np.uint8)
    for a in axes:
        out |= percolating_from_components(labels, n, a).astype(np.uint8) << a
    return out


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 6, 1), (3, 4, 5), (17, 9, 13), (37, 33, 31)])
def test_percolation_bits_equal_scipy_labelling(shape):
    from scipy import ndimage as ndi

    from vmt_dask.conductivity.percolation import percolation_bits

    rng = np.random.default_rng(sum(shape))
    for frac in (0.2, 0.3116, 0.5, 0.75, 1.0):      # 0.3116: site percolation threshold
        for sigma in (0.0, 1.0):
            f = rng.standard_normal(shape)
            if sigma:
                f = ndi.gaussian_filter(f, sigma)
            mask = f < np.quantile(f, frac)
            for axes in ((0, 1, 2), (2,), (1,), (0, 2)):
                got = percolation_bits(mask, axes)
                assert got.dtype == np.uint8
                np.testing.assert_array_equal(got, _bits_reference(mask, axes),
                                              err_msg=f"{frac} {sigma} {axes}")


def test_percolation_bits_equal_scipy_labelling_on_model_structures(monkeypatch):
    from vmt_dask.conductivity import _jit
    from vmt_dask.conductivity.percolation import percolation_bits

    for name, mask in _structures():
        ref = _bits_reference(mask, (0, 1, 2))
        # outside serial_if_small: the parallel variant (16 blocks of planes joined after)
        np.testing.assert_array_equal(percolation_bits(mask), ref, err_msg=name)
        monkeypatch.setattr(_jit, "SERIAL_CELLS", 1 << 40)       # the serial variant
        with _jit.serial_if_small(mask.size):
            np.testing.assert_array_equal(percolation_bits(mask), ref, err_msg=name)
        monkeypatch.undo()
