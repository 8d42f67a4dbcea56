"""M-factor solver against the memory bandwidth, known answers, an earlier solver and peers.

    python -m vmt_dask.bench solver [--size 500] [--bm-size 401] [--presets BM01,BM03]
        [--peer-size 200] [--baseline-commit 74501f0] [--no-baseline] [--no-peers]
        [--quick] [--out FILE]

In one run, each figure in a fresh child process (wall time of the call, peak
resident memory, CPU seconds):

1. **STREAM-like triad and copy** (numba, all threads, float32 arrays of 3 x 256 MiB):
   the machine's memory bandwidth, the floor for a bandwidth-bound solver.
2. **500^3 known answers** (30 % conducting): a random 2-D cross-section
   (a band around the zero level set of smoothed noise) extruded along z -- an anisotropic stack of
   straight channels.  Along z every phase voxel sits in a full-length column, so
   M_z = 0.3 exactly; along x the 3-D solution is z-invariant, so M_x equals the
   M of the 2-D cross-section, computed here by an independent sparse direct solve
   (scipy spsolve, 250 k unknowns).  Plus a 3-D random-field phase (30 %,
   isotropic correlation) for an unstructured case.
3. **Model structures at 401^3** (BM01 coarse, BM03/BM10 finer SE): iterations and
   time per phase, the coarse/fine iteration count the preconditioner must keep flat.
4. **An earlier solver** (``--baseline-commit``, read with ``git show``; default the
   box-aggregation solver this session started from, ``74501f0`` the first wave) on the
   same volumes, and TauFactor (CPU) and PoreSpy ``tortuosity_fd`` at
   ``--peer-size`` where installed.
5. **The setup of a solve** (``--cases setup``): percolation labelling, active mask,
   operator code, hierarchy (its kernels one by one), CPU and wall seconds per part.

Bytes per CG iteration are counted from the kernels' array traffic (each full
array read or written once per pass; the coarse graph levels by their unknowns, stored
conductances and visits per cycle, taken from the hierarchy the solver builds for
that very volume) and set against the triad bandwidth measured in the run.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from ._measure import format_table, measure_in_child
from ..domain import PHASES

_CODES = {ph: PHASES[ph] for ph in ("SE", "AM")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=500, help="edge of the known-answer cubes")
    parser.add_argument("--bm-size", type=int, default=401, help="edge of the model structures")
    parser.add_argument("--presets", default="BM01,BM03", help="model presets at --bm-size")
    parser.add_argument("--phases", default="SE,AM",
                        help="phases of the model structures (split long runs: one per call)")
    parser.add_argument("--peer-size", type=int, default=200, help="edge for TauFactor/PoreSpy")
    parser.add_argument("--baseline-commit", default="bbc1ea1",
                        help="git commit of an earlier solver to compare with (default: the "
                             "box-aggregation solver of session 3's start; 74501f0 = first wave)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the earlier solver")
    parser.add_argument("--baseline-cases", default="field,BM01,BM03",
                        help="case-name prefixes on which the earlier solver also runs")
    parser.add_argument("--cases", default="channels,field,model,peers",
                        help="subset of channels,field,model,axes,setup,peers to run (axes: BM01 "
                             "SE at --bm-size along x, y, z in one m_factors call vs three calls; "
                             "setup: the setup of a solve part by part, --presets at --bm-size)")
    parser.add_argument("--no-peers", action="store_true", help="skip TauFactor and PoreSpy")
    parser.add_argument("--peer-iter-limit", type=int, default=2000,
                        help="TauFactor iteration cap (it needs ~1000-1600 at 200^3)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (96 / 64 / 48) for a smoke run")
    parser.add_argument("--out", default=None, help="also write the rows as JSON to this file")


# ----------------------------------------------------------------------------- children
def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _stream(n_elems: int, reps: int) -> dict:
    import numba

    @numba.njit(parallel=True, nogil=True, fastmath=True)
    def triad(a, b, c, s):
        for i in numba.prange(a.size):
            a[i] = b[i] + s * c[i]

    @numba.njit(parallel=True, nogil=True)
    def copy(a, b):
        for i in numba.prange(a.size):
            a[i] = b[i]

    a = np.zeros(n_elems, np.float32)
    b = np.ones(n_elems, np.float32)
    c = np.full(n_elems, 2.0, np.float32)
    triad(a, b, c, np.float32(0.5))
    copy(a, b)
    tt, tc = [], []
    for _ in range(reps):
        t = time.perf_counter()
        triad(a, b, c, np.float32(0.5))
        tt.append(time.perf_counter() - t)
        t = time.perf_counter()
        copy(a, b)
        tc.append(time.perf_counter() - t)
    # bytes moved: triad reads 2 and writes 1 array, copy reads 1 and writes 1
    # (write-allocate traffic not counted, as in STREAM)
    return {"triad_GBs": 12 * n_elems / min(tt) / 1e9, "copy_GBs": 8 * n_elems / min(tc) / 1e9,
            "triad_median_GBs": 12 * n_elems / float(np.median(tt)) / 1e9,
            "threads": numba.get_num_threads()}


def _load_baseline(pkg_dir: str):
    sys.path.insert(0, pkg_dir)
    return importlib.import_module("cond_first_wave")


def _warm_up(m_factor, _jit, axis, rtol):
    """Compile (or load) the kernels before anything is timed."""
    warm = np.zeros((20, 20, 20), bool)
    warm[5:15, 5:15, :] = True
    warm[:, 8:12, 8:12] = True
    m_factor(warm, axis=axis, rtol=rtol)
    if _jit is not None:
        # the kernels' parallel variants (a 20^3 warm-up runs the serial ones) and the
        # float32 coarse-conductance signatures (anisotropic voxels), which large volumes use
        cells = _jit.SERIAL_CELLS
        try:
            for serial_cells in (cells, 0):
                _jit.SERIAL_CELLS = serial_cells
                m_factor(warm, axis=axis, rtol=rtol, voxel_size=(1.0, 1.0, 1.5))
                m_factor(warm, axis=axis, rtol=rtol)
        finally:
            _jit.SERIAL_CELLS = cells


def _axes_child(path: str, code: int, mode: str, rtol: float) -> dict:
    """M along x, y, z: one ``m_factors(axes='all')`` call or three ``m_factor`` calls."""
    import resource

    from vmt_dask.conductivity import _jit, m_factor, m_factors

    for a in range(3):
        _warm_up(m_factor, _jit, a, rtol)
    mask = np.load(path) == code
    base_mib = _rss_mib()
    c0 = time.process_time()
    t0 = time.perf_counter()
    if mode == "all":
        res = m_factors(mask, axes="all", rtol=rtol)
    else:
        res = {a: m_factor(mask, axis=a, rtol=rtol) for a in range(3)}
    wall = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"M": res[2].m_factor, "M_xyz": [res[a].m_factor for a in range(3)],
            "iterations": sum(r.iterations for r in res.values()),
            "setup_s": sum(r.setup_seconds for r in res.values()),
            "solve_s": sum(r.solve_seconds for r in res.values()), "wall_s": wall,
            "cpu_s": time.process_time() - c0, "solver_MiB": peak_mib - base_mib}


def _solve_child(path: str, code: int | None, axis: int, which: str, pkg_dir: str | None,
                 rtol: float) -> dict:
    if which == "new":
        from vmt_dask.conductivity import _jit, m_factor
    else:
        pkg = _load_baseline(pkg_dir)
        m_factor = pkg.m_factor
        try:
            _jit = importlib.import_module(pkg.__name__ + "._jit")
        except ImportError:              # an earlier solver without serial variants
            _jit = None
    _warm_up(m_factor, _jit, axis, rtol)
    vol = np.load(path, mmap_mode="r")
    mask = np.array(vol if code is None else vol == code, dtype=bool)
    del vol
    base_mib = _rss_mib()        # imports, compiled kernels and the input mask
    c0 = time.process_time()
    t0 = time.perf_counter()
    res = m_factor(mask, axis=axis, rtol=rtol)
    wall = time.perf_counter() - t0
    import resource

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    traffic = {}
    if which == "new" and res.iterations:
        traffic = _traffic_of(mask, axis)
    return {**traffic, "M": res.m_factor, "iterations": res.iterations, "residual": res.residual,
            "setup_s": res.setup_seconds, "solve_s": res.solve_seconds, "wall_s": wall,
            "cpu_s": time.process_time() - c0, "levels": res.levels,
            "solver_MiB": peak_mib - base_mib, "base_MiB": base_mib,
            "eps": res.volume_fraction, "perc": res.percolating_fraction}


_SETUP_KERNELS = ("fine_pieces", "fine_bases", "row_bases", "fine_graph", "graph_aggregate",
                  "graph_galerkin", "reciprocal_diagonal", "sell_from_csr")


def _setup_child(path: str, code: int, axis: int) -> dict:
    """The setup of one solve part by part (what ``solver._solve_axis`` runs before the
    first iteration), each part's CPU and wall seconds; the hierarchy's kernels timed
    by wrappers around the module functions it calls."""
    from vmt_dask.conductivity import _graph as gr
    from vmt_dask.conductivity import _jit, m_factor
    from vmt_dask.conductivity import _stencil as st
    from vmt_dask.conductivity import multigrid as mg
    from vmt_dask.conductivity import solver as sv

    _warm_up(m_factor, _jit, axis, 1e-6)
    inner: dict[str, list[float]] = {}

    def timed(name, func):
        def call(*a, **k):
            c0, t0 = time.process_time(), time.perf_counter()
            try:
                return func(*a, **k)
            finally:
                acc = inner.setdefault(name, [0.0, 0.0])
                acc[0] += time.process_time() - c0
                acc[1] += time.perf_counter() - t0
        return call

    for name in _SETUP_KERNELS:
        if hasattr(gr, name):
            setattr(gr, name, timed(name, getattr(gr, name)))
    mg._compact_values = timed("_compact_values", mg._compact_values)
    mask = np.load(path) == code
    parts: list[tuple[str, float, float]] = []

    def part(name, func, *args):
        c0, t0 = time.process_time(), time.perf_counter()
        out = func(*args)
        parts.append((name, time.process_time() - c0, time.perf_counter() - t0))
        return out

    c_all, t_all = time.process_time(), time.perf_counter()
    bits = part("percolation", sv._percolation_bits, mask, (axis,))
    active = part("active mask", sv._active, bits, axis)
    del bits
    with mg.serial_if_small(active.size):
        code_arr = part("fine_code", st.fine_code, active)
        del active
        hier = part("hierarchy", mg.ConnectedHierarchy, code_arr)
        part("release", sv._release_free_memory)
        part("load", sv._load, code_arr)
    parts.append(("setup", time.process_time() - c_all, time.perf_counter() - t_all))
    return {"parts": parts, "hierarchy": sorted(inner.items(), key=lambda kv: -kv[1][0]),
            "levels": hier.n_levels, "load": os.getloadavg()[0]}


def _taufactor(path: str, code: int, iter_limit: int) -> dict:
    import taufactor
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    mask = np.load(path) == code
    img = np.ascontiguousarray(np.moveaxis(mask, 2, 0)).astype(np.uint8)
    c0 = time.process_time()
    solver = taufactor.Solver(img, device="cpu")
    solver.solve(iter_limit=iter_limit, verbose=False, conv_crit=2e-3)
    return {"M": float(np.ravel(solver.D_rel)[0]), "iterations": int(solver.iter),
            "cpu_s": time.process_time() - c0, "converged": bool(solver.converged)}


def _porespy(path: str, code: int) -> dict:
    import porespy

    mask = np.load(path) == code
    c0 = time.process_time()
    res = porespy.simulations.tortuosity_fd(mask, axis=2)
    return {"M": 1.0 / float(res.formation_factor), "iterations": None,
            "cpu_s": time.process_time() - c0, "converged": True}


# ----------------------------------------------------------------------------- volumes
def _smooth_noise(shape, sigma, seed):
    """Gaussian-correlated noise by FFT (float32), for thresholded random structures."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape, dtype=np.float32)
    f = np.fft.rfftn(noise)
    del noise
    k = [np.fft.fftfreq(n) for n in shape[:-1]] + [np.fft.rfftfreq(shape[-1])]
    g = np.ones(f.shape, np.float32)
    for ax, kk in enumerate(k):
        sh = [1] * len(shape)
        sh[ax] = kk.size
        g = g * np.exp(-2 * (np.pi * sigma * kk.reshape(sh)) ** 2).astype(np.float32)
    f *= g
    del g
    return np.fft.irfftn(f, s=shape).astype(np.float32)


def _threshold(field, fraction):
    level = np.quantile(field.ravel()[:: max(1, field.size // 4_000_000)], 1 - fraction)
    return field > level


def _m_2d_direct(section: np.ndarray, axis: int) -> float:
    """M of a 2-D cross-section along ``axis`` (0 or 1) by a sparse direct solve.

    Same discretisation as the 3-D solver (unit face conductances, conductance 2 to
    the faces half a voxel away, only the percolating cluster), assembled
    independently.  Extruding the section along z gives a 3-D volume whose M along
    x or y equals this value (the solution is z-invariant).
    """
    import scipy.ndimage as ndi
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    vol = np.moveaxis(section, axis, 1)          # transport along the second axis
    cross = ndi.generate_binary_structure(2, 1)
    inlet = np.zeros_like(vol)
    inlet[:, 0] = vol[:, 0]
    outlet = np.zeros_like(vol)
    outlet[:, -1] = vol[:, -1]
    active = (ndi.binary_propagation(inlet, cross, mask=vol)
              & ndi.binary_propagation(outlet, cross, mask=vol))
    n0, n1 = vol.shape
    idx = -np.ones(vol.shape, np.int64)
    n = int(active.sum())
    if n == 0:
        return 0.0
    idx[active] = np.arange(n)
    rows, cols = [], []
    diag = np.zeros(n)
    for a, (lo, hi) in enumerate((((slice(0, -1), slice(None)), (slice(1, None), slice(None))),
                                  ((slice(None), slice(0, -1)), (slice(None), slice(1, None))))):
        pair = active[lo] & active[hi]
        p, q = idx[lo][pair], idx[hi][pair]
        rows += [p, q]
        cols += [q, p]
        np.add.at(diag, p, 1.0)
        np.add.at(diag, q, 1.0)
    first = idx[:, 0][active[:, 0]]
    last = idx[:, -1][active[:, -1]]
    np.add.at(diag, first, 2.0)
    np.add.at(diag, last, 2.0)
    rhs = np.zeros(n)
    rhs[first] = 2.0
    r = np.concatenate(rows + [np.arange(n)])
    c = np.concatenate(cols + [np.arange(n)])
    v = np.concatenate([-np.ones(sum(x.size for x in rows)), diag])
    mat = sp.csc_matrix((v, (r, c)), shape=(n, n))
    u = spla.spsolve(mat, rhs)
    current = float(np.sum(2.0 * (1.0 - u[first])))
    return current * n1 / n0


# ----------------------------------------------------------------------------- bytes model
def _traffic_of(mask, axis) -> dict:
    """Array traffic of one PCG iteration of the hierarchy the solver builds for ``mask``."""
    from vmt_dask.conductivity import _stencil as st
    from vmt_dask.conductivity import percolating_mask
    from vmt_dask.conductivity.multigrid import ConnectedHierarchy

    active = np.ascontiguousarray(np.moveaxis(percolating_mask(mask, axis=axis), axis, -1))
    code = st.fine_code(active)
    del active
    hier = ConnectedHierarchy(code)
    model = bytes_per_iteration_connected(hier)
    return {"traffic_B": model["total_B"], "traffic_B_per_voxel": model["B_per_voxel"],
            "level_sizes": hier.levels}


def bytes_per_iteration_connected(hier) -> dict:
    """Array traffic of one PCG iteration with the connectivity-aware hierarchy, in bytes.

    Fine level: 71 B/voxel with one fine sweep (the fused passes, see the code), else
    115 (:func:`bytes_per_iteration`'s 119 less the fused direction + matvec); plus the
    box patterns read
    by the restriction and the prolongation (1/8 B/voxel each).  A graph level with
    ``n`` unknowns and ``e`` stored conductances in SELL-8 form (padding included, ``v``
    bytes each, int32 columns; :mod:`vmt_dask.conductivity._graph`): one Gauss-Seidel
    sweep reads the columns, conductances, reciprocal diagonal (float32) and right-hand
    side and reads and writes x -- ``S = 16 n + (4 + v) e`` (the gathered neighbour values
    are counted as cache hits); a visit is 2 x ``hier.sweeps`` sweeps (pre and post; 4 by
    default) + the residual of the red half (S / 2)
    + 8 B/unknown for the scatter + 16 for the prolongation, times the level's visits per
    cycle.  The coarsest level's LU solve is not counted.
    """
    n = hier.code.size
    # one fine sweep: the fused passes (conductivity._fused) -- pre-smoothing + restriction
    # 9 (b, code read, x written), prolongation + post-smoothing 13 (x read and written,
    # b, code) instead of 9 + 13 + 9 + 9 + 13 + 13 = 66; new direction + matvec 17 (z, p
    # read, p, q written, code) instead of 12 + 9; CG update 32; the box patterns 1/8
    # each for restriction and prolongation
    fine = (71 if hier.fine_sweeps == 1 else 115) + 0.25
    total = fine * n
    for g, visits in zip(hier.graphs[:-1], hier.visits):
        vbytes = (g.sell[3] if g.sell is not None else g.val).itemsize
        sweep = 16 * g.n + (4 + vbytes) * g.stored_entries
        total += visits * ((2 * hier.sweeps + 0.5) * sweep + 24 * g.n)
    return {"fine_B_per_voxel": fine, "total_B": total, "B_per_voxel": total / n}


def bytes_per_iteration(shape) -> dict:
    """Array traffic of one PCG iteration of the current solver, in bytes.

    Fine level (float32 vectors, 1-byte code, float64 potential): zero-start half
    sweep 9 B/voxel (b, code, x), three full half sweeps 13 each (x, b, code read, x
    written), restriction 9, prolongation 9 (+ coarse x), matvec 9, CG update 32
    (u float64 read+write, p, r read+write, q), new direction 12 -- 119 B/voxel.
    Coarse level with n cells (cx, cy, cz, diag, x, b float32): 8 half sweeps
    (two sweeps before and after the coarse correction) of 16 + 12, restriction 28,
    prolongation 12 -- ~264 B/cell, visited ``2^(l-1)`` times on level l (W-cycle;
    the coarsest level's dense solve is not counted).
    """
    n = int(np.prod(shape))
    fine = 9 + 3 * 13 + 9 + 9 + 9 + 32 + 12
    total = fine * n
    cells = list(shape)
    visits = 1
    level = 1
    coarse = 0
    while int(np.prod(cells)) > 512:
        cells = [(c + 1) // 2 for c in cells]
        m = int(np.prod(cells))
        coarse += 264 * m * visits
        level += 1
        visits *= 2           # W-cycle: level l >= 2 is visited 2^(l-1) times
    return {"fine_B_per_voxel": fine, "total_B": total + coarse,
            "B_per_voxel": (total + coarse) / n}


# ----------------------------------------------------------------------------- driver
def _baseline_package(commit: str, dest: str) -> str | None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pkg = os.path.join(dest, "cond_first_wave")
    os.makedirs(pkg, exist_ok=True)
    if not os.path.isdir(os.path.join(root, ".git")):
        root = os.getcwd()           # a copy of the package outside the checkout
    try:
        names = subprocess.run(
            ["git", "-C", root, "ls-tree", "--name-only", commit, "vmt_dask/conductivity/"],
            check=True, capture_output=True, text=True).stdout.split()
        for path in names:
            if not path.endswith(".py"):
                continue
            text = subprocess.run(["git", "-C", root, "show", f"{commit}:{path}"],
                                  check=True, capture_output=True, text=True).stdout
            # the package is imported as a top-level copy: ``from ..errors`` (later
            # commits) must name vmt_dask
            text = re.sub(r"^from \.\.(\w)", r"from vmt_dask.\1", text, flags=re.M)
            with open(os.path.join(pkg, os.path.basename(path)), "w") as fh:
                fh.write(text)
        if not names:
            raise OSError(f"no vmt_dask/conductivity at {commit}")
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"solver of {commit} not available ({exc}); skipping it", flush=True)
        return None
    return dest


def _row(case, tool, axis, wall, peak, val, n, exact=None, phase="", iters_ref=None):
    row = {"case": case, "phase": phase, "axis": "xyz"[axis] if axis is not None else "",
           "tool": tool, "wall_s": f"{wall:.2f}", "cpu_s": f"{val.get('cpu_s', 0):.1f}",
           "peak_MiB": f"{peak:.0f}", "B_per_vox": f"{peak * 2**20 / n:.1f}",
           "iters": val.get("iterations"), "M": f"{val['M']:.6f}"}
    if "solver_MiB" in val:
        row["solver_B_per_vox"] = f"{val['solver_MiB'] * 2**20 / n:.1f}"
        row["s_per_iter"] = (f"{val['solve_s'] / val['iterations']:.3f}"
                             if val.get("iterations") else "")
        row["setup_s"] = f"{val['setup_s']:.2f}"
    if "traffic_B" in val:
        row["traffic_B_per_vox"] = f"{val['traffic_B_per_voxel']:.0f}"
        row["traffic_GB"] = f"{val['traffic_B'] / 1e9:.3f}"
    if exact is not None:
        row["exact"] = f"{exact:.6f}"
        row["err"] = f"{val['M'] - exact:+.1e}"
    return row


def run(args: argparse.Namespace) -> int:
    from vmt_dask.model import CALIBRATED, realize

    n = 96 if args.quick else args.size
    nbm = 64 if args.quick else args.bm_size
    npeer = 48 if args.quick else args.peer_size
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    with open("/proc/loadavg") as fh:
        print(f"load average at start: {fh.read().split()[:3]}", flush=True)
    rows: list[dict] = []
    setup_rows: list[dict] = []
    stream = measure_in_child(_stream, 2**26, 7)[2]
    bw = stream["triad_GBs"]
    print(f"STREAM-like (numba, {stream['threads']} threads, float32): triad "
          f"{bw:.1f} GB/s (median {stream['triad_median_GBs']:.1f}), copy "
          f"{stream['copy_GBs']:.1f} GB/s", flush=True)

    def show(row):
        rows.append(row)
        print("  " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        base = None if args.no_baseline else _baseline_package(args.baseline_commit, tmp)

        def ours(path, case, axis, code=None, exact=None, phase="", nvox=None):
            old = base and any(case.startswith(p) for p in args.baseline_cases.split(",") if p)
            for which in (("new", "old") if old else ("new",)):
                tool = "vmt-dask" if which == "new" else f"solver@{args.baseline_commit}"
                try:
                    wall, peak, val = measure_in_child(
                        _solve_child, path, code, axis, which, base, 1e-6)
                except (RuntimeError, TimeoutError) as exc:
                    show({"case": case, "tool": tool, "note": str(exc).splitlines()[-1]})
                    continue
                show(_row(case, tool, axis, val["wall_s"], peak, val, nvox, exact, phase))

        cases = {c.strip() for c in args.cases.split(",") if c.strip()}
        if "channels" in cases:
            # --- known answers: a band around the zero level set of a smooth 2-D
            # field (a connected network of curved channels at 30 %; a plain 2-D
            # threshold would not percolate below 50 %), extruded along z
            t0 = time.perf_counter()
            section = _threshold(-np.abs(_smooth_noise((n, n), n / 80, 11)), 0.30)
            vol = np.repeat(section[:, :, None], n, axis=2)
            path = os.path.join(tmp, "channels.npy")
            np.save(path, vol)
            del vol
            m_x = _m_2d_direct(section, 0)
            print(f"channels {n}^3: eps {section.mean():.4f}, M_z exact {section.mean():.6f}, "
                  f"M_x by 2-D direct solve {m_x:.6f} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)
            ours(path, f"channels{n}", 2, exact=float(section.mean()), nvox=n**3)
            ours(path, f"channels{n}", 0, exact=m_x, nvox=n**3)
            os.remove(path)
        if "field" in cases:
            # --- 3-D random field, 30 %
            vol = _threshold(_smooth_noise((n, n, n), 3.0, 12), 0.30)
            path = os.path.join(tmp, "field.npy")
            np.save(path, vol)
            print(f"random field {n}^3: eps {vol.mean():.4f}", flush=True)
            del vol
            ours(path, f"field{n}", 2, nvox=n**3)
            os.remove(path)
        # --- model structures
        for preset in (presets if "model" in cases else []):
            labels = realize(CALIBRATED[preset], (nbm,) * 3, seed=1)
            path = os.path.join(tmp, f"{preset}.npy")
            np.save(path, labels)
            del labels
            for phase, code in _CODES.items():
                if phase.lower() not in args.phases.lower().split(","):
                    continue
                ours(path, f"{preset} {nbm}^3", 2, code=code, phase=phase, nvox=nbm**3)
            os.remove(path)
        # --- the setup of a solve, part by part (z, model structures)
        for preset in (presets if "setup" in cases else []):
            labels = realize(CALIBRATED[preset], (nbm,) * 3, seed=1)
            path = os.path.join(tmp, f"{preset}.npy")
            np.save(path, labels)
            del labels
            for phase, code in _CODES.items():
                if phase.lower() not in args.phases.lower().split(","):
                    continue
                try:
                    _, peak, val = measure_in_child(_setup_child, path, code, 2)
                except (RuntimeError, TimeoutError) as exc:
                    show({"case": f"{preset} {nbm}^3 setup", "phase": phase,
                          "note": str(exc).strip().splitlines()[-1][:80]})
                    continue
                print(f"setup {preset} {nbm}^3 {phase} (z, {val['levels']} levels, load "
                      f"{val['load']:.2f}, peak {peak:.0f} MiB): CPU / wall s", flush=True)
                for name, cpu, wall in val["parts"]:
                    print(f"    {name:16s} {cpu:7.3f} {wall:7.3f}", flush=True)
                for name, (cpu, wall) in val["hierarchy"]:
                    print(f"      hierarchy: {name:20s} {cpu:7.3f} {wall:7.3f}", flush=True)
                setup_rows.append({"case": f"{preset} {nbm}^3", "phase": phase, **val})
            os.remove(path)
        # --- three directions: one m_factors call vs three m_factor calls
        if "axes" in cases:
            labels = realize(CALIBRATED["BM01"], (nbm,) * 3, seed=1)
            path = os.path.join(tmp, "axes.npy")
            np.save(path, labels)
            del labels
            got = {}
            for mode, tool in (("all", "m_factors(axes=all)"), ("each", "3 x m_factor")):
                try:
                    wall, peak, val = measure_in_child(_axes_child, path, _CODES["SE"], mode, 1e-6)
                except (RuntimeError, TimeoutError) as exc:
                    show({"case": f"BM01 {nbm}^3", "tool": tool,
                          "note": str(exc).strip().splitlines()[-1][:80]})
                    continue
                got[mode] = val
                row = _row(f"BM01 {nbm}^3", tool, None, val["wall_s"], peak, val, nbm**3,
                           phase="SE")
                row["axis"] = "xyz"
                row["M"] = "/".join(f"{m:.6f}" for m in val["M_xyz"])
                show(row)
            if len(got) == 2:
                a, e = got["all"], got["each"]
                print(f"three directions in one call: {a['wall_s']:.2f} s wall / {a['cpu_s']:.1f} s "
                      f"CPU vs three calls {e['wall_s']:.2f} / {e['cpu_s']:.1f} s: saving "
                      f"{e['wall_s'] - a['wall_s']:.2f} s wall, {e['cpu_s'] - a['cpu_s']:.1f} s CPU "
                      f"(setup {a['setup_s']:.2f} vs {e['setup_s']:.2f} s)", flush=True)
            os.remove(path)
        # --- peers at their feasible size
        if "peers" in cases and not args.no_peers:
            labels = realize(CALIBRATED["BM01"], (npeer,) * 3, seed=1)
            path = os.path.join(tmp, "peer.npy")
            np.save(path, labels)
            del labels
            for phase, code in _CODES.items():
                ours(path, f"BM01 {npeer}^3", 2, code=code, phase=phase, nvox=npeer**3)
                for tool, func, fargs in (("taufactor-cpu", _taufactor,
                                           (path, code, args.peer_iter_limit)),
                                          ("porespy-fd", _porespy, (path, code))):
                    try:
                        wall, peak, val = measure_in_child(func, *fargs)
                    except (RuntimeError, TimeoutError) as exc:
                        show({"case": f"BM01 {npeer}^3", "phase": phase, "tool": tool,
                              "note": str(exc).strip().splitlines()[-1][:80]})
                        continue
                    show(_row(f"BM01 {npeer}^3", tool, 2, wall, peak, val, npeer**3,
                              phase=phase))
    columns = ["case", "phase", "axis", "tool", "wall_s", "setup_s", "iters", "s_per_iter",
               "cpu_s", "peak_MiB", "B_per_vox", "solver_B_per_vox", "traffic_B_per_vox", "M",
               "exact", "err", "note"]
    print()
    print(format_table(rows, columns))
    model = bytes_per_iteration((n, n, n))
    floor = model["total_B"] / (bw * 1e9)
    print(f"\nbytes per CG iteration at {n}^3 of the box-aggregation solver (array traffic "
          f"model): {model['total_B'] / 1e9:.2f} GB = {model['B_per_voxel']:.0f} B/voxel; at the "
          f"triad bandwidth {bw:.1f} GB/s that is {floor:.3f} s per iteration")
    print("connected-pieces solver, per case (its hierarchy's traffic; floor = traffic / triad):")
    for r in rows:
        if r.get("tool") == "vmt-dask" and r.get("s_per_iter") and r.get("traffic_GB"):
            fl = float(r["traffic_GB"]) / bw
            print(f"  {r['case']} {r.get('phase', '')} {r['axis']}: {r['traffic_B_per_vox']} "
                  f"B/voxel = {r['traffic_GB']} GB per iteration, floor {fl:.3f} s; measured "
                  f"{r['s_per_iter']} s = {float(r['s_per_iter']) / fl:.1f} x the floor")
    with open("/proc/loadavg") as fh:
        print(f"load average at end: {fh.read().split()[:3]}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"stream": stream, "bytes_model": model, "rows": rows, "setup": setup_rows},
                      fh, indent=2)
    return 0
