"""Numba kernels of the connectivity-aware coarse levels (sparse graphs of aggregates).

The fine level stays a dense voxel grid (:mod:`._stencil`).  Level 1 aggregates
every 2x2x2 box of voxels into its **connected pieces**: the solved voxels of a
box that are face-connected *inside the box* form one aggregate, so a box cut by
two channels that meet only outside it gives two coarse unknowns, not one.  (A
2x2x2 box has at most four such pieces: the four voxels of one parity.)  Plain
box aggregation joins such channels, and the coarse space then cannot represent
their independent smooth errors: on thin channel networks the preconditioned CG
needed 3-6x the iterations of compact structures.

The pieces of a box depend only on its 8-bit occupancy pattern, so the fine ->
level-1 map is a 256 x 8 lookup table plus, per box, the pattern (uint8) and the
index of its first coarse unknown (int32): 0.625 bytes per voxel, no per-voxel map.

Levels >= 1 are weighted graphs, built in CSR form (``rowptr``, ``col`` int32, ``val`` =
face conductances, ``dirichlet`` = the node's conductances to the Dirichlet faces;
both uint8 where that is exact, else float32), which the aggregation and the Galerkin
product read; the cycle reads them in SELL-8 form (:func:`sell_from_csr`) with a stored
float32 reciprocal of the diagonal (conductances leaving the node plus its Dirichlet
ones).  Level ``l + 1`` aggregates the connected pieces of
each 2x2x2 block of level-``l`` boxes (union-find over the edges inside a block),
and its operator is the Galerkin product ``P^T A P`` for piecewise-constant ``P``:
conductance between two aggregates = sum of the conductances crossing between
them, Dirichlet part = sum of the members' (exact: no subtraction).

Edges join only face-adjacent boxes (two pieces in one box are not connected by
construction, and a block's connected pieces are merged), so colouring a node by
the parity of its box, ``(I + J + K) % 2``, is a valid red-black colouring on
every level.  Nodes are numbered colour by colour (red first), box by box in C
order inside a colour: a red-black Gauss-Seidel half sweep is one parallel loop
over a contiguous range.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ._jit import JIT as _JIT
from ._jit import JIT_EXACT
from ._jit import kernel



# ----------------------------------------------------------------------------- box pieces
def _box_piece_table():
    """(lut, count): piece index of each voxel of a 2x2x2 box for each occupancy pattern.

    Voxel ``(di, dj, dk)`` of a box has position ``p = 4 di + 2 dj + dk`` and bit ``p``
    of the pattern.  ``lut[pattern, p]`` is the piece (0..3) of an occupied voxel, 0
    for an empty one; ``count[pattern]`` the number of pieces.  Pieces are numbered
    in the order of their lowest position.
    """
    lut = np.zeros((256, 8), np.int8)
    count = np.zeros(256, np.int8)
    for pat in range(256):
        piece = [-1] * 8
        n = 0
        for p in range(8):
            if not (pat >> p) & 1 or piece[p] >= 0:
                continue
            stack = [p]
            piece[p] = n
            while stack:
                q = stack.pop()
                for bit in (1, 2, 4):          # the three face neighbours inside the box
                    r = q ^ bit
                    if (pat >> r) & 1 and piece[r] < 0:
                        piece[r] = n
                        stack.append(r)
            n += 1
        lut[pat] = [max(v, 0) for v in piece]
        count[pat] = n
    return lut, count


BOX_LUT, BOX_COUNT = _box_piece_table()


@kernel
def fine_pieces(code, count):
    """Occupancy pattern of every 2x2x2 box and the number of its pieces per colour and slab.

    Returns ``(pat, slab_counts)``: ``pat`` uint8 of the box grid's shape, and
    ``slab_counts[c, I]`` = pieces in the boxes of colour ``c`` in box slab ``I``.
    """
    n0, n1, n2 = code.shape
    m0, m1, m2 = (n0 + 1) // 2, (n1 + 1) // 2, (n2 + 1) // 2
    pat = np.zeros((m0, m1, m2), np.uint8)
    slab = np.zeros((2, m0), np.int64)
    for I in prange(m0):
        c0 = 0
        c1 = 0
        for J in range(m1):
            for K in range(m2):
                p = 0
                for di in range(2):
                    i = 2 * I + di
                    if i >= n0:
                        continue
                    for dj in range(2):
                        j = 2 * J + dj
                        if j >= n1:
                            continue
                        for dk in range(2):
                            k = 2 * K + dk
                            if k < n2 and code[i, j, k] != 0:
                                p |= 1 << (4 * di + 2 * dj + dk)
                pat[I, J, K] = p
                if (I + J + K) & 1:
                    c1 += count[p]
                else:
                    c0 += count[p]
        slab[0, I] = c0
        slab[1, I] = c1
    return pat, slab


@kernel
def fine_bases(pat, count, offsets):
    """Index of the first coarse unknown of every box (``offsets[c, I]`` = first of slab I, colour c)."""
    m0, m1, m2 = pat.shape
    base = np.zeros((m0, m1, m2), np.int32)
    for I in prange(m0):
        o0 = offsets[0, I]
        o1 = offsets[1, I]
        for J in range(m1):
            for K in range(m2):
                p = pat[I, J, K]
                if (I + J + K) & 1:
                    base[I, J, K] = o1
                    o1 += count[p]
                else:
                    base[I, J, K] = o0
                    o0 += count[p]
    return base


@kernel
def row_bases(base):
    """``rowbase[c, I, J]``: first unknown of the colour-``c`` boxes of box row (I, J)."""
    m0, m1, m2 = base.shape
    out = np.zeros((2, m0, m1), np.int32)
    for I in prange(m0):
        for J in range(m1):
            for c in range(2):
                K = c ^ ((I + J) & 1)       # the row's first box of colour c
                if K < m2:
                    out[c, I, J] = base[I, J, K]
    return out


def _face_table():
    """``FACE[d, side]``: positions of the 4 voxels of a box on its face ``side`` (0 = low,
    1 = high) normal to axis ``d`` (bit ``4 >> d`` of the position)."""
    out = np.zeros((3, 2, 4), np.int64)
    for d in range(3):
        bit = 4 >> d
        for side in range(2):
            out[d, side] = [p for p in range(8) if bool(p & bit) == bool(side)]
    return out


FACE = _face_table()


def _face_bits_table():
    """``FACE_BITS[d, side, pattern]``: the occupied voxels of face ``side`` normal to axis
    ``d`` as 4 bits in the order of ``FACE[d, side]``; the voxel ``FACE[d, 0, t]`` of one box
    touches ``FACE[d, 1, t]`` of its neighbour below (positions differ by the axis bit and
    both lists are ascending), so ``FACE_BITS[d, 1, p] & FACE_BITS[d, 0, q]`` marks the
    touching voxel pairs of box ``p`` and its upper neighbour ``q``."""
    out = np.zeros((3, 2, 256), np.uint8)
    for d in range(3):
        for side in range(2):
            for pat in range(256):
                out[d, side, pat] = sum(1 << t for t, a in enumerate(_face_table()[d, side])
                                        if (pat >> a) & 1)
    return out


FACE_BITS = _face_bits_table()
POPCOUNT4 = np.array([bin(v).count("1") for v in range(16)], np.int64)


@numba.njit(**JIT_EXACT)
def _box_edges(pat, base, lut, count, I, J, K, m0, m1, m2, w3, nbr, wgt, deg):
    """Edges of the pieces of box (I, J, K) to the pieces of its 6 neighbour boxes.

    Fills ``nbr[c, :deg[c]]`` (coarse indices) and ``wgt[c, :deg[c]]`` (summed
    conductances) for each piece ``c``.
    """
    I = np.int64(I)        # a prange index may be unsigned: unsigned + signed is float64
    J = np.int64(J)
    K = np.int64(K)
    p = pat[I, J, K]
    for c in range(4):
        deg[c] = 0
    for d in range(3):
        for side in range(2):
            step = 2 * side - 1
            I2 = I + step if d == 0 else I
            J2 = J + step if d == 1 else J
            K2 = K + step if d == 2 else K
            if I2 < 0 or J2 < 0 or K2 < 0 or I2 >= m0 or J2 >= m1 or K2 >= m2:
                continue
            q = pat[I2, J2, K2]
            if q == 0:
                continue
            b2 = base[I2, J2, K2]
            if count[p] == 1 and count[q] == 1:
                # one piece on each side (most boxes of a compact phase): one edge whose
                # conductance counts the touching voxel pairs; a node of another box
                # never repeats, so nothing to merge
                touch = POPCOUNT4[FACE_BITS[d, side, p] & FACE_BITS[d, 1 - side, q]]
                if touch:
                    nbr[0, deg[0]] = b2
                    wgt[0, deg[0]] = touch * w3[d]
                    deg[0] += 1
                continue
            bit = 4 >> d
            for t in range(4):
                a = FACE[d, side, t]
                b = a ^ bit                  # the facing voxel of the neighbour box
                if not ((p >> a) & 1) or not ((q >> b) & 1):
                    continue
                ca = lut[p, a]
                node = b2 + lut[q, b]
                found = False
                for s in range(deg[ca]):
                    if nbr[ca, s] == node:
                        wgt[ca, s] += w3[d]
                        found = True
                        break
                if not found:
                    nbr[ca, deg[ca]] = node
                    wgt[ca, deg[ca]] = w3[d]
                    deg[ca] += 1


@kernel
def fine_graph_degrees(pat, base, lut, count, n_nodes):
    """Number of coarse neighbours of every level-1 node."""
    m0, m1, m2 = pat.shape
    degree = np.zeros(n_nodes + 1, np.int64)
    w3 = np.ones(3)
    for I in prange(m0):
        nbr = np.empty((4, 24), np.int64)
        wgt = np.empty((4, 24))
        deg = np.empty(4, np.int64)
        for J in range(m1):
            for K in range(m2):
                p = pat[I, J, K]
                if p == 0:
                    continue
                _box_edges(pat, base, lut, count, I, J, K, m0, m1, m2, w3, nbr, wgt, deg)
                b0 = base[I, J, K]
                for c in range(count[p]):
                    degree[b0 + c + 1] = deg[c]
    return degree


@kernel
def fine_graph_fill(pat, base, lut, count, n_fine2, wx, wy, rowptr, col, val, dirichlet,
                    coords):
    """Level-1 CSR rows, Dirichlet conductances and box indices of every node.

    ``n_fine2`` is the fine grid's extent along the transport axis (Dirichlet faces
    at fine ``k = -1/2`` and ``k = n_fine2 - 1/2``, conductance 2 each).
    """
    m0, m1, m2 = pat.shape
    w3 = np.empty(3)
    w3[0] = wx
    w3[1] = wy
    w3[2] = 1.0
    for I in prange(m0):
        nbr = np.empty((4, 24), np.int64)
        wgt = np.empty((4, 24))
        deg = np.empty(4, np.int64)
        bd = np.empty(4)
        for J in range(m1):
            for K in range(m2):
                p = pat[I, J, K]
                if p == 0:
                    continue
                _box_edges(pat, base, lut, count, I, J, K, m0, m1, m2, w3, nbr, wgt, deg)
                for c in range(4):
                    bd[c] = 0.0
                for a in range(8):
                    if not ((p >> a) & 1):
                        continue
                    k = 2 * K + (a & 1)
                    if k == 0:
                        bd[lut[p, a]] += 2.0
                    if k == n_fine2 - 1:
                        bd[lut[p, a]] += 2.0
                b0 = base[I, J, K]
                for c in range(count[p]):
                    node = b0 + c
                    r0 = rowptr[node]
                    for t in range(deg[c]):
                        col[r0 + t] = nbr[c, t]
                        val[r0 + t] = wgt[c, t]
                    dirichlet[node] = bd[c]
                    coords[node] = (I * m1 + J) * m2 + K


def _box_entry_bound_table():
    """``BOX_ENTRY_BOUND[pattern]``: at most this many level-1 CSR entries come from the
    pieces of one box (its rows' lengths summed).  Per side of the box: at most one entry
    per occupied voxel of that face, and at most 2, because a 2x2 face holds at most two
    pieces of either box (three or four occupied voxels of a 2x2 face are connected
    inside it), so the touching voxel pairs of one side give at most two distinct
    (piece, neighbour piece) pairs."""
    out = np.zeros(256, np.int64)
    for pat in range(256):
        out[pat] = sum(min(2, int(POPCOUNT4[FACE_BITS[d, side, pat]]))
                       for d in range(3) for side in range(2))
    return out


BOX_ENTRY_BOUND = _box_entry_bound_table()


@kernel
def fine_graph(pat, base, lut, count, bound, offsets, n_nodes, n_fine2, wx, wy):
    """Level-1 graph in one walk over the box edges: ``(rowptr, col, val, dirichlet, coords)``.

    The same arrays as :func:`fine_graph_degrees` + :func:`fine_graph_fill` (the two-walk
    build, kept as the reference of the tests): each box slab's rows are written once, by
    colour, into a scratch segment sized by ``bound`` (:data:`BOX_ENTRY_BOUND` summed over
    the slab's boxes of that colour), the row pointers follow from the degrees, and each
    segment is then copied to its place.  ``offsets[c, I]`` = first node of colour ``c`` in
    slab ``I``.  Scratch: 8 bytes per bound entry (about 2x the entries, freed on return).
    ``rowptr`` int64 (n_nodes + 1), ``col`` int32, ``val`` float32, ``dirichlet`` float32,
    ``coords`` int64 (the node's box, C order).
    """
    m0, m1, m2 = pat.shape
    sb = np.zeros((2, m0), np.int64)
    for I in prange(m0):
        b0 = 0
        b1 = 0
        for J in range(m1):
            for K in range(m2):
                e = bound[pat[I, J, K]]
                if (I + J + K) & 1:
                    b1 += e
                else:
                    b0 += e
        sb[0, I] = b0
        sb[1, I] = b1
    start = np.zeros((2, m0), np.int64)
    t = 0
    for c in range(2):
        for I in range(m0):
            start[c, I] = t
            t += sb[c, I]
    tcol = np.empty(t, np.int32)
    tval = np.empty(t, np.float32)
    degree = np.zeros(n_nodes + 1, np.int64)
    dirichlet = np.empty(n_nodes, np.float32)
    coords = np.empty(n_nodes, np.int64)
    w3 = np.empty(3)
    w3[0] = wx
    w3[1] = wy
    w3[2] = 1.0
    for I in prange(m0):
        nbr = np.empty((4, 24), np.int64)
        wgt = np.empty((4, 24))
        deg = np.empty(4, np.int64)
        bd = np.empty(4)
        cur = np.empty(2, np.int64)
        cur[0] = start[0, I]
        cur[1] = start[1, I]
        for J in range(m1):
            for K in range(m2):
                p = pat[I, J, K]
                if p == 0:
                    continue
                _box_edges(pat, base, lut, count, I, J, K, m0, m1, m2, w3, nbr, wgt, deg)
                for c in range(4):
                    bd[c] = 0.0
                for a in range(8):
                    if not ((p >> a) & 1):
                        continue
                    k = 2 * K + (a & 1)
                    if k == 0:
                        bd[lut[p, a]] += 2.0
                    if k == n_fine2 - 1:
                        bd[lut[p, a]] += 2.0
                colour = (I + J + K) & 1
                b0 = base[I, J, K]
                r0 = cur[colour]
                for c in range(count[p]):
                    node = b0 + c
                    for s in range(deg[c]):
                        tcol[r0 + s] = nbr[c, s]
                        tval[r0 + s] = wgt[c, s]
                    r0 += deg[c]
                    degree[node + 1] = deg[c]
                    dirichlet[node] = bd[c]
                    coords[node] = (I * m1 + J) * m2 + K
                cur[colour] = r0
    rowptr = np.cumsum(degree)
    nnz = rowptr[n_nodes]
    col = np.empty(nnz, np.int32)
    val = np.empty(nnz, np.float32)
    for I in prange(m0):
        for c in range(2):
            first = offsets[c, I]
            last = offsets[c, I + 1] if I + 1 < m0 else (offsets[1, 0] if c == 0 else n_nodes)
            d0 = rowptr[first]
            n = rowptr[last] - d0
            s0 = start[c, I]
            for e in range(n):
                col[d0 + e] = tcol[s0 + e]
                val[d0 + e] = tval[s0 + e]
    return rowptr, col, val, dirichlet, coords


@numba.njit(**JIT_EXACT)
def whole_numbers_to_255(a):
    """True if every value of the float array ``a`` is a whole number <= 255 (or ``a`` is
    empty): one pass instead of numpy's max, round, compare and all (four passes and a
    temporary).  NaN fails (``v != floor(v)``), as does inf (> 255)."""
    for v in a:
        if v != np.floor(v) or v > 255.0:
            return False
    return True


# ----------------------------------------------------------------------------- fine <-> level 1
@numba.njit(**JIT_EXACT)
def _slab_boxes(pat, rowbase, count, I, first, multi_ptr, multi_k):
    """Box table of box slab ``I``: ``first[J, K]`` = first unknown of box (I, J, K);
    ``multi_k[multi_ptr[J]:multi_ptr[J + 1]]`` = the K of the boxes of row J with
    more than one piece (the only ones that need the piece lookup table)."""
    m1, m2 = first.shape
    t = 0
    for J in range(m1):
        multi_ptr[J] = t
        par = (I + J) & 1
        o0 = rowbase[par, I, J]
        o1 = rowbase[par ^ 1, I, J]
        for K in range(m2):
            cnt = count[pat[I, J, K]]
            first[J, K] = o0
            nxt = o0 + cnt              # the colours alternate along K
            o0 = o1
            o1 = nxt
            if cnt > 1:
                multi_k[t] = K
                t += 1
    multi_ptr[m1] = t


@numba.njit(**JIT_EXACT)
def _plane(x, halo, zpl, i, i0, i1, n0):
    """Plane ``i`` as this chunk sees it: its own planes in ``x``, the two on either
    side in its halo, zeros outside the grid."""
    if i < 0 or i >= n0:
        return zpl
    if i >= i0 and i < i1:
        return x[i]
    if i == i0 - 1:
        return halo[1]
    if i == i0 - 2:
        return halo[0]
    if i == i1:
        return halo[2]
    return halo[3]


@numba.njit(**JIT_EXACT)
def _restrict_slab(code, wx, wy, x, halo, zpl, i0, i1, b, pat, rowbase, lut, count, rc, I,
                   tmp, res, acc, first, multi_ptr, multi_k):
    """``rc`` of the pieces of box slab ``I`` = sum of their voxels' residual ``b - A x``,
    reading plane ``i`` as :func:`_plane` (the fused kernels pass a chunk's halo).  Per
    fine row the residual is summed pairwise into a box-row accumulator (a vectorized
    loop), which is the answer for the boxes of one piece; only boxes of several pieces
    scatter each voxel through the lookup table."""
    n0, n1, n2 = code.shape
    m1, m2 = acc.shape
    _slab_boxes(pat, rowbase, count, I, first, multi_ptr, multi_k)
    for J in range(m1):
        for K in range(m2):
            acc[J, K] = 0.0
        for t in range(multi_ptr[J], multi_ptr[J + 1]):
            K = multi_k[t]
            b0 = first[J, K]
            for c in range(count[pat[I, J, K]]):
                rc[b0 + c] = 0.0
    for i in range(2 * I, min(2 * I + 2, n0)):
        xm_p = _plane(x, halo, zpl, i - 1, i0, i1, n0)
        x_p = _plane(x, halo, zpl, i, i0, i1, n0)
        xp_p = _plane(x, halo, zpl, i + 1, i0, i1, n0)
        zrow = zpl[0]
        for j in range(n1):
            xm = xm_p[j]
            xp = xp_p[j]
            ym = x_p[j - 1] if j > 0 else zrow
            yp = x_p[j + 1] if j < n1 - 1 else zrow
            xr = x_p[j]
            br = b[i, j]
            c = code[i, j]
            for k in range(n2):
                tmp[k] = wx * (xm[k] + xp[k]) + wy * (ym[k] + yp[k])
            if n2 > 1:
                tmp[0] += xr[1]
                for k in range(1, n2 - 1):
                    tmp[k] += xr[k - 1] + xr[k + 1]
                tmp[n2 - 1] += xr[n2 - 2]
            for k in range(n2):
                ck = c[k]
                d = wx * np.float32(ck & 3) + wy * np.float32((ck >> 2) & 3) \
                    + np.float32(ck >> 4)
                v = br[k] + tmp[k] - d * xr[k]
                res[k] = v if ck != 0 else np.float32(0.0)
            J = j >> 1
            a = acc[J]
            for K in range(m2):
                a[K] += res[2 * K] + res[2 * K + 1]
            pos = ((i & 1) << 2) | ((j & 1) << 1)
            for t in range(multi_ptr[J], multi_ptr[J + 1]):
                K = multi_k[t]
                p = pat[I, J, K]
                b0 = first[J, K]
                rc[b0 + lut[p, pos]] += res[2 * K]
                rc[b0 + lut[p, pos | 1]] += res[2 * K + 1]
    for J in range(m1):
        for K in range(m2):
            if count[pat[I, J, K]] == 1:
                rc[first[J, K]] = acc[J, K]


@numba.njit(**JIT_EXACT)
def _prolong_slab(code, x, halo, zpl, i0, i1, xc, pat, rowbase, lut, count, omega, I,
                  tmp, val, first, multi_ptr, multi_k):
    """``x += omega P xc`` on the planes of box slab ``I`` (planes as :func:`_plane`).
    The coarse values of one-piece boxes are gathered once into a box-row table shared by
    the 4 fine rows of each box row; boxes of several pieces look their voxels up."""
    n0, n1, n2 = code.shape
    m1, m2 = val.shape
    _slab_boxes(pat, rowbase, count, I, first, multi_ptr, multi_k)
    for J in range(m1):
        for K in range(m2):
            val[J, K] = omega * xc[first[J, K]] if count[pat[I, J, K]] == 1 else 0.0
    for i in range(2 * I, min(2 * I + 2, n0)):
        x_p = _plane(x, halo, zpl, i, i0, i1, n0)
        for j in range(n1):
            J = j >> 1
            v = val[J]
            for K in range(m2):
                tmp[2 * K] = v[K]
                tmp[2 * K + 1] = v[K]
            pos = ((i & 1) << 2) | ((j & 1) << 1)
            for t in range(multi_ptr[J], multi_ptr[J + 1]):
                K = multi_k[t]
                p = pat[I, J, K]
                b0 = first[J, K]
                tmp[2 * K] = omega * xc[b0 + lut[p, pos]]
                tmp[2 * K + 1] = omega * xc[b0 + lut[p, pos | 1]]
            c = code[i, j]
            xr = x_p[j]
            for k in range(n2):
                xr[k] += tmp[k] if c[k] != 0 else np.float32(0.0)


@kernel
def fine_restrict_pieces(code, wx, wy, x, b, pat, rowbase, lut, count, rc):
    """``rc = P^T (b - A x)``: fine residual summed over the connected pieces of each box.

    ``rowbase[c, I, J]`` is the first unknown of the colour-``c`` boxes of box row
    ``(I, J)`` (:func:`row_bases`); box slab by box slab (:func:`_restrict_slab`, which
    the fused pre-smoothing pass of ``_fused`` calls too).
    """
    n0, n1, n2 = code.shape
    m0, m1, m2 = pat.shape
    wx = np.float32(wx)
    wy = np.float32(wy)
    zpl = np.zeros((n1, n2), np.float32)
    nohalo = np.zeros((4, 1, 1), np.float32)   # every plane 0 .. n0 - 1 is read from x
    for I in prange(m0):
        tmp = np.empty(n2, np.float32)
        res = np.zeros(2 * m2, np.float32)
        acc = np.empty((m1, m2), np.float32)
        first = np.empty((m1, m2), np.int64)
        multi_ptr = np.empty(m1 + 1, np.int64)
        multi_k = np.empty(m1 * m2, np.int64)
        _restrict_slab(code, wx, wy, x, nohalo, zpl, 0, n0, b, pat, rowbase, lut, count, rc, I,
                       tmp, res, acc, first, multi_ptr, multi_k)


@kernel
def fine_prolong_pieces(code, x, xc, pat, rowbase, lut, count, omega):
    """``x += omega * P xc`` on the solved voxels (constant on each piece), box slab by
    box slab (:func:`_prolong_slab`, shared with the fused post-smoothing pass)."""
    n0, n1, n2 = code.shape
    m0, m1, m2 = pat.shape
    zpl = np.zeros((n1, n2), np.float32)
    nohalo = np.zeros((4, 1, 1), np.float32)
    for I in prange(m0):
        tmp = np.zeros(2 * m2, np.float32)
        val = np.empty((m1, m2), np.float32)
        first = np.empty((m1, m2), np.int64)
        multi_ptr = np.empty(m1 + 1, np.int64)
        multi_k = np.empty(m1 * m2, np.int64)
        _prolong_slab(code, x, nohalo, zpl, 0, n0, xc, pat, rowbase, lut, count, omega, I, tmp,
                      val, first, multi_ptr, multi_k)


# ----------------------------------------------------------------------------- graph levels
# The smoothing and the residual of a graph level read it in SELL-8 form (sliced ELLPACK,
# rows in chunks of 8, each chunk padded to its longest row and stored column-major: entry t
# of lane l at cptr[chunk] + 8 t + l; a padded entry has conductance 0 and points at a row of
# its own chunk).  Chunks restart at the first black node, so a colour is a range of chunks.
# A CSR row loop has a trip count that changes from row to row (3-8 entries, a mispredicted
# loop exit per row); a chunk has one trip count for 8 rows, and its 8 rows are updated side
# by side.  Measured (one thread, BM01 128^3 level 1, 5.4 entries per row, padding 10-12 %,
# load ~5): a red half sweep 19.6 ns per updated node with the CSR layout or with SELL-8
# and the diagonal summed and divided by in every sweep, 13.4 with SELL-8 and a stored
# reciprocal diagonal ``inv`` (float32, 4 bytes per node).  A row's sum runs over its
# entries in CSR order followed by the padding's exact zeros.
SELL_C = 8


@numba.njit(**JIT_EXACT)
def _sell_place(r, n_red, ch_red):
    """(chunk, lane) of row ``r``."""
    if r < n_red:
        return r >> 3, r & 7
    q = r - n_red
    return ch_red + (q >> 3), q & 7


@numba.njit(**_JIT)
def sell_from_csr(rowptr, col, val, n_red):
    """SELL-8 form of a graph level (see above): ``(cptr, width, scol, sval, ch_red)``.

    ``cptr`` int64 (chunks + 1), ``width`` int32 (entries per lane of each chunk),
    ``scol`` int32 and ``sval`` (``val``'s dtype) of ``8 * sum(width)`` entries,
    ``ch_red`` = number of red chunks (the black rows start at chunk ``ch_red``).
    """
    n = rowptr.shape[0] - 1
    ch_red = (n_red + 7) >> 3
    nch = ch_red + ((n - n_red + 7) >> 3)
    width = np.zeros(nch, np.int32)
    for r in range(n):
        ch, lane = _sell_place(r, n_red, ch_red)
        d = rowptr[r + 1] - rowptr[r]
        if d > width[ch]:
            width[ch] = d
    cptr = np.zeros(nch + 1, np.int64)
    for c in range(nch):
        cptr[c + 1] = cptr[c] + 8 * np.int64(width[c])
    scol = np.empty(cptr[nch], np.int32)
    sval = np.zeros(cptr[nch], val.dtype)
    for c in range(nch):                # padding: conductance 0 to the chunk's first row
        first = 8 * c if c < ch_red else n_red + 8 * (c - ch_red)
        for e in range(cptr[c], cptr[c + 1]):
            scol[e] = first
    for r in range(n):
        ch, lane = _sell_place(r, n_red, ch_red)
        e = cptr[ch] + lane
        for t in range(rowptr[r], rowptr[r + 1]):
            scol[e] = col[t]
            sval[e] = val[t]
            e += 8
    return cptr, width, scol, sval, ch_red


@numba.njit(**_JIT)
def reciprocal_diagonal(rowptr, val, dirichlet):
    """float32 ``1 / (sum of the row's conductances + its Dirichlet ones)``, summed in
    float64 (compiled with the module's flags, which allow reassociation: the order of the
    sum is the compiler's, the same for a given build)."""
    n = rowptr.shape[0] - 1
    inv = np.empty(n, np.float32)
    for r in range(n):
        d = 0.0
        for t in range(rowptr[r], rowptr[r + 1]):
            d += np.float64(val[t])
        inv[r] = 1.0 / (np.float64(dirichlet[r]) + d)
    return inv


@numba.njit(**_JIT, inline="always")
def _sell_chunk_gs(cptr, width, scol, sval, inv, x, b, c, r0):
    """Gauss-Seidel update of the 8 rows ``r0 .. r0 + 7`` of full chunk ``c`` (one colour)."""
    e = cptr[c]
    s0 = b[r0]
    s1 = b[r0 + 1]
    s2 = b[r0 + 2]
    s3 = b[r0 + 3]
    s4 = b[r0 + 4]
    s5 = b[r0 + 5]
    s6 = b[r0 + 6]
    s7 = b[r0 + 7]
    for t in range(width[c]):
        s0 += np.float32(sval[e]) * x[scol[e]]
        s1 += np.float32(sval[e + 1]) * x[scol[e + 1]]
        s2 += np.float32(sval[e + 2]) * x[scol[e + 2]]
        s3 += np.float32(sval[e + 3]) * x[scol[e + 3]]
        s4 += np.float32(sval[e + 4]) * x[scol[e + 4]]
        s5 += np.float32(sval[e + 5]) * x[scol[e + 5]]
        s6 += np.float32(sval[e + 6]) * x[scol[e + 6]]
        s7 += np.float32(sval[e + 7]) * x[scol[e + 7]]
        e += 8
    x[r0] = s0 * inv[r0]
    x[r0 + 1] = s1 * inv[r0 + 1]
    x[r0 + 2] = s2 * inv[r0 + 2]
    x[r0 + 3] = s3 * inv[r0 + 3]
    x[r0 + 4] = s4 * inv[r0 + 4]
    x[r0 + 5] = s5 * inv[r0 + 5]
    x[r0 + 6] = s6 * inv[r0 + 6]
    x[r0 + 7] = s7 * inv[r0 + 7]


@kernel
def graph_gs(cptr, width, scol, sval, inv, x, b, lo, hi, c_lo, zero_start, other_lo, other_hi):
    """Gauss-Seidel update of the nodes ``lo .. hi - 1`` (one colour: independent updates),
    which are the rows of the SELL-8 chunks from ``c_lo`` on (:func:`sell_from_csr`);
    ``inv`` (float32) is the reciprocal of the operator's diagonal.

    With ``zero_start`` the current ``x`` is taken as 0: the nodes of this colour get
    ``b / diag`` and those of the other colour (``other_lo .. other_hi - 1``) are set to 0.
    """
    if zero_start:
        for i in prange(lo, hi):
            x[i] = b[i] * inv[i]
        for i in prange(other_lo, other_hi):
            x[i] = 0.0
        return
    nch = (hi - lo + 7) >> 3
    for q in prange(nch):
        q = np.int64(q)       # a prange index may be unsigned (unsigned + signed: float64)
        c = c_lo + q
        r0 = lo + 8 * q
        if r0 + 8 <= hi:
            _sell_chunk_gs(cptr, width, scol, sval, inv, x, b, c, r0)
        else:
            for lane in range(hi - r0):
                s = b[r0 + lane]
                e = cptr[c] + lane
                for t in range(width[c]):
                    s += np.float32(sval[e]) * x[scol[e]]
                    e += 8
                x[r0 + lane] = s * inv[r0 + lane]


@kernel
def graph_restrict_residual(cptr, width, scol, sval, inv, x, b, agg, rc, slabs, cslabs):
    """``rc = P^T (b - A x)`` after a pre-smoothing that ends with a black half sweep:
    the black nodes' residuals are then zero up to float32 rounding (each was just solved
    for, with its red neighbours fixed: ``x = s * inv`` with a float32 reciprocal diagonal),
    so only the red ones (SELL-8 chunks from 0) are summed; the caller guarantees the black
    half sweep (``sweeps >= 1``, checked where the cycle runs).

    In parallel over the slabs of parent blocks: ``slabs[c, I] .. slabs[c, I + 1] - 1``
    are the nodes of colour ``c`` in box slab ``I`` (nodes are numbered by colour, then
    box in C order), ``cslabs`` the same on the coarse level.  The aggregates of parent
    slab ``P`` have all their members in box slabs ``2P`` and ``2P + 1``, so the scatters
    of different parent slabs never touch the same entry.
    """
    m0 = slabs.shape[1] - 1
    M0 = cslabs.shape[1] - 1
    for P in prange(M0):
        for c in range(2):
            for A in range(cslabs[c, P], cslabs[c, P + 1]):
                rc[A] = 0.0
        for i in range(slabs[0, 2 * P], slabs[0, min(2 * P + 2, m0)]):
            e = cptr[i >> 3] + (i & 7)
            s = b[i]
            for t in range(width[i >> 3]):
                s += np.float32(sval[e]) * x[scol[e]]
                e += 8
            rc[agg[i]] += s - x[i] / inv[i]


@kernel
def graph_prolong_add(agg, x, xc, omega):
    """``x += omega * P xc``."""
    for i in prange(x.shape[0]):
        x[i] += omega * xc[agg[i]]


@numba.njit(**JIT_EXACT)
def _find(uf, i):
    root = i
    while uf[root] != root:
        root = uf[root]
    while uf[i] != root:          # path compression
        nxt = uf[i]
        uf[i] = root
        i = nxt
    return root


@numba.njit(**JIT_EXACT)
def _slab_range(slabs, c, P, m0):
    """Nodes of colour ``c`` in the box slabs ``2P, 2P + 1`` (the children of parent slab P)."""
    return slabs[c, 2 * P], slabs[c, min(2 * P + 2, m0)]


@numba.njit(**_JIT)
def graph_aggregate(rowptr, col, coords, slabs, m0, m1, m2):
    """Connected pieces of each 2x2x2 block of boxes, parent slab by parent slab.

    ``coords[i]`` is node ``i``'s box (C-order index in the ``(m0, m1, m2)`` box
    grid) and ``slabs[c, I]`` the first node of colour ``c`` in box slab ``I``.  A
    block's members lie in the two box slabs of one parent slab, so the union-find
    of different parent slabs never touches the same node: the loops over parent
    slabs are independent and could run in parallel.  They run serially: a
    ``prange`` variant measured slower on the 2-core machine than this serial one
    (200^3 field, level 1 -> 2, 450 k nodes: 0.132 vs 0.116 s; Galerkin 0.144 vs
    0.108 s; load 5), and it costs ~6 s more to compile.

    Returns ``(agg, n_red, n_coarse, parent, cslabs)``: the aggregate of every node,
    numbered red first (parity of the parent box), then parent slab by parent slab,
    then by the aggregate's lowest node; each aggregate's parent box (C-order index
    in the ``((m0+1)//2, ...)`` grid); and ``cslabs`` (as ``slabs``, one level up).
    """
    n = coords.shape[0]
    M0 = (m0 + 1) // 2
    M1 = (m1 + 1) // 2
    M2 = (m2 + 1) // 2
    blk = np.empty(n, np.int64)
    for i in range(n):
        c = coords[i]
        K = c % m2
        J = (c // m2) % m1
        I = c // (m1 * m2)
        blk[i] = ((I >> 1) * M1 + (J >> 1)) * M2 + (K >> 1)
    uf = np.empty(n, np.int64)
    cnt = np.zeros((2, M0), np.int64)
    for P in range(M0):
        for c in range(2):
            lo, hi = _slab_range(slabs, c, P, m0)
            for i in range(lo, hi):
                uf[i] = i
        for c in range(2):
            lo, hi = _slab_range(slabs, c, P, m0)
            for i in range(lo, hi):
                for t in range(rowptr[i], rowptr[i + 1]):
                    j = np.int64(col[t])
                    if j > i and blk[j] == blk[i]:
                        a = _find(uf, i)
                        b = _find(uf, j)
                        if a < b:
                            uf[b] = a
                        elif b < a:
                            uf[a] = b
        r0 = 0
        r1 = 0
        for c in range(2):
            lo, hi = _slab_range(slabs, c, P, m0)
            for i in range(lo, hi):
                if uf[i] == i:
                    B = blk[i]
                    if ((B // (M1 * M2)) + ((B // M2) % M1) + (B % M2)) & 1:
                        r1 += 1
                    else:
                        r0 += 1
        cnt[0, P] = r0
        cnt[1, P] = r1
    cslabs = np.empty((2, M0 + 1), np.int64)
    cslabs[0, 0] = 0
    for P in range(M0):
        cslabs[0, P + 1] = cslabs[0, P] + cnt[0, P]
    n_red = cslabs[0, M0]
    cslabs[1, 0] = n_red
    for P in range(M0):
        cslabs[1, P + 1] = cslabs[1, P] + cnt[1, P]
    n_coarse = cslabs[1, M0]
    agg = np.empty(n, np.int32)
    parent = np.empty(n_coarse, np.int64)
    for P in range(M0):
        o0 = cslabs[0, P]
        o1 = cslabs[1, P]
        for c in range(2):              # increasing node order: a root precedes its members
            lo, hi = _slab_range(slabs, c, P, m0)
            for i in range(lo, hi):
                r = _find(uf, i)
                if r == i:
                    B = blk[i]
                    if ((B // (M1 * M2)) + ((B // M2) % M1) + (B % M2)) & 1:
                        a = o1
                        o1 += 1
                    else:
                        a = o0
                        o0 += 1
                    agg[i] = a
                    parent[a] = B
                else:
                    agg[i] = agg[r]
    return agg, n_red, n_coarse, parent, cslabs


@numba.njit(**_JIT)
def graph_galerkin(rowptr, col, val, dirichlet, agg, slabs, cslabs, chunks):
    """``P^T A P`` of a graph level: coarse CSR and Dirichlet conductances.

    The members of the aggregates of parent slab ``P`` are the nodes of box slabs
    ``2P, 2P + 1`` (``slabs``, ``cslabs`` as returned by :func:`graph_aggregate`);
    the coarse rows are built in ``chunks`` independent runs of parent slabs, each
    with its own marker and accumulator over the coarse nodes (16 bytes per coarse
    node per chunk), so the chunks could run in parallel; they run serially (see
    :func:`graph_aggregate`), the hierarchy passes ``chunks=1``.  Conductances are
    summed in float64 and stored as float32.  A one-pass variant (rows written at a bound,
    then copied together, as :func:`fine_graph` does) was 20 % faster on level 1 -> 2 at
    200^3 alone but 2-4 % slower inside the 401^3 setup (its scratch of 8 bytes per fine
    entry is fresh memory; session 8): not kept.
    """
    n = agg.shape[0]
    m0 = slabs.shape[1] - 1
    M0 = cslabs.shape[1] - 1
    n_coarse = cslabs[1, M0]
    # members of each aggregate (counting sort; every aggregate belongs to one slab)
    start = np.zeros(n_coarse + 1, np.int64)
    for P in range(M0):
        for c in range(2):
            lo, hi = _slab_range(slabs, c, P, m0)
            for i in range(lo, hi):
                start[agg[i] + 1] += 1
    for a in range(n_coarse):
        start[a + 1] += start[a]
    members = np.empty(n, np.int64)
    cdir = np.zeros(n_coarse, np.float32)
    for P in range(M0):
        for c in range(2):
            lo, hi = _slab_range(slabs, c, P, m0)
            for i in range(lo, hi):
                a = agg[i]
                members[start[a + 1] - 1] = i
                start[a + 1] -= 1
    # filled from the end: start[a + 1] now holds the first member of a; shift it back
    for a in range(n_coarse):
        start[a] = start[a + 1]
    start[n_coarse] = n
    nchunk = max(1, min(chunks, M0))
    cptr = np.zeros(n_coarse + 1, np.int64)
    for ch in range(nchunk):
        p_lo = ch * M0 // nchunk
        p_hi = (ch + 1) * M0 // nchunk
        mark = np.full(n_coarse, -1, np.int64)
        for c in range(2):
            for A in range(cslabs[c, p_lo], cslabs[c, p_hi]):
                deg = 0
                d = 0.0
                for s in range(start[A], start[A + 1]):
                    i = members[s]
                    d += dirichlet[i]
                    for t in range(rowptr[i], rowptr[i + 1]):
                        B = agg[col[t]]
                        if B != A and mark[B] != A:
                            mark[B] = A
                            deg += 1
                cptr[A + 1] = deg
                cdir[A] = d
    for a in range(n_coarse):
        cptr[a + 1] += cptr[a]
    nnz = cptr[n_coarse]
    ccol = np.empty(nnz, np.int32)
    cval = np.empty(nnz, np.float32)
    for ch in range(nchunk):
        p_lo = ch * M0 // nchunk
        p_hi = (ch + 1) * M0 // nchunk
        mark = np.full(n_coarse, -1, np.int64)
        acc = np.zeros(n_coarse)
        for c in range(2):              # rows in increasing order: positions increase
            for A in range(cslabs[c, p_lo], cslabs[c, p_hi]):
                row0 = cptr[A]
                q = row0
                for s in range(start[A], start[A + 1]):
                    i = members[s]
                    for t in range(rowptr[i], rowptr[i + 1]):
                        B = agg[col[t]]
                        if B == A:
                            continue
                        if mark[B] < row0:
                            mark[B] = q
                            ccol[q] = B
                            acc[B] = val[t]
                            q += 1
                        else:
                            acc[B] += val[t]
                for e in range(row0, q):
                    cval[e] = acc[ccol[e]]
    return cptr, ccol, cval, cdir
