"""M-factor of a voxel phase: steady conduction by finite volumes on voxel centres.

Discretization (docs/conventions.md, "Conductivity"): unknown potentials ``u`` on the phase
voxels that connect both end faces; conductance 1 between two face-adjacent such
voxels, conductance 2 between a voxel of the first (last) layer and the inlet
(outlet) face half a voxel away, where ``u = 1`` (``u = 0``); no flux anywhere else.
This gives the SPD system ``A u = b`` with ``A`` a graph Laplacian plus the
boundary conductances on the diagonal and ``b = 2`` on the first layer.

Method: conjugate gradients preconditioned by one symmetric V-cycle of a
geometric aggregation multigrid (:mod:`.multigrid`), matrix-free on the dense
grid.  Vectors are float32 (dot products in float64); an outer iterative
refinement loop recomputes the residual from a float64 potential, so the
reported relative residual ``||b - A u|| / ||b||`` is a float64 figure.
"""
from __future__ import annotations

import logging
import math
import numbers
import time

import numpy as np

from . import _stencil as st
from .multigrid import Hierarchy, serial_if_small
from .percolation import percolating_mask
from .result import ConductivityResult

__all__ = ["m_factor"]

log = logging.getLogger(__name__)

# An inner float32 PCG pass is asked for at most this relative residual
# reduction: well above float32 round-off (~1e-7 relative), so its recursive
# residual stays meaningful; the outer float64 refinement does the rest.
_INNER_REDUCTION = 1e-4


def _validate(mask, axis, rtol, maxiter):
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy array, got {type(mask).__name__}")
    if mask.ndim != 3:
        raise ValueError(f"mask must be 3-D, got shape {mask.shape}")
    if 0 in mask.shape:
        raise ValueError(f"mask must not be empty, got shape {mask.shape}")
    if mask.dtype != bool:
        if not np.issubdtype(mask.dtype, np.integer):
            raise TypeError(f"mask must be boolean or 0/1 integers, got dtype {mask.dtype}")
        lo, hi = int(mask.min()), int(mask.max())
        if lo < 0 or hi > 1:
            raise ValueError(
                f"integer mask must hold only 0 and 1, got values in [{lo}, {hi}]")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    if not -3 <= axis <= 2:
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real):
        raise TypeError(f"rtol must be a number, got {rtol!r}")
    if not (0.0 < float(rtol) < 1.0):
        raise ValueError(f"rtol must be in (0, 1), got {rtol!r}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, numbers.Integral):
        raise TypeError(f"maxiter must be an integer, got {maxiter!r}")
    if maxiter < 1:
        raise ValueError(f"maxiter must be >= 1, got {maxiter!r}")
    return int(axis) % 3, float(rtol), int(maxiter)


def _pcg(deg, hier, r, x, z, p, q, tol_abs, maxit):
    """PCG on ``A x = r`` from ``x = 0``; ``r`` is updated in place.  Returns iterations."""
    hier.vcycle(r, z)
    np.copyto(p, z)
    rz = st.dot(r, z)
    for it in range(1, maxit + 1):
        pq = st.fine_matvec(deg, p, q)
        if not pq > 0.0:  # exact solution already (or breakdown)
            return it - 1
        alpha = rz / pq
        rr = st.cg_update(x, r, p, q, alpha)
        if math.sqrt(rr) <= tol_abs:
            return it
        hier.vcycle(r, z)
        rz_new = st.dot(r, z)
        st.cg_direction(p, z, rz_new / rz)
        rz = rz_new
    return maxit


def _solve(deg, hier, rtol, maxiter):
    """Float64 potential by float32 PCG inside float64 iterative refinement."""
    shape = deg.shape
    u = np.zeros(shape)
    r, d, z, p, q = (np.empty(shape, np.float32) for _ in range(5))
    bnorm = 2.0 * math.sqrt(np.count_nonzero(deg[:, :, 0]))
    rnorm = math.sqrt(st.fine_residual64(deg, u, r))
    iterations = 0
    while rnorm > rtol * bnorm and iterations < maxiter:
        target = max(0.5 * rtol * bnorm, _INNER_REDUCTION * rnorm)
        d[...] = 0.0
        iterations += _pcg(deg, hier, r, d, z, p, q, target, maxiter - iterations)
        st.add_to(u, d)
        new = math.sqrt(st.fine_residual64(deg, u, r))
        log.debug("refinement: %d iterations, relative residual %.3e", iterations, new / bnorm)
        if new > 0.5 * rnorm:  # float32 stagnation: no further progress possible
            rnorm = min(new, rnorm)
            break
        rnorm = new
    return u, iterations, rnorm / bnorm


def m_factor(
    mask: np.ndarray,
    *,
    axis: int = 2,
    rtol: float = 1e-6,
    maxiter: int = 1000,
    return_potential: bool = False,
) -> ConductivityResult:
    """M-factor (effective conductivity / intrinsic conductivity) of a voxel phase.

    Parameters
    ----------
    mask : ndarray of bool (or 0/1 integers), shape (nx, ny, nz)
        The conducting phase.  Not modified.
    axis : int
        Transport axis (0 = x, 1 = y, 2 = z, the pressing direction).
    rtol : float
        Relative residual ``||b - A u|| / ||b||`` to reach (float64).
    maxiter : int
        Largest total number of preconditioned CG iterations.
    return_potential : bool
        Also return the potential field (float32, NaN off the percolating voxels).

    Returns
    -------
    ConductivityResult

    Notes
    -----
    Unit conductivity in the phase, zero outside; potential 1 and 0 on the outer
    faces of the volume (half a voxel beyond the first and last layer), no flux
    across the other faces.  With ``I_s`` the current through cross-section ``s``
    (``s = 0 .. n``, the two outer faces and the ``n - 1`` internal layer
    interfaces), in voxel units,

    .. math:: M = \\frac{\\bar I\\, L}{A\\, \\Delta U} = \\frac{n}{A} \\cdot \\frac{1}{n+1}\\sum_s I_s,

    with ``L = n`` the length along the axis, ``A`` the cross-section area and
    ``Delta U = 1``.  A straight full-length channel of volume fraction eps gives
    exactly M = eps (series resistance 1/2 + (n - 1) + 1/2 = n per column); a
    phase that does not connect both faces gives M = 0 without a solve.  The
    tortuosity factor is ``tau = eps / M`` (paper Section 2.5).
    """
    axis, rtol, maxiter = _validate(mask, axis, rtol, maxiter)
    t0 = time.perf_counter()
    phase = mask.astype(bool, copy=False)
    n_phase = int(np.count_nonzero(phase))
    eps = n_phase / phase.size
    perc = percolating_mask(phase, axis=axis)
    n_perc = int(np.count_nonzero(perc))
    perc_frac = n_perc / n_phase if n_phase else 0.0
    if n_perc == 0:
        log.debug("phase does not percolate along axis %d: M = 0", axis)
        pot = np.full(mask.shape, np.nan, np.float32) if return_potential else None
        return ConductivityResult(
            m_factor=0.0, tau_factor=math.inf, volume_fraction=eps,
            percolating_fraction=perc_frac, iterations=0, residual=0.0, current_spread=0.0,
            axis=axis, shape=tuple(mask.shape), setup_seconds=time.perf_counter() - t0,
            potential=pot,
        )
    active = np.ascontiguousarray(np.moveaxis(perc, axis, -1))
    del perc
    with serial_if_small(active.size):
        deg = st.degree(active)
        del active
        hier = Hierarchy(deg)
        t1 = time.perf_counter()
        u, iterations, residual = _solve(deg, hier, rtol, maxiter)
        currents = st.section_currents(deg, u)
        t2 = time.perf_counter()
    n0, n1, n2 = deg.shape
    mean_current = float(currents.mean())
    m = mean_current * n2 / (n0 * n1)
    spread = float((currents.max() - currents.min()) / mean_current) if mean_current > 0 else 0.0
    pot = None
    if return_potential:
        pot = np.where(deg != 0, u, np.nan).astype(np.float32)
        pot = np.moveaxis(pot, -1, axis)
    log.debug("M = %.6g (axis %d, %d levels, %d iterations, residual %.2e, %.2f s + %.2f s)",
              m, axis, hier.n_levels, iterations, residual, t1 - t0, t2 - t1)
    return ConductivityResult(
        m_factor=m, tau_factor=eps / m if m > 0 else math.inf, volume_fraction=eps,
        percolating_fraction=perc_frac, iterations=iterations, residual=residual,
        current_spread=spread, axis=axis, shape=tuple(mask.shape), levels=hier.n_levels,
        setup_seconds=t1 - t0, solve_seconds=t2 - t1, converged=residual <= rtol,
        section_currents=currents, potential=pot,
    )
