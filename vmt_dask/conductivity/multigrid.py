"""Aggregation multigrids for the voxel conductance operator.

Two hierarchies with the same cycle: :class:`ConnectedHierarchy` (the solver's
preconditioner; aggregates = connected pieces of 2x2x2 blocks, coarse levels as
sparse graphs, see :mod:`._graph`) and :class:`Hierarchy` (plain 2x2x2 box
aggregates on dense grids, described below; kept as the reference the tests and
the benchmark compare with).

Every level is a dense grid.  Level 0 is the voxel grid itself, stored as a
``uint8`` neighbour-count code plus two lateral conductances (see :mod:`._stencil`); level ``l + 1`` aggregates 2x2x2
boxes of level ``l`` with piecewise-constant prolongation ``P``.  The Galerkin
operator ``P^T A P`` of a 7-point graph Laplacian under box aggregation is again a
7-point operator (coarse face conductance = sum of the fine conductances crossing
between two boxes), so all levels share one stencil kernel and no sparse matrix
is ever formed.  The coarsest level (at most ``max_coarse`` cells) is solved by
a dense Cholesky factorization of its active cells.

The V-cycle is symmetric (red-black Gauss-Seidel, red then black before the
coarse correction and black then red after it), and the coarse correction is
scaled by ``omega`` (> 0): unsmoothed aggregation makes the coarse operator too
stiff by about a factor 2 for smooth errors, so corrections come out too small;
a constant scaling keeps the cycle symmetric positive definite, which conjugate
gradients needs of a preconditioner.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from . import _stencil as st
from ._jit import SERIAL_CELLS, serial_if_small

__all__ = ["Hierarchy", "ConnectedHierarchy", "serial_if_small", "SERIAL_CELLS"]


def _check_cycle(h) -> None:
    """The cycle parameters both hierarchies share (ValueError naming the bad one)."""
    if not 0.0 < h.omega < 2.0:
        raise ValueError(f"omega must be in (0, 2), got {h.omega!r}")
    if h.gamma not in (1, 2):
        raise ValueError(f"gamma must be 1 or 2, got {h.gamma!r}")
    if h.sweeps < 1 or h.fine_sweeps < 1:
        raise ValueError(f"sweeps must be >= 1, got {h.sweeps!r}, {h.fine_sweeps!r}")
    if h.max_coarse < 1:
        raise ValueError(f"max_coarse must be >= 1, got {h.max_coarse!r}")


def _halo(h) -> np.ndarray:
    """Work planes of the fused fine kernels (:func:`._fused.halo_planes`) kept on the
    hierarchy ``h``: one chunk of box slabs per numba thread of the calling thread (made
    again when that count changes).  More chunks per thread, handed out one at a time,
    measured slower (160^3 BM01 SE, 2 threads, load ~2: 4 chunks 316-320 ms per CG
    iteration, 1 chunk 245-266 ms; session 5); the tests still run the kernels that way,
    since any chunking must give the same result."""
    import numba

    from . import _fused as fu

    chunks = max(1, min(numba.get_num_threads(), (h.code.shape[0] + 1) // 2))
    if h._halo is None or h._halo.shape[0] != chunks:
        h._halo = fu.halo_planes(h.code.shape, chunks)
    return h._halo


@dataclass
class _Level:
    shape: tuple[int, int, int]
    cx: np.ndarray | None = None      # None on level 0 (code array instead)
    cy: np.ndarray | None = None
    cz: np.ndarray | None = None
    diag: np.ndarray | None = None
    x: np.ndarray | None = None       # correction (levels >= 1)
    b: np.ndarray | None = None       # right-hand side (levels >= 1)


@dataclass
class Hierarchy:
    """Multigrid hierarchy for the fine operator given by its degree array.

    Parameters
    ----------
    code : ndarray of uint8, shape (n0, n1, n2)
        Fine-level neighbour-count code (0 = voxel not solved for, see
        :func:`._stencil.fine_code`), transport along the last axis.
    wx, wy : float
        Fine face conductances along axes 0 and 1 relative to the transport axis.
    max_coarse : int
        Coarsening stops at the first level with at most this many cells.
    omega : float
        Scaling of the coarse-grid correction, in (0, 2).  Below 2 every eigenvalue
        of ``B A`` lies in (0, 2) on every level (two-grid error operator
        ``S^T (I - omega Q) S`` with ``Q`` an A-orthogonal projection), so the
        W-cycle's repeated coarse solves stay positive definite.
    sweeps : int
        Red-black Gauss-Seidel sweeps before and after each coarse correction on
        the coarse levels (levels >= 1).
    fine_sweeps : int
        The same on the fine level.  Measured (CPU time to rtol 1e-6, one thread,
        128^3): two coarse sweeps and one fine sweep cut BM01 SE from 20 to 14
        iterations and 1.02 to 0.80 s, a 30 % random field from 32 to 25 iterations
        and 1.64 to 1.41 s; a second fine sweep lowers iterations further (12, 21)
        but costs more than it saves there.  On thin channel networks two fine
        sweeps do pay (95 -> 50 iterations, 2.3 -> 2.0 s).
    gamma : int
        Cycle index below level 1: 1 = V-cycle, 2 = W-cycle on the coarse levels
        (level 0 always visits level 1 once, so the extra cost is a few per cent).
    """

    code: np.ndarray = field(repr=False)
    wx: float = 1.0
    wy: float = 1.0
    max_coarse: int = 512
    omega: float = 1.8
    sweeps: int = 2
    gamma: int = 2
    fine_sweeps: int = 1
    levels: list[_Level] = field(default_factory=list, repr=False)
    _halo: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_cycle(self)
        shape = self.code.shape
        self.levels = [_Level(shape=shape)]
        while int(np.prod(shape)) > self.max_coarse:
            new = tuple((n + 1) // 2 for n in shape)
            lev = _Level(
                shape=new,
                cx=np.empty(new, np.float32), cy=np.empty(new, np.float32),
                cz=np.empty(new, np.float32), diag=np.empty(new, np.float32),
                x=np.empty(new, np.float32), b=np.empty(new, np.float32),
            )
            prev = self.levels[-1]
            if prev.diag is None:
                st.coarsen_fine(self.code, self.wx, self.wy, lev.cx, lev.cy, lev.cz, lev.diag)
            else:
                st.coarsen(prev.cx, prev.cy, prev.cz, prev.diag, lev.cx, lev.cy, lev.cz, lev.diag)
            st.finish_diag(lev.cx, lev.cy, lev.cz, lev.diag)
            self.levels.append(lev)
            shape = new
        self._factor_coarsest()

    # ------------------------------------------------------------------ coarsest level
    def _coarsest_arrays(self):
        lev = self.levels[-1]
        if lev.diag is not None:
            return lev.cx, lev.cy, lev.cz, lev.diag
        c = self.code
        a = c != 0
        cx = np.zeros(a.shape, np.float32)
        cy = np.zeros(a.shape, np.float32)
        cz = np.zeros(a.shape, np.float32)
        cx[:-1] = (a[:-1] & a[1:]) * np.float32(self.wx)
        cy[:, :-1] = (a[:, :-1] & a[:, 1:]) * np.float32(self.wy)
        cz[:, :, :-1] = a[:, :, :-1] & a[:, :, 1:]
        diag = (np.float32(self.wx) * (c & 3) + np.float32(self.wy) * ((c >> 2) & 3)
                + (c >> 4)).astype(np.float32)
        return cx, cy, cz, diag

    def _factor_coarsest(self) -> None:
        cx, cy, cz, diag = self._coarsest_arrays()
        active = diag != 0
        index = np.full(diag.shape, -1, dtype=np.int64)
        index[active] = np.arange(int(active.sum()))
        n = int(active.sum())
        mat = np.zeros((n, n))
        mat[index[active], index[active]] = diag[active]
        for c, sl_lo, sl_hi in (
            (cx, np.s_[:-1, :, :], np.s_[1:, :, :]),
            (cy, np.s_[:, :-1, :], np.s_[:, 1:, :]),
            (cz, np.s_[:, :, :-1], np.s_[:, :, 1:]),
        ):
            g = c[sl_lo]
            nz = g != 0
            p = index[sl_lo][nz]
            q = index[sl_hi][nz]
            mat[p, q] = -g[nz]
            mat[q, p] = -g[nz]
        self._coarse_index = index
        self._coarse_active = active
        self._coarse_factor = scipy.linalg.cho_factor(mat, lower=True) if n else None

    def _solve_coarsest(self, b: np.ndarray, x: np.ndarray) -> None:
        x[...] = 0.0
        if self._coarse_factor is None:
            return
        rhs = b[self._coarse_active].astype(np.float64)
        x[self._coarse_active] = scipy.linalg.cho_solve(self._coarse_factor, rhs)

    # ------------------------------------------------------------------ cycle
    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def vcycle(self, b: np.ndarray, x: np.ndarray) -> float:
        """Apply the preconditioner: ``x = B b`` (one symmetric cycle, zero start).

        Returns ``b . x`` (float64).
        """
        return self._cycle(0, b, x, True)

    def _cycle(self, level: int, b: np.ndarray, x: np.ndarray, zero_start: bool) -> float:
        with serial_if_small(x.size):
            return self._cycle_body(level, b, x, zero_start)

    def _cycle_body(self, level: int, b: np.ndarray, x: np.ndarray, zero_start: bool) -> float:
        if level == len(self.levels) - 1:
            self._solve_coarsest(b, x)
            return st.dot(b, x)
        lev = self.levels[level]
        nxt = self.levels[level + 1]
        fine = lev.diag is None
        sweeps = self.fine_sweeps if fine else self.sweeps
        for s in range(sweeps):
            for color in (0, 1):
                zero = zero_start and s == 0 and color == 0
                if fine:
                    st.fine_gs(self.code, self.wx, self.wy, x, b, color, zero)
                else:
                    st.coarse_gs(lev.cx, lev.cy, lev.cz, lev.diag, x, b, color, zero)
        if fine:
            st.fine_restrict_residual(self.code, self.wx, self.wy, x, b, nxt.b)
        else:
            st.coarse_restrict_residual(lev.cx, lev.cy, lev.cz, lev.diag, x, b, nxt.b)
        repeats = 1 if level == 0 or level + 1 == len(self.levels) - 1 else self.gamma
        for rep in range(repeats):
            # repeated visits solve the same coarse equation from the last iterate
            self._cycle(level + 1, nxt.b, nxt.x, rep == 0)
        if fine:
            st.fine_prolong_add(self.code, x, nxt.x, np.float32(self.omega))
        else:
            st.coarse_prolong_add(lev.diag, x, nxt.x, np.float32(self.omega))
        bx = 0.0
        for s in range(sweeps):
            for color in (1, 0):
                if fine:
                    bx = st.fine_gs(self.code, self.wx, self.wy, x, b, color, False)
                else:
                    st.coarse_gs(lev.cx, lev.cy, lev.cz, lev.diag, x, b, color, False)
        return bx if fine else 0.0

    def halo(self) -> np.ndarray:
        """Work planes of the fused fine kernels (see :func:`_halo`)."""
        return _halo(self)

    @property
    def nbytes(self) -> int:
        """Memory held by the coarse levels (bytes)."""
        total = 0
        for lev in self.levels[1:]:
            total += sum(a.nbytes for a in (lev.cx, lev.cy, lev.cz, lev.diag, lev.x, lev.b))
        return total


# ============================================================================= connected pieces
def _index_array(a: np.ndarray) -> np.ndarray:
    """Row pointers as int32 where they fit (4 bytes per unknown less), else int64."""
    return a.astype(np.int32) if a[-1] < 2**31 else a.astype(np.int64)


def _compact_values(val: np.ndarray, dirichlet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Conductances and Dirichlet conductances as uint8 where that is exact for both
    (whole numbers <= 255), else both float32.

    With cubic voxels every conductance of the first coarse levels counts unit
    faces (at most 4 between two pieces of level 1), and every Dirichlet conductance
    is a multiple of 2: 1 byte instead of 4 per entry.  Both arrays share one dtype
    so that each graph kernel is compiled for two signatures, not four.
    """
    from ._graph import whole_numbers_to_255

    if whole_numbers_to_255(val) and whole_numbers_to_255(dirichlet):
        return val.astype(np.uint8), dirichlet.astype(np.uint8)
    return val.astype(np.float32, copy=False), dirichlet.astype(np.float32, copy=False)


@dataclass
class _Graph:
    """One coarse level as a weighted graph (see :mod:`._graph`).

    Built in CSR form (``rowptr``, ``col``, ``val``), which the next level's aggregation
    and Galerkin product read; once those are done every level but the coarsest keeps
    only its SELL-8 form (``sell``: :func:`._graph.sell_from_csr`), which the cycle reads
    (:meth:`to_sell`).  :meth:`csr` gives the CSR arrays in either state.
    """
    rowptr: np.ndarray | None
    col: np.ndarray | None
    val: np.ndarray | None
    dirichlet: np.ndarray
    n_red: int
    x: np.ndarray
    b: np.ndarray
    slabs: np.ndarray                 # slabs[c, I]: first node of colour c in box slab I
    agg: np.ndarray | None = None     # aggregate on the next level of every node
    sell: tuple | None = None         # (cptr, width, scol, sval, ch_red) once converted
    inv: np.ndarray | None = None     # float32 reciprocal diagonal, once converted

    @property
    def n(self) -> int:
        return self.dirichlet.shape[0]

    def to_sell(self) -> None:
        """Keep the level in SELL-8 form only (drops the CSR arrays)."""
        from . import _graph as gr

        if self.sell is None:
            self.inv = gr.reciprocal_diagonal(self.rowptr, self.val, self.dirichlet)
            self.sell = gr.sell_from_csr(self.rowptr, self.col, self.val, self.n_red)
            self.rowptr = self.col = self.val = None

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rowptr, col, val)`` of the level (rebuilt from the SELL-8 form if converted:
        the stored conductances are > 0, the padding's are 0)."""
        if self.sell is None:
            return self.rowptr, self.col, self.val
        cptr, width, scol, sval, ch_red = self.sell
        n, nr = self.n, self.n_red
        rows = np.arange(n)
        ch = np.where(rows < nr, rows >> 3, ch_red + ((rows - nr) >> 3))
        lane = np.where(rows < nr, rows & 7, (rows - nr) & 7)
        w = width[ch].astype(np.int64)
        rowptr = np.concatenate(([0], np.cumsum(w)))
        t = np.arange(int(rowptr[-1])) - np.repeat(rowptr[:-1], w)
        e = np.repeat(cptr[ch] + lane, w) + 8 * t
        keep = sval[e] != 0
        deg = np.bincount(np.repeat(rows, w)[keep], minlength=n)
        return (_index_array(np.concatenate(([0], np.cumsum(deg)))), scol[e][keep],
                sval[e][keep])

    @property
    def diag(self) -> np.ndarray:
        """Diagonal of the level's operator (float64; computed, not stored)."""
        rowptr, _, val = self.csr()
        rows = np.repeat(np.arange(self.n), np.diff(rowptr))
        return self.dirichlet + np.bincount(rows, weights=val, minlength=self.n)

    @property
    def stored_entries(self) -> int:
        """Conductances stored (with the SELL-8 padding once converted)."""
        return int(self.rowptr[-1]) if self.sell is None else int(self.sell[0][-1])

    @property
    def nbytes(self) -> int:
        arrs = (self.rowptr, self.col, self.val, self.dirichlet, self.x, self.b, self.agg,
                self.slabs, self.inv) + (self.sell[:4] if self.sell is not None else ())
        return sum(a.nbytes for a in arrs if a is not None)


@dataclass
class ConnectedHierarchy:
    """Aggregation multigrid whose aggregates are connected (the default preconditioner).

    Same interface and cycle as :class:`Hierarchy`, but every aggregate is one
    **connected piece** of a 2x2x2 block (of voxels on level 1, of the previous
    level's boxes above): voxels of two channels that meet only outside the block
    are never lumped into one coarse unknown, so the coarse space represents the
    independent smooth errors of thin, nearby channels.  The fine level is the
    dense voxel grid; the coarse levels are sparse graphs (:mod:`._graph`); the
    coarsest (at most ``max_coarse`` unknowns, or whatever is left once a block
    spans the whole volume) is solved by a sparse LU factorization.

    Parameters
    ----------
    code, wx, wy, omega, sweeps, fine_sweeps
        As :class:`Hierarchy`.
    max_coarse : int
        Coarsening stops at the first level with at most this many unknowns, solved by a
        sparse LU factorization.  4096 was tried (session 6): on a channel stack along z,
        where coarsening is slow and the W-cycle visits levels of a few hundred unknowns
        32-64 times per cycle, it saved 4-8 % CPU per solve (128^3, 200^3, one thread) and on
        BM03 SE at 128^3 two iterations, but BM01 at 200^3 took 1.8-6 % more CPU (SE 2.23 ->
        2.37 s, AM 2.80 -> 2.85; two alternations, load ~2.7), and a 401^3 check was
        inconclusive (machine shared): 512 kept.
    gamma : int
        Visits of level ``l + 1`` per visit of level ``l >= 1`` (2: W-cycle), as long
        as the work of a level (visits x unknowns) stays within ``w_cycle_budget``
        times that of level 1; beyond, a V-cycle step.  Where coarsening is slow
        (thin channels: 2-4x fewer unknowns per level instead of 8x) a fixed rule
        "W only if the level shrinks 4x" left V-steps inside the hierarchy and
        cost 3-4x the iterations (160^3 channel network: 37-41 vs 11; 200^3
        random field: 31 vs 14); the budget keeps the W-cycle wherever it is cheap.
    """

    code: np.ndarray = field(repr=False)
    wx: float = 1.0
    wy: float = 1.0
    max_coarse: int = 512
    omega: float = 1.8
    sweeps: int = 2
    gamma: int = 2
    fine_sweeps: int = 1
    w_cycle_budget: float = 1.0
    graphs: list[_Graph] = field(default_factory=list, repr=False)
    _halo: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from . import _graph as gr

        _check_cycle(self)
        lut = gr.BOX_LUT
        count = gr.BOX_COUNT
        self._lut, self._count = lut, count
        pat, slab = gr.fine_pieces(self.code, count)
        n_red = int(slab[0].sum())
        n1 = n_red + int(slab[1].sum())
        offsets = np.zeros_like(slab)
        offsets[0, 1:] = np.cumsum(slab[0])[:-1]
        offsets[1] = n_red + np.concatenate(([0], np.cumsum(slab[1])[:-1]))
        base = gr.fine_bases(pat, count, offsets)     # per box: setup only
        self._pat, self._rowbase = pat, gr.row_bases(base)
        rowptr, col, val, dirichlet, coords = gr.fine_graph(
            pat, base, lut, count, gr.BOX_ENTRY_BOUND, offsets, n1, self.code.shape[2],
            float(self.wx), float(self.wy))
        rowptr = _index_array(rowptr)
        del base
        dims = pat.shape
        slabs = np.zeros((2, dims[0] + 1), np.int64)
        slabs[0, 1:] = np.cumsum(slab[0])
        slabs[1] = n_red + np.concatenate(([0], np.cumsum(slab[1])))
        self.graphs = []
        while True:
            n = dirichlet.shape[0]
            g = _Graph(rowptr, col, *_compact_values(val, dirichlet), n_red,
                       np.empty(n, np.float32), np.empty(n, np.float32), slabs)
            self.graphs.append(g)
            if g.n <= self.max_coarse or dims == (1, 1, 1):
                break
            agg, n_red, nc, parent, cslabs = gr.graph_aggregate(rowptr, col, coords, slabs, *dims)
            g.agg = agg
            rowptr, col, val, dirichlet = gr.graph_galerkin(rowptr, col, val, dirichlet, agg,
                                                            slabs, cslabs, 1)
            rowptr = _index_array(rowptr)
            g.to_sell()                  # its CSR form is no longer needed
            coords = parent
            dims = tuple((d + 1) // 2 for d in dims)
            slabs = cslabs
        self._visits = [1]
        for level in range(len(self.graphs) - 1):
            nxt = self.graphs[level + 1]
            last = level + 1 == len(self.graphs) - 1
            w = self._visits[-1] * self.gamma
            fits = w * nxt.n <= self.w_cycle_budget * self.graphs[0].n
            self._visits.append(w if (fits and not last) else self._visits[-1])
        self._factor_coarsest()

    def _factor_coarsest(self) -> None:
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        g = self.graphs[-1]
        n = g.n
        if n == 0:
            self._coarse_lu = None
            return
        rows = np.repeat(np.arange(n), np.diff(g.rowptr))
        mat = sp.csc_matrix(
            (np.concatenate([-g.val.astype(np.float64), g.diag]),
             (np.concatenate([rows, np.arange(n)]), np.concatenate([g.col, np.arange(n)]))),
            shape=(n, n))
        self._coarse_lu = spla.splu(mat)

    @property
    def n_levels(self) -> int:
        return 1 + len(self.graphs)

    @property
    def levels(self) -> list:
        """Sizes of the levels (voxels, then unknowns per coarse level)."""
        return [int(self.code.size)] + [g.n for g in self.graphs]

    def vcycle(self, b: np.ndarray, x: np.ndarray) -> float:
        """Apply the preconditioner: ``x = B b`` (one symmetric cycle, zero start).

        Returns ``b . x`` (float64).  With one fine sweep (the default) the fine level
        takes two passes over the grid (:mod:`._fused`: 22 bytes per voxel) instead of
        five separate kernels (66).
        """
        fine_sweeps = self.fine_sweeps
        code, wx, wy = self.code, self.wx, self.wy
        if fine_sweeps == 1:
            return self._fused_cycle(b, x)
        for s in range(fine_sweeps):
            for color in (0, 1):
                st.fine_gs(code, wx, wy, x, b, color, s == 0 and color == 0)
        from . import _graph as gr

        g1 = self.graphs[0]
        gr.fine_restrict_pieces(code, wx, wy, x, b, self._pat, self._rowbase, self._lut,
                                self._count, g1.b)
        self._graph_cycle(0, True)
        gr.fine_prolong_pieces(code, x, g1.x, self._pat, self._rowbase, self._lut, self._count,
                               np.float32(self.omega))
        bx = 0.0
        for s in range(fine_sweeps):
            for color in (1, 0):
                bx = st.fine_gs(code, wx, wy, x, b, color, False)
        return bx

    def halo(self) -> np.ndarray:
        """Work planes of the fused fine kernels (see :func:`_halo`)."""
        return _halo(self)

    def _fused_cycle(self, b: np.ndarray, x: np.ndarray) -> float:
        """The cycle with one fine sweep: the fine level in two passes (:mod:`._fused`),
        the same result as the five separate passes."""
        from . import _fused as fu

        halo = self.halo()
        code, wx, wy = self.code, self.wx, self.wy
        g1 = self.graphs[0]
        fu.fine_smooth_restrict(code, wx, wy, x, b, self._pat, self._rowbase, self._lut,
                                self._count, g1.b, halo)
        self._graph_cycle(0, True)
        return fu.fine_prolong_smooth(code, wx, wy, x, b, g1.x, self._pat, self._rowbase,
                                      self._lut, self._count, np.float32(self.omega), halo)

    def _graph_cycle(self, level: int, zero_start: bool) -> None:
        g = self.graphs[level]
        with serial_if_small(g.n):
            self._graph_cycle_body(level, zero_start)

    def _graph_cycle_body(self, level: int, zero_start: bool) -> None:
        from . import _graph as gr

        g = self.graphs[level]
        if level == len(self.graphs) - 1:
            if self._coarse_lu is not None:
                g.x[:] = self._coarse_lu.solve(g.b.astype(np.float64))
            return
        if self.sweeps < 1:  # the restriction below sums only the red residuals: it needs the
            raise ValueError(f"sweeps must be >= 1, got {self.sweeps!r}")  # black half sweep
        n, nr = g.n, g.n_red
        cptr, width, scol, sval, ch_red = g.sell
        # (lo, hi, first chunk, other colour's lo, hi) per colour
        ranges = ((0, nr, 0, nr, n), (nr, n, ch_red, 0, nr))
        for s in range(self.sweeps):
            for color in (0, 1):
                lo, hi, c_lo, olo, ohi = ranges[color]
                gr.graph_gs(cptr, width, scol, sval, g.inv, g.x, g.b, lo, hi, c_lo,
                            zero_start and s == 0 and color == 0, olo, ohi)
        nxt = self.graphs[level + 1]
        # after a black half sweep only the red nodes have a residual (the black ones are zero
        # up to float32 rounding of x = s * inv)
        gr.graph_restrict_residual(cptr, width, scol, sval, g.inv, g.x, g.b, g.agg, nxt.b,
                                   g.slabs, nxt.slabs)
        for rep in range(self._repeats(level)):
            self._graph_cycle(level + 1, rep == 0)
        gr.graph_prolong_add(g.agg, g.x, nxt.x, np.float32(self.omega))
        for s in range(self.sweeps):
            for color in (1, 0):
                lo, hi, c_lo, olo, ohi = ranges[color]
                gr.graph_gs(cptr, width, scol, sval, g.inv, g.x, g.b, lo, hi, c_lo, False,
                            olo, ohi)

    def _repeats(self, level: int) -> int:
        """Visits of graph level ``level + 1`` per visit of graph level ``level``."""
        return self._visits[level + 1] // self._visits[level]

    @property
    def visits(self) -> list[int]:
        """Visits of each coarse (graph) level per cycle (level 1 first)."""
        return list(self._visits)

    @property
    def nbytes(self) -> int:
        """Memory held by the coarse levels and the fine -> level-1 map (bytes)."""
        halo = 0 if self._halo is None else self._halo.nbytes
        return self._pat.nbytes + self._rowbase.nbytes + halo + sum(g.nbytes for g in self.graphs)
