"""Connectivity-aware aggregation: box pieces, Galerkin coarse graphs, the cycle, flat iterations."""
from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from scipy import ndimage as ndi

from vmt_dask.conductivity import _graph as gr
from vmt_dask.conductivity import _stencil as st
from vmt_dask.conductivity import m_factor, percolating_mask
from vmt_dask.conductivity.multigrid import ConnectedHierarchy, Hierarchy
from vmt_dask.conductivity.solver import _solve

_FACE = ndi.generate_binary_structure(3, 1)


@contextmanager
def _dynamic_chunks(halo):
    """Hand the fused kernels' chunks to the threads one at a time (numba chunk size 1)
    when there are more chunks than threads: chunks then run in any order, which exposed
    a race once (session 5: numba fused the halo-copy loop with the main loop).  The
    solver itself runs one chunk per thread."""
    if halo.shape[0] <= numba.get_num_threads():
        yield
        return
    old = numba.set_parallel_chunksize(1)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(old)


def _random_structure(shape, seed, fraction=0.5, sigma=1.2):
    field = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma)
    return field > np.quantile(field, 1 - fraction)


def test_box_piece_table_matches_labelling():
    # independent: scipy's 6-connected labelling of every 2x2x2 occupancy pattern
    for pat in range(256):
        box = np.array([(pat >> p) & 1 for p in range(8)], bool).reshape(2, 2, 2)
        labels, n = ndi.label(box, structure=_FACE)
        assert gr.BOX_COUNT[pat] == n
        ours = gr.BOX_LUT[pat].reshape(2, 2, 2)
        # same partition of the occupied voxels (numbering may differ)
        for a in range(8):
            for b in range(8):
                ia, ib = np.unravel_index(a, (2, 2, 2)), np.unravel_index(b, (2, 2, 2))
                if box[ia] and box[ib]:
                    assert (ours[ia] == ours[ib]) == (labels[ia] == labels[ib])
    assert gr.BOX_COUNT.max() == 4                      # the four voxels of one parity


def _fine_matrix(code, wx, wy):
    """Sparse fine operator A (same discretisation as _stencil, assembled from the mask)."""
    act = code != 0
    n0, n1, n2 = code.shape
    idx = -np.ones(code.shape, np.int64)
    n = int(act.sum())
    idx[act] = np.arange(n)
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    for ax, w in ((0, wx), (1, wy), (2, 1.0)):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        pair = act[tuple(lo)] & act[tuple(hi)]
        a, b = idx[tuple(lo)][pair], idx[tuple(hi)][pair]
        rows += [a, b]
        cols += [b, a]
        vals += [-np.full(a.size, w)] * 2
        np.add.at(diag, a, w)
        np.add.at(diag, b, w)
    np.add.at(diag, idx[:, :, 0][act[:, :, 0]], 2.0)
    np.add.at(diag, idx[:, :, -1][act[:, :, -1]], 2.0)
    mat = sp.csr_matrix((np.concatenate(vals + [diag]),
                         (np.concatenate(rows + [np.arange(n)]),
                          np.concatenate(cols + [np.arange(n)]))), shape=(n, n))
    return mat, idx


def _pieces_prolongation(active, idx):
    """P of level 1 built independently: ndi.label of every 2x2x2 box (dict of pieces)."""
    n0, n1, n2 = active.shape
    pieces = []          # list of arrays of fine indices
    for I in range(0, n0, 2):
        for J in range(0, n1, 2):
            for K in range(0, n2, 2):
                box = active[I:I + 2, J:J + 2, K:K + 2]
                labels, n = ndi.label(box, structure=_FACE)
                for c in range(1, n + 1):
                    pieces.append(idx[I:I + 2, J:J + 2, K:K + 2][labels == c])
    n = int(active.sum())
    rows = np.concatenate(pieces)
    cols = np.concatenate([np.full(p.size, c) for c, p in enumerate(pieces)])
    return sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, len(pieces))), pieces


def _box_bases(hier):
    """First coarse index of every box, rebuilt from the per-row bases (colours alternate)."""
    pat, rowbase = hier._pat, hier._rowbase
    base = np.zeros(pat.shape, np.int64)
    for I in range(pat.shape[0]):
        for J in range(pat.shape[1]):
            nxt = [int(rowbase[0, I, J]), int(rowbase[1, I, J])]
            for K in range(pat.shape[2]):
                c = (I + J + K) & 1
                base[I, J, K] = nxt[c]
                nxt[c] += int(gr.BOX_COUNT[pat[I, J, K]])
    return base


def _graph_matrix(g):
    n = g.n
    rowptr, col, val = g.csr()
    rows = np.repeat(np.arange(n), np.diff(rowptr))
    return sp.csr_matrix((np.concatenate([-val.astype(float), g.diag.astype(float)]),
                          (np.concatenate([rows, np.arange(n)]),
                           np.concatenate([col, np.arange(n)]))), shape=(n, n))


@pytest.mark.parametrize("shape,wx,wy", [((12, 10, 14), 1.0, 1.0), ((11, 13, 9), 0.25, 4.0)])
def test_level1_is_galerkin_product_of_connected_pieces(shape, wx, wy):
    mask = _random_structure(shape, 3, 0.45, sigma=0.7)
    active = np.ascontiguousarray(percolating_mask(mask))
    code = st.fine_code(active)
    hier = ConnectedHierarchy(code, wx=wx, wy=wy, max_coarse=1)
    a_fine, idx = _fine_matrix(code, wx, wy)
    p_ref, pieces = _pieces_prolongation(active, idx)
    g1 = hier.graphs[0]
    assert g1.n == p_ref.shape[1]
    # our numbering of the pieces: the coarse index of each fine voxel via base + LUT
    ours = np.empty(a_fine.shape[0], np.int64)
    ii, jj, kk = np.nonzero(active)
    pat = hier._pat[ii >> 1, jj >> 1, kk >> 1]
    pos = 4 * (ii & 1) + 2 * (jj & 1) + (kk & 1)
    ours[idx[ii, jj, kk]] = _box_bases(hier)[ii >> 1, jj >> 1, kk >> 1] + gr.BOX_LUT[pat, pos]
    perm = np.array([ours[p[0]] for p in pieces])          # reference piece -> our index
    for p, c in zip(pieces, perm):
        assert np.all(ours[p] == c)                          # same partition
    galerkin = (p_ref.T @ a_fine @ p_ref).toarray()
    a1 = _graph_matrix(g1).toarray()[np.ix_(perm, perm)]
    # float32 storage of sums of at most 4 conductances in {wx, wy, 1} (exact in
    # binary for these wx, wy) and of diagonals up to ~50: relative 1e-6 covers it
    np.testing.assert_allclose(a1, galerkin, rtol=1e-6, atol=1e-6)
    # the fine -> level-1 restriction is P^T (b - A x), the prolongation P
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape) * active).astype(np.float32)
    b = (rng.standard_normal(shape) * active).astype(np.float32)
    rc = np.empty(g1.n, np.float32)
    gr.fine_restrict_pieces(code, wx, wy, x, b, hier._pat, hier._rowbase, gr.BOX_LUT,
                            gr.BOX_COUNT, rc)
    ref = p_ref.T @ (b[active].astype(float) - a_fine @ x[active].astype(float))
    np.testing.assert_allclose(rc[perm], ref, rtol=1e-5, atol=1e-4)   # float32 sums
    xc = rng.standard_normal(g1.n).astype(np.float32)
    y = x.copy()
    gr.fine_prolong_pieces(code, y, xc, hier._pat, hier._rowbase, gr.BOX_LUT, gr.BOX_COUNT,
                           np.float32(1.0))
    np.testing.assert_allclose(y[active] - x[active], p_ref @ xc[perm], rtol=1e-6, atol=1e-6)
    assert np.all(y[~active] == 0)
    # red-black: no edge joins two nodes of the same colour
    for g in hier.graphs:
        rowptr, col, _ = g.csr()
        rows = np.repeat(np.arange(g.n), np.diff(rowptr))
        assert np.all((rows < g.n_red) != (col < g.n_red))


def test_coarser_levels_are_galerkin_and_connected():
    mask = _random_structure((20, 18, 22), 4, 0.4, sigma=0.8)
    code = st.fine_code(np.ascontiguousarray(percolating_mask(mask)))
    hier = ConnectedHierarchy(code, max_coarse=1)
    assert len(hier.graphs) >= 3
    for g, nxt in zip(hier.graphs[:-1], hier.graphs[1:]):
        a = _graph_matrix(g)
        p = sp.csr_matrix((np.ones(g.n), (np.arange(g.n), g.agg)), shape=(g.n, nxt.n))
        np.testing.assert_allclose(_graph_matrix(nxt).toarray(), (p.T @ a @ p).toarray(),
                                   rtol=2e-6, atol=1e-5)
        # every aggregate is connected through edges inside it
        inside = a.copy().tolil()
        inside.setdiag(0)
        inside = inside.tocsr()
        rows, cols = inside.nonzero()
        same = g.agg[rows] == g.agg[cols]
        graph = sp.csr_matrix((np.ones(same.sum()), (rows[same], cols[same])), shape=a.shape)
        n_comp, comp = sp.csgraph.connected_components(graph, directed=False)
        assert n_comp == nxt.n
        # the (parallel, slab-wise) restriction is P^T (b - A x) after a black half sweep
        # (it sums the red nodes' residuals only: the black ones are zero then)
        rng = np.random.default_rng(1)
        g.x[:] = rng.standard_normal(g.n)
        g.b[:] = rng.standard_normal(g.n)
        cptr, width, scol, sval, ch_red = g.sell
        gr.graph_gs(cptr, width, scol, sval, g.inv, g.x, g.b, g.n_red, g.n, ch_red, False, 0,
                    g.n_red)
        gr.graph_restrict_residual(cptr, width, scol, sval, g.inv, g.x, g.b, g.agg, nxt.b,
                                   g.slabs, nxt.slabs)
        x64, b64 = g.x.astype(float), g.b.astype(float)
        r = b64 - a @ x64
        # float32 evaluation of a row's residual b - sum_j a_ij x_j over k <= 27 terms (and, for
        # a black row, x_i = fl(fl(s) * inv_i) with a float32 reciprocal): each of the <= k + 3
        # roundings errs by <= eps32 times the sum of the magnitudes, so
        # |error| <= 32 eps32 (|b| + |A| |x|) per row
        row_bound = 32 * np.finfo(np.float32).eps * (np.abs(b64) + abs(a) @ np.abs(x64))
        # the black residuals are zero up to that rounding
        assert np.all(np.abs(r[g.n_red:]) <= row_bound[g.n_red:])
        ref = p.T @ r
        # the restriction adds its members' float32 residuals (a black one taken as 0) in float32:
        # each member errs by <= its row bound, and each of the m - 1 additions by <= eps32 times
        # the sum of the members' magnitudes (P has 0/1 entries, m = the largest aggregate)
        m = int(np.max(p.T @ np.ones(g.n)))
        agg_bound = p.T @ row_bound + m * np.finfo(np.float32).eps * (p.T @ np.abs(r))
        assert np.all(np.abs(nxt.b - ref) <= agg_bound)


def test_connected_cycle_is_symmetric_positive_definite():
    mask = _random_structure((24, 20, 28), 9, 0.5)
    for wx, wy in ((1.0, 1.0), (0.25, 4.0)):
        code = st.fine_code(np.ascontiguousarray(percolating_mask(mask)))
        hier = ConnectedHierarchy(code, wx=wx, wy=wy, max_coarse=64)
        assert hier.n_levels >= 3
        rng = np.random.default_rng(0)
        x = (rng.standard_normal(code.shape) * (code > 0)).astype(np.float32)
        y = (rng.standard_normal(code.shape) * (code > 0)).astype(np.float32)
        bx, by = np.empty_like(x), np.empty_like(y)
        xbx = hier.vcycle(x, bx)
        hier.vcycle(y, by)
        # the cycle's b.x and st.dot sum the same float32 products in float64 in another
        # order: at most n eps64 sum|x bx| apart
        eps64 = float(np.finfo(np.float64).eps)
        scale = float(np.sum(np.abs(x.astype(float) * bx)))
        assert abs(xbx - float(st.dot(x, bx))) <= x.size * eps64 * scale
        # float32 arithmetic throughout the cycle: 1e-5 relative
        assert float(st.dot(bx, y)) == pytest.approx(float(st.dot(x, by)), rel=1e-5)
        assert float(st.dot(bx, x)) > 0
        u, iterations, residual = _solve(code, wx, wy, hier, 1e-8, 200)
        assert residual <= 1e-8


def _channel_network(n, seed=11):
    """Thin curved channels (a band around the zero level set of a smooth 2-D field) along z."""
    field = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal((n, n)), 1.0,
                                mode="wrap")
    band = -np.abs(field)
    section = band > np.quantile(band, 0.70)
    return np.repeat(section[:, :, None], n, axis=2)


def test_iterations_flat_on_thin_channel_networks():
    # The issue: box aggregates join channels that meet only outside their box, and
    # CG then needs several times the iterations of a compact structure.  With
    # connected pieces the channel network must need at most as many iterations as
    # 1.5x a compact random structure of the same size (measured 96^3: 13 vs 10-12;
    # box aggregation: 88 vs 12-24; here at 48^3: 11 vs 59), and fewer than half of
    # box aggregation's.
    n = 48
    chan = _channel_network(n)
    compact = _random_structure((n, n, n), 5, 0.5, sigma=2.0)
    r_chan = m_factor(chan, axis=2)
    r_comp = m_factor(compact, axis=2)
    assert r_chan.m_factor == pytest.approx(chan.mean(), rel=1e-5)     # straight columns
    assert r_chan.iterations <= 1.5 * r_comp.iterations
    code = st.fine_code(np.ascontiguousarray(percolating_mask(chan)))
    _, it_box, res_box = _solve(code, 1.0, 1.0, Hierarchy(code), 1e-6, 1000)
    assert res_box <= 1e-6
    assert r_chan.iterations * 2 <= it_box


def test_serial_and_parallel_kernels_build_the_same_hierarchy_and_cycle(monkeypatch):
    # Every kernel has a serial variant (one-thread processes, small grids) and a
    # parallel one; both must give bit-identical coarse graphs (union-find and
    # Galerkin per parent slab: the result does not depend on the chunking) and
    # cycles (per-slab partial sums added in a fixed order).  On a one-core machine
    # both calls run the same variant and the test holds trivially.
    from vmt_dask.conductivity import _jit

    mask = _random_structure((26, 22, 30), 6, 0.45, sigma=0.9)
    code = st.fine_code(np.ascontiguousarray(percolating_mask(mask)))
    rng = np.random.default_rng(3)
    b = (rng.standard_normal(code.shape) * (code > 0)).astype(np.float32)
    out = []
    for serial in (True, False):
        # serial: every kernel single-threaded; parallel: no level small enough for one thread
        monkeypatch.setattr(_jit, "SERIAL_CELLS", 1 << 40 if serial else 0)
        with _jit.serial_if_small(code.size):
            hier = ConnectedHierarchy(code, max_coarse=8)
            x = np.empty_like(b)
            bx = hier.vcycle(b, x)
        out.append((hier, x, bx))
    (h1, x1, bx1), (h2, x2, bx2) = out
    assert len(h1.graphs) == len(h2.graphs) >= 3
    for g1, g2 in zip(h1.graphs, h2.graphs):
        for name in ("dirichlet", "slabs"):
            np.testing.assert_array_equal(getattr(g1, name), getattr(g2, name))
        for a1, a2 in zip(g1.csr(), g2.csr()):
            np.testing.assert_array_equal(a1, a2)
        if g1.agg is not None:
            np.testing.assert_array_equal(g1.agg, g2.agg)
    np.testing.assert_array_equal(x1, x2)
    assert bx1 == bx2


@pytest.mark.parametrize("shape", [(25, 21, 27), (7, 9, 5), (16, 12, 10)])
def test_fused_fine_passes_equal_the_separate_passes(shape):
    # The fused kernels (pre-smoothing + restriction, prolongation + post-smoothing)
    # reorder the planes, not the arithmetic: x and the restricted residual equal the
    # separate kernels' for any number of chunks (chunk borders recompute their
    # neighbour planes).  Not always bit for bit: with fastmath 'contract' LLVM may
    # fuse a multiply-add into an FMA in one compiled copy of a row formula and not
    # in another (seen: 1 ulp at the last k of 40 rows), so the bound is a few float32
    # ulps of the largest term of a voxel's formula: x within 8 eps max|x|; a restricted
    # residual sums <= 8 voxels of b + 12 neighbour terms: 64 eps (max|b| + 12 max|x|).
    # The fused kernels' own serial and parallel variants and all chunkings share one
    # compiled row formula and must agree exactly.  b . x: n0 float64 per-plane sums,
    # possibly added in another order by the separate kernel: 1e-12 relative, plus the
    # x differences above (<= 8 eps relative per term): 1e-6.
    from vmt_dask.conductivity import _fused as fu

    mask = _random_structure(shape, 3, 0.5, sigma=1.0)
    code = st.fine_code(np.ascontiguousarray(percolating_mask(mask)))
    assert code.any()
    for wx, wy in ((1.0, 1.0), (0.25, 4.0)):
        h = ConnectedHierarchy(code, wx=wx, wy=wy, max_coarse=8)
        maps = (h._pat, h._rowbase, h._lut, h._count)
        rng = np.random.default_rng(1)
        b = (rng.standard_normal(shape) * (code > 0)).astype(np.float32)
        g1 = h.graphs[0]
        x = np.empty_like(b)
        rc = np.empty(g1.n, np.float32)
        st.fine_gs(code, wx, wy, x, b, 0, True)
        st.fine_gs(code, wx, wy, x, b, 1, False)
        gr.fine_restrict_pieces(code, wx, wy, x, b, *maps, rc)
        xc = rng.standard_normal(g1.n).astype(np.float32)
        x_post = x.copy()
        gr.fine_prolong_pieces(code, x_post, xc, *maps, np.float32(1.8))
        st.fine_gs(code, wx, wy, x_post, b, 1, False)
        bx = st.fine_gs(code, wx, wy, x_post, b, 0, False)
        eps = float(np.finfo(np.float32).eps)
        eps64 = float(np.finfo(np.float64).eps)
        tol_x = 8 * eps * float(np.abs(x_post).max())
        tol_rc = 64 * eps * (float(np.abs(b).max()) + 12 * float(np.abs(x).max()))
        first = None
        for chunks in (1, 2, 3, 40):
            for variant in ("serial", "parallel"):
                halo = fu.halo_planes(shape, chunks)
                x2 = np.full_like(b, np.nan)
                rc2 = np.full_like(rc, np.nan)
                # dynamic_chunks: chunks handed out one at a time (any order) where there
                # are more chunks than threads
                with _dynamic_chunks(halo):
                    getattr(fu.fine_smooth_restrict, variant)(code, wx, wy, x2, b, *maps, rc2,
                                                              halo)
                np.testing.assert_allclose(x2, x, rtol=0, atol=8 * eps * float(np.abs(x).max()))
                np.testing.assert_allclose(rc2, rc, rtol=0, atol=tol_rc)
                pre = (x2.copy(), rc2)
                with _dynamic_chunks(halo):
                    bx2 = getattr(fu.fine_prolong_smooth, variant)(code, wx, wy, x2, b, xc,
                                                                   *maps, np.float32(1.8), halo)
                np.testing.assert_allclose(x2, x_post, rtol=0, atol=tol_x)
                # b.x: the x differences (<= tol_x each) times sum|b|, plus float64 sums of
                # the same products in another order (n eps64 sum|b x|)
                bound = tol_x * float(np.abs(b).sum()) + b.size * eps64 * float(
                    np.abs(b.astype(float) * x_post).sum())
                assert abs(bx2 - bx) <= bound
                if first is None:
                    first = (*pre, x2, bx2)
                else:
                    for a, c in zip(first, (*pre, x2, bx2)):
                        np.testing.assert_array_equal(a, c)


def test_fused_direction_and_matvec_equal_the_separate_kernels():
    # p = z + beta p, then w = A p in one pass: the same row formulas as cg_direction and
    # fine_matvec, so p and w agree bit for bit for any chunking here (an FMA contraction
    # could still differ between compiled copies: w is allowed 8 float32 ulps of the
    # largest of the 7 terms of a row, 8 eps * 6 max|A p| bound used loosely as
    # 48 eps max|w|); p . w: per-plane float64 sums, 1e-6 relative covers both.
    from vmt_dask.conductivity import _fused as fu

    shape = (25, 21, 27)
    code = st.fine_code(np.ascontiguousarray(percolating_mask(
        _random_structure(shape, 3, 0.5, sigma=1.0))))
    rng = np.random.default_rng(2)
    p = (rng.standard_normal(shape) * (code > 0)).astype(np.float32)
    z = (rng.standard_normal(shape) * (code > 0)).astype(np.float32)
    for wx, wy in ((1.0, 1.0), (0.25, 4.0)):
        p_ref, w_ref = p.copy(), z.copy()
        st.cg_direction(p_ref, w_ref, 0.37)
        pq = st.fine_matvec(code, wx, wy, p_ref, w_ref)
        eps = float(np.finfo(np.float32).eps)
        for chunks in (1, 2, 3, 40):
            for variant in ("serial", "parallel"):
                p2, w2 = p.copy(), z.copy()
                halo = fu.halo_planes(shape, chunks)
                with _dynamic_chunks(halo):
                    pq2 = getattr(fu.direction_matvec, variant)(code, wx, wy, p2, w2, 0.37, halo)
                np.testing.assert_array_equal(p2, p_ref)
                np.testing.assert_allclose(w2, w_ref, rtol=0,
                                           atol=48 * eps * float(np.abs(w_ref).max()))
                # p.w: p equal, w within tol_w each: tol_w sum|p|, plus float64 sums of
                # the same products in another order (n eps64 sum|p w|)
                tol_w = 48 * eps * float(np.abs(w_ref).max())
                bound = tol_w * float(np.abs(p_ref).sum()) + p.size * float(
                    np.finfo(np.float64).eps) * float(np.abs(p_ref.astype(float) * w_ref).sum())
                assert abs(pq2 - pq) <= bound


def test_sell_graph_sweep_and_residual_match_the_csr_matrix():
    # The graph levels are smoothed from their SELL-8 form (chunks of 8 rows, padded with
    # zero conductances; colours start new chunks).  Against the CSR matrix (g.csr(), checked
    # to be the Galerkin product above) in float64: a half sweep of each colour sets its
    # nodes to (b + sum_j g_ij x_j) / d_i from the other colour's values, and the zero-start
    # sweep to b / d with the other colour 0.  float32 sums of <= 24 terms of size
    # <= max|g| max|x|: 32 eps (|b| + sum|g_ij x_j|) relative to the row is the bound used.
    mask = _random_structure((22, 26, 20), 8, 0.5, sigma=0.8)
    code = st.fine_code(np.ascontiguousarray(percolating_mask(mask)))
    hier = ConnectedHierarchy(code, wx=0.25, wy=4.0, max_coarse=1)
    eps = float(np.finfo(np.float32).eps)
    checked = 0
    for g in hier.graphs[:-1]:
        assert g.sell is not None and g.rowptr is None          # CSR dropped after the build
        cptr, width, scol, sval, ch_red = g.sell
        assert cptr[-1] % 8 == 0 and ch_red == (g.n_red + 7) // 8
        np.testing.assert_allclose(g.inv, 1.0 / g.diag, rtol=eps)
        a = _graph_matrix(g)
        diag = a.diagonal()
        off = a - sp.diags(diag)
        rng = np.random.default_rng(4)
        b = rng.standard_normal(g.n).astype(np.float32)
        x0 = rng.standard_normal(g.n).astype(np.float32)
        nr, n = g.n_red, g.n
        for lo, hi, c_lo, olo, ohi in ((0, nr, 0, nr, n), (nr, n, ch_red, 0, nr)):
            x = x0.copy()
            gr.graph_gs(cptr, width, scol, sval, g.inv, x, b, lo, hi, c_lo, False, olo, ohi)
            ref = (b.astype(float) - off @ x0.astype(float)) / diag
            bound = 32 * eps * (np.abs(b) + abs(off) @ np.abs(x0)) / diag
            assert np.all(np.abs(x[lo:hi] - ref[lo:hi]) <= bound[lo:hi] + 1e-30)
            np.testing.assert_array_equal(x[olo:ohi], x0[olo:ohi])
            x = x0.copy()
            gr.graph_gs(cptr, width, scol, sval, g.inv, x, b, lo, hi, c_lo, True, olo, ohi)
            np.testing.assert_allclose(x[lo:hi], b[lo:hi] / diag[lo:hi], rtol=2 * eps)
            assert np.all(x[olo:ohi] == 0)
            checked += 1
    assert checked >= 4


def test_helpers_that_kernels_call_are_compiled_without_reassociation():
    # numba links a called helper into its caller's module as a linkonce_odr copy, and the
    # helper also gets its own module when first compiled; a process that compiles binds the
    # caller's calls to the helper's own copy, one that loads the caller from numba's cache
    # to the copy inside it (see _fused).  With fastmath "reassoc" the two copies may sum in
    # another order: M differed by ~1e-11 between a compiling and a cache-loading study
    # worker (session 5; reproduced session 6).  A full two-process check (empty, then warm
    # NUMBA_CACHE_DIR) costs a cold compile (~35 s CPU), so this guards the cause instead:
    # every private helper that is not inlined at numba IR level has no "reassoc".
    from numba.core.registry import CPUDispatcher

    from vmt_dask.conductivity import _fused, _graph, _stencil

    seen = 0
    for mod in (_fused, _graph, _stencil):
        for name, obj in vars(mod).items():
            if not (isinstance(obj, CPUDispatcher) and name.startswith("_")
                    and obj.__module__ == mod.__name__):
                continue
            if obj.targetoptions.get("inline") == "always":
                continue                  # no copy of its own: part of its caller's code
            assert "reassoc" not in obj.targetoptions["fastmath"], f"{mod.__name__}.{name}"
            seen += 1
    assert seen >= 15
