"""M-factor of a voxel phase: steady conduction by finite volumes on voxel centres.

Discretization (docs/conventions.md, "Conductivity"): unknown potentials ``u`` on the phase
voxels that connect both end faces; between two face-adjacent such voxels the
conductance is (area of the shared face) / (distance of the centres), i.e.
``dy dz / dx`` across a face normal to x (``h`` for cubic voxels of edge ``h``);
between a voxel of the first (last) layer and the inlet (outlet) face half a
voxel away it is twice the transport-axis value, with ``u = 1`` (``u = 0``) on
that face; no flux anywhere else.  This gives the SPD system ``A u = b`` with
``A`` a weighted graph Laplacian plus the boundary conductances on its diagonal.
Internally every conductance is divided by the transport-axis one, so the
lateral conductances are ``(d_t / d_i)^2`` and cubic voxels give the unit
Laplacian.

Method: conjugate gradients preconditioned by one symmetric W-cycle of an
aggregation multigrid whose aggregates are the connected pieces of 2x2x2 blocks
(:class:`.multigrid.ConnectedHierarchy`): matrix-free on the dense voxel grid,
sparse graphs on the coarse levels.  Aggregates never join channels that meet
only outside their block, which keeps the iteration count flat from compact to
thin channel structures (10-14 iterations at 128^3 on BM01, BM03 SE, a 30 %
random field and a thin channel network, where box aggregation needed 14-89).  The potential is float64; the other CG vectors are float32 (dot
products in float64), and an outer refinement loop recomputes the residual in
float64 from the potential, so the reported relative residual
``||b - A u|| / ||b||`` is a float64 figure.  Four full-size vectors (the float64
potential and float32 residual, direction and one work vector that holds first
the preconditioned residual and then ``A p``) plus the 1-byte operator code and
the coarse levels (2.7-4.4 bytes per voxel, more for denser phases): 24-26 bytes
per voxel in all (measured peak at 200^3).

What is reported, and when the iterations stop (default): **M from the dissipated power**.
With the full potential ``U`` (1 on the inlet face, 0 on the outlet face) the power
``P(U) = sum over faces g_f (dU_f)^2`` is minimised by the exact discrete solution
(Dirichlet principle), and for any ``u``: ``P(u) - P(u*) = (u - u*)' A (u - u*) =
||e||_A^2 >= 0``.  In the solver's units ``P(u) = P0 - b'u - u'r`` (``P0 = 2 x`` the number
of solved inlet voxels, ``b`` the load, ``r = b - A u``) and ``P(u*) = I*``, the current at
unit potential drop; so ``M_E = P(u) n / (n_i n_j)`` is an upper bound on M whose error is
the energy norm of the potential error, quadratic in it (the section currents are linear).
PCG decreases that energy error monotonically by ``alpha_k (r_k . z_k)`` per iteration
(Hestenes-Stiefel; the estimate of Strakos & Tichy, "On error estimation in the conjugate
gradient method and why it works in finite precision computations", ETNA 13, 2002; Arioli,
"A stopping criterion for the conjugate gradient algorithm in a finite element method
framework", Numer. Math. 97, 2004): the solve stops when the remaining error estimated from
these decrements (:class:`_EnergyTail`) is below ``m_tol`` relative to P.  An explicit
``rtol`` (or ``return_potential=True``) keeps the residual criterion and the mean section
current as M.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import numbers
import time

import numpy as np

from ..errors import InputError
from ..validation import as_mask, check_axis, check_spacing
from . import _fused as fu
from . import _stencil as st
from .multigrid import ConnectedHierarchy, serial_if_small
from .percolation import percolation_bits
from .result import ConductivityResult

__all__ = ["m_factor", "m_factors", "M_TOL"]

log = logging.getLogger(__name__)

# An inner float32 PCG pass is asked for at most this relative residual
# reduction: well above float32 round-off (~1e-7 relative), so its recursive
# residual stays meaningful; the outer float64 refinement does the rest.
_INNER_REDUCTION = 1e-4

# Default relative energy error (= relative error of M_E) at which the energy criterion stops.
# Measured (session 8, /tmp/notes8/energy.md, BM01/BM03/BM10 SE/AM and the channel stack at
# 64^3 and 96^3): the true M_E errors at this stop were 1.1e-8..5.6e-7, no larger than the
# error of the mean section current at today's rtol 1e-6 stop (up to 7.6e-7), so M moves by at
# most ~1.4e-6 relative (absolute, as M <= 1) against the residual solver: 7x inside the 1e-5
# the issue allows; with 2-4 PCG iterations fewer than rtol 1e-6 (-32 % summed over 14 cases).
M_TOL = 1e-6

# Safety factor on the geometric tail of the decrements (_EnergyTail): the true remaining
# energy error was up to 3.25x the unscaled tail estimate over all iterations of the 14
# measured cases (BM03 AM 96^3); 4 covers that.
_TAIL_SAFETY = 4.0


def _libc_malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError, TypeError):     # not glibc: nothing to release
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def _release_free_memory():
    """Return the C heap's free pages to the OS (glibc; a no-op elsewhere).

    The setup frees many arrays below glibc's mmap threshold (percolation labels,
    the hierarchy's work arrays); the heap keeps them resident, and the CG vectors
    allocated next come on top: measured at 200^3 (BM01 AM) 28.3 -> 26.1 bytes per
    voxel of peak.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _check_tolerance(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not (0.0 < float(value) < 1.0):
        raise InputError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def _validate_options(rtol, maxiter, m_tol=None, return_potential=False):
    """Checked ``(rtol, maxiter, m_tol)``: exactly one of ``rtol`` and ``m_tol`` is set.

    Neither given: the energy criterion with :data:`M_TOL`, or, with
    ``return_potential``, the residual criterion with ``rtol = 1e-6``.
    """
    if rtol is not None and m_tol is not None:
        raise InputError(f"give either rtol (residual criterion) or m_tol (energy criterion), "
                         f"not both: rtol={rtol!r}, m_tol={m_tol!r}")
    if rtol is not None:
        rtol = _check_tolerance(rtol, "rtol")
    elif m_tol is not None:
        m_tol = _check_tolerance(m_tol, "m_tol")
    elif return_potential:
        rtol = 1e-6
    else:
        m_tol = M_TOL
    if isinstance(maxiter, bool) or not isinstance(maxiter, numbers.Integral):
        raise TypeError(f"maxiter must be an integer, got {maxiter!r}")
    if maxiter < 1:
        raise InputError(f"maxiter must be >= 1, got {maxiter!r}")
    return rtol, int(maxiter), m_tol


def _weights(spacing, axis):
    """Lateral face conductances relative to the transport one, in internal axis order."""
    d = [float(v) for v in spacing]
    lateral = [a for a in range(3) if a != axis]
    dt = d[axis]
    return (dt / d[lateral[0]]) ** 2, (dt / d[lateral[1]]) ** 2


class _EnergyTail:
    """Estimate of the energy error ``||u* - u||_A^2`` from the PCG decrements.

    PCG lowers the energy error by exactly ``Delta_k = alpha_k (r_k . z_k)`` in step ``k``
    (Hestenes-Stiefel), so the error after step ``k`` is ``sum_{j > k} Delta_j``: the
    decrements still to come.  They are estimated as a geometric tail,
    ``Delta_k rho / (1 - rho)`` with ``rho`` the larger of the last two decrement ratios,
    times :data:`_TAIL_SAFETY` (Strakos & Tichy 2002 use a delay of d steps instead; this
    needs no extra iterations).  The decrements of a refinement pass estimate the error of
    its correction, which is the error of ``u`` (same ``u* - u``): the history runs across
    passes.  ``power`` tracks ``P(u)``: ``P(u_{k+1}) = P(u_k) - Delta_k``, reset to the
    float64 value after each pass.
    """

    __slots__ = ("decrements", "power", "m_tol")

    def __init__(self, m_tol: float, power: float):
        self.decrements: list[float] = []
        self.power = power
        self.m_tol = m_tol

    def add(self, decrement: float) -> bool:
        """Record one step's decrement; True when the estimated error is within ``m_tol``."""
        self.decrements.append(decrement)
        self.power -= decrement
        return self.estimate() <= self.m_tol * self.power

    def estimate(self) -> float:
        """Estimated remaining energy error (absolute, units of P); inf while unknown."""
        d = self.decrements
        if d and not d[-1] > 0.0:
            return 0.0                      # a zero step: r . z = 0, the exact solution
        if len(d) < 3 or not (d[-2] > 0.0 and d[-3] > 0.0):
            return math.inf
        rho = max(d[-1] / d[-2], d[-2] / d[-3])
        if rho >= 1.0:
            return math.inf
        return _TAIL_SAFETY * d[-1] * rho / (1.0 - rho)


def _pcg(code, wx, wy, hier, u, r, p, w, tol_abs, maxit, tail=None):
    """PCG on ``A d = r`` accumulated into ``u`` (float64); ``r`` is updated in place.

    ``w`` holds first the preconditioned residual ``z`` and then ``q = A p`` (``z``
    is dead once the new direction is formed).  With ``tail`` (an :class:`_EnergyTail`)
    each step's decrement ``alpha rz`` is recorded and the pass also stops when the
    estimated energy error is within the tail's ``m_tol``.  Returns the iterations.
    """
    rz = hier.vcycle(r, w)
    halo = hier.halo()
    np.copyto(p, w)
    # p = z + 0 p = z (p holds z: finite); w = A p.  The fused kernel rather than
    # fine_matvec: one kernel less to compile (same row formula)
    pq = fu.direction_matvec(code, wx, wy, p, w, 0.0, halo)
    for it in range(1, maxit + 1):
        if not pq > 0.0:  # exact solution already (or breakdown)
            return it - 1
        alpha = rz / pq
        rr = st.cg_update(u, r, p, w, alpha)
        if math.sqrt(rr) <= tol_abs:
            if tail is not None:
                tail.add(alpha * rz)
            return it
        if tail is not None and tail.add(alpha * rz):
            return it
        rz_new = hier.vcycle(r, w)
        # p = z + beta p and w = A p in one pass (_fused.direction_matvec)
        pq = fu.direction_matvec(code, wx, wy, p, w, rz_new / rz, halo)
        rz = rz_new
    return maxit


def _load(code):
    """The right-hand side ``b`` (float32, the residual of ``u = 0``) and ``||b||_2``.

    ``b`` is 2 on the solved voxels of the first layer (potential 1 on the inlet face,
    conductance 2) and 0 elsewhere: what :func:`._stencil.fine_residual64` computes from
    ``u = 0``, set directly instead of a pass over the grid.
    """
    r = np.zeros(code.shape, np.float32)
    inlet = code[:, :, 0] != 0
    r[:, :, 0] = 2.0 * inlet
    return r, 2.0 * math.sqrt(np.count_nonzero(inlet))


def _power(u, r, bnorm):
    """Dissipated power ``P(u) = P0 - b'u - u'r`` (float64; solver units, unit drop).

    ``P0 = ||b||^2 / 2`` (``b`` is 2 on each of the ``n`` solved inlet voxels: ``P0 = 2 n``
    from the inlet half-faces' ``2 (1 - u)^2 = 2 - 4 u + 2 u^2``), ``b'u = 2 sum u[:, :, 0]``
    (``u`` is 0 off the solved voxels).  ``r`` is the float32 rounding of the float64
    residual of ``u``: ``|u'(r32 - r64)| <= 2^-24 ||u|| ||r||``, far below ``m_tol P`` at
    the residuals where this is evaluated.  ``u'r`` is summed in slabs of planes (a float64
    copy of one slab at a time, <= 8 MB).
    """
    p0 = 0.5 * bnorm * bnorm
    bu = 2.0 * float(u[:, :, 0].sum())
    n0 = u.shape[0]
    step = max(1, (1 << 20) // max(1, u[0].size))
    ur = 0.0
    for i in range(0, n0, step):
        ur += float(np.dot(u[i:i + step].ravel(), r[i:i + step].ravel().astype(np.float64)))
    return p0 - bu - ur


def _solve_energy(code, wx, wy, hier, m_tol, maxiter):
    """Float64 potential until the estimated relative energy error is within ``m_tol``.

    Returns ``(u, iterations, relative residual, P(u), estimated relative error of P,
    converged)``.  The refinement passes are today's (float32 PCG, float64 residual); each
    pass also stops on the energy criterion, and after each pass ``P(u)`` is evaluated in
    float64 from the residual that pass computes anyway (:func:`_power`).
    """
    shape = code.shape
    u = np.zeros(shape)
    p, w = (np.empty(shape, np.float32) for _ in range(2))
    r, bnorm = _load(code)
    tail = _EnergyTail(m_tol, 0.5 * bnorm * bnorm)
    rnorm = bnorm
    iterations = 0
    power = tail.power
    while iterations < maxiter:
        iterations += _pcg(code, wx, wy, hier, u, r, p, w, _INNER_REDUCTION * rnorm,
                           maxiter - iterations, tail)
        new = math.sqrt(st.fine_residual64(code, wx, wy, u, r))
        power = _power(u, r, bnorm)
        tail.power = power
        est = tail.estimate()
        log.debug("refinement: %d iterations, relative residual %.3e, P %.10g, estimated "
                  "relative energy error %.2e", iterations, new / bnorm, power, est / power)
        if est <= m_tol * power or new == 0.0:
            rnorm = new
            break
        if new > 0.5 * rnorm:  # float32 stagnation: no further progress possible
            rnorm = min(new, rnorm)
            break
        rnorm = new
    est = 0.0 if rnorm == 0.0 else tail.estimate()
    rel = est / power if power > 0 else math.inf
    return u, iterations, rnorm / bnorm, power, rel, rel <= m_tol


def _solve(code, wx, wy, hier, rtol, maxiter):
    """Float64 potential by float32-preconditioned CG inside float64 refinement."""
    shape = code.shape
    u = np.zeros(shape)
    p, w = (np.empty(shape, np.float32) for _ in range(2))
    r, bnorm = _load(code)
    rnorm = bnorm
    iterations = 0
    while rnorm > rtol * bnorm and iterations < maxiter:
        target = max(0.5 * rtol * bnorm, _INNER_REDUCTION * rnorm)
        iterations += _pcg(code, wx, wy, hier, u, r, p, w, target, maxiter - iterations)
        new = math.sqrt(st.fine_residual64(code, wx, wy, u, r))
        log.debug("refinement: %d iterations, relative residual %.3e", iterations, new / bnorm)
        if new > 0.5 * rnorm:  # float32 stagnation: no further progress possible
            rnorm = min(new, rnorm)
            break
        rnorm = new
    return u, iterations, rnorm / bnorm


def _active(perc_bits, axis):
    """Percolating voxels along ``axis``, transport axis moved last, C-contiguous bool."""
    return np.ascontiguousarray(np.moveaxis((perc_bits >> axis) & 1, axis, -1)).view(bool)


def _solve_axis(holder, shape, axis, spacing, eps, perc_frac_of, rtol, maxiter,
                return_potential, t0, m_tol=None):
    """Solve along one axis given its percolating voxels (transport axis last).

    ``holder`` is a one-element list with the active mask, popped here so that the
    mask is freed once the operator code is built.  ``m_tol`` set: the energy criterion
    and M from the dissipated power; else the residual criterion ``rtol`` and M from the
    mean section current.
    """
    active = holder.pop()
    n_perc = int(np.count_nonzero(active))
    perc_frac = perc_frac_of(n_perc)
    criterion = "energy" if m_tol is not None else "residual"
    if n_perc == 0:
        log.debug("phase does not percolate along axis %d: M = 0", axis)
        pot = np.full(shape, np.nan, np.float32) if return_potential else None
        return ConductivityResult(
            m_factor=0.0, tau_factor=math.inf, volume_fraction=eps,
            percolating_fraction=perc_frac, iterations=0, residual=0.0, current_spread=0.0,
            axis=axis, shape=tuple(shape), setup_seconds=time.perf_counter() - t0,
            potential=pot, voxel_size=tuple(spacing), criterion=criterion,
            m_error_estimate=0.0, m_factor_currents=0.0,
        )
    wx, wy = _weights(spacing, axis)
    with serial_if_small(active.size):
        code = st.fine_code(active)
        del active
        hier = ConnectedHierarchy(code, wx=wx, wy=wy)
        _release_free_memory()
        t1 = time.perf_counter()
        if m_tol is None:
            u, iterations, residual = _solve(code, wx, wy, hier, rtol, maxiter)
            converged = residual <= rtol
        else:
            u, iterations, residual, power, m_err, converged = _solve_energy(
                code, wx, wy, hier, m_tol, maxiter)
        currents = st.section_currents(code, u)
        t2 = time.perf_counter()
    n0, n1, n2 = code.shape
    mean_current = float(currents.mean())
    # currents are in units of the transport conductance g_t = d_i d_j / d_t, so
    # M = I L / (A dU) = mean_current g_t n2 d_t / (n0 d_i n1 d_j) = mean_current n2 / (n0 n1)
    m_currents = mean_current * n2 / (n0 * n1)
    if m_tol is None:
        m, m_err = m_currents, math.nan
    else:
        # P is the current at unit drop in the same units: M_E = P n2 / (n0 n1)
        m = power * n2 / (n0 * n1)
    spread = float((currents.max() - currents.min()) / mean_current) if mean_current > 0 else 0.0
    pot = None
    if return_potential:
        pot = np.where(code != 0, u, np.nan).astype(np.float32)
        pot = np.moveaxis(pot, -1, axis)
    log.debug("M = %.9g (%s criterion, axis %d, %d levels, %d iterations, residual %.2e, "
              "%.2f s + %.2f s)", m, criterion, axis, hier.n_levels, iterations, residual,
              t1 - t0, t2 - t1)
    return ConductivityResult(
        m_factor=m, tau_factor=eps / m if m > 0 else math.inf, volume_fraction=eps,
        percolating_fraction=perc_frac, iterations=iterations, residual=residual,
        current_spread=spread, axis=axis, shape=tuple(shape), levels=hier.n_levels,
        setup_seconds=t1 - t0, solve_seconds=t2 - t1, converged=bool(converged),
        section_currents=currents, potential=pot, voxel_size=tuple(spacing),
        criterion=criterion, m_error_estimate=m_err, m_factor_currents=m_currents,
    )


def _percolation_bits(phase, axes):
    """uint8 array: bit ``a`` set where the voxel percolates along axis ``a``.

    One labelling serves every axis (it does not depend on the direction):
    :func:`.percolation.percolation_bits` (a parallel union-find over runs; no full-grid labels).
    """
    return percolation_bits(phase, axes)


def _check_axes(axes):
    if isinstance(axes, str) and axes.strip().lower() == "all":
        return (0, 1, 2)
    if isinstance(axes, (str, numbers.Integral)):
        return (check_axis(axes, "axes"),)
    try:
        items = list(axes)
    except TypeError:
        raise TypeError(f"axes must be 'all' or a sequence of axes, got {axes!r}") from None
    if not items:
        raise InputError(f"axes must name at least one axis, got {axes!r}")
    out = []
    for a in items:
        i = check_axis(a, "axes")
        if i in out:
            raise InputError(f"axes must not repeat an axis, got {axes!r}")
        out.append(i)
    return tuple(out)


def m_factors(
    mask: np.ndarray,
    *,
    axes="all",
    voxel_size=1.0,
    rtol: float | None = None,
    maxiter: int = 1000,
    m_tol: float | None = None,
) -> dict[int, ConductivityResult]:
    """M-factor along several axes (the diagonal of the effective conductivity tensor).

    Parameters
    ----------
    mask : ndarray of bool (or 0/1 integers), shape (nx, ny, nz)
        The conducting phase.  Not modified.
    axes : "all" or sequence of int/str
        Axes to solve along (0/1/2 or "x"/"y"/"z"); ``"all"`` = (0, 1, 2).
    voxel_size, rtol, maxiter, m_tol
        As in :func:`m_factor` (default: the energy criterion with ``m_tol = 1e-6``).

    Returns
    -------
    dict {axis index: ConductivityResult}, in the order asked.

    Raises
    ------
    TypeError, vmt_dask.errors.InputError
        As :func:`m_factor`; also for an empty or repeating ``axes``.

    Notes
    -----
    The face-connectivity labelling of the phase (which does not depend on the
    direction) is computed once and kept as a 1-byte bit mask; the solves run one
    after the other, so the memory peak is that of one solve.
    """
    phase = as_mask(mask, "mask")
    axes = _check_axes(axes)
    spacing = check_spacing(voxel_size, "voxel_size")
    rtol, maxiter, m_tol = _validate_options(rtol, maxiter, m_tol)
    return _run(phase, axes, spacing, rtol, maxiter, False, m_tol)


def _run(phase, axes, spacing, rtol, maxiter, return_potential, m_tol=None):
    t0 = time.perf_counter()
    n_phase = int(np.count_nonzero(phase))
    eps = n_phase / phase.size
    bits = _percolation_bits(phase, axes)
    out = {}
    for i, a in enumerate(axes):
        holder = [_active(bits, a)]
        if i == len(axes) - 1:
            del bits           # 1 byte per voxel less during the last (or only) solve
        out[a] = _solve_axis(holder, phase.shape, a, spacing, eps,
                             lambda n: n / n_phase if n_phase else 0.0,
                             rtol, maxiter, return_potential, t0, m_tol)
        t0 = time.perf_counter()
    return out


def m_factor(
    mask: np.ndarray,
    *,
    axis=2,
    voxel_size=1.0,
    rtol: float | None = None,
    maxiter: int = 1000,
    return_potential: bool = False,
    m_tol: float | None = None,
) -> ConductivityResult:
    """M-factor (effective conductivity / intrinsic conductivity) of a voxel phase.

    Parameters
    ----------
    mask : ndarray of bool (or 0/1 integers), shape (nx, ny, nz)
        The conducting phase.  Not modified.
    axis : int or str
        Transport axis (0 = x, 1 = y, 2 = z, the pressing direction; or "x", "y", "z").
        For several axes at once use :func:`m_factors`.
    voxel_size : float or (dx, dy, dz)
        Voxel edge lengths in micrometres.  M is dimensionless and depends only on
        the ratios: a scalar (cubic voxels) gives the same M for any value.
    rtol : float in (0, 1) or None
        Given: the **residual criterion** -- iterate until the relative residual
        ``||b - A u|| / ||b||`` (float64) is at most ``rtol``, and report M from the mean
        section current (the solver before session 8; the study passes ``rtol=1e-6``).
    maxiter : int
        Largest total number of preconditioned CG iterations.
    return_potential : bool
        Also return the potential field (float32, NaN off the percolating voxels).  Without
        ``rtol`` or ``m_tol`` this selects the residual criterion with ``rtol = 1e-6`` (a
        field converged in the residual sense).
    m_tol : float in (0, 1) or None
        The **energy criterion** (the default when neither ``rtol`` nor ``m_tol`` is given,
        with ``m_tol = 1e-6``): iterate until the estimated relative error of M from the
        dissipated power is at most ``m_tol``; M is that power-based value ``M_E``, an upper
        bound on the exact discrete M (see Notes).  Why 1e-6: on BM01/BM03/BM10 SE and AM
        and a channel stack (64^3, 96^3) the true errors at that stop were 1.1e-8..5.6e-7,
        no larger than the residual criterion's at ``rtol = 1e-6`` (up to 7.6e-7), so both
        agree to ~1.4e-6, with 2-4 PCG iterations fewer.

    Returns
    -------
    ConductivityResult

    Raises
    ------
    TypeError
        ``mask`` not an array, wrong option types.
    vmt_dask.errors.DTypeError
        ``mask`` neither boolean nor integer.
    vmt_dask.errors.InputError
        ``mask`` not 3-D or empty or not 0/1; bad axis, voxel size, rtol, m_tol or
        maxiter; both rtol and m_tol given.

    Notes
    -----
    Unit conductivity in the phase, zero outside; potential 1 and 0 on the outer
    faces of the volume (half a voxel beyond the first and last layer), no flux
    across the other faces (paper Section 2.5; docs/conventions.md).  With ``I_s`` the
    current through cross-section ``s`` (``s = 0 .. n``, the two outer faces and
    the ``n - 1`` internal layer interfaces) in units of the transport-axis face
    conductance ``g = d_i d_j / d_t``,

    .. math:: M = \\frac{\\bar I\\, L}{A\\, \\Delta U} = \\frac{n}{n_i n_j} \\cdot \\frac{1}{n+1}\\sum_s I_s,

    with ``L = n d_t`` the length along the axis, ``A = n_i d_i n_j d_j`` the
    cross-section area and ``Delta U = 1``.  A straight full-length channel of
    volume fraction eps gives exactly M = eps (series resistance 1/2 + (n - 1) +
    1/2 = n per column) for any voxel size; a phase that does not connect both
    faces gives M = 0 without a solve.  The tortuosity factor is ``tau = eps / M``.

    Energy criterion (default): the same M follows from the dissipated power,
    ``M = P* n / (n_i n_j)`` with ``P* = min_u P(u)`` over potentials with the face values
    (Dirichlet principle; ``P(u) - P* = ||u - u*||_A^2``).  The result's ``m_factor`` is
    ``P(u) n / (n_i n_j) >= M`` for the final ``u``: its error is quadratic in the potential
    error, so it is accurate long before the residual is small.  ``m_error_estimate`` is
    the estimated relative error ``(M_E - M) / M`` from the PCG decrements
    ``alpha_k (r_k . z_k)`` (Hestenes-Stiefel; Strakos & Tichy 2002; Arioli 2004);
    ``m_factor_currents`` the mean section current's M of the same ``u`` (linear in the
    error: it differed from ``m_factor`` by 1e-5..3e-5 relative at ``m_tol = 1e-6`` on BM03 64^3), and
    ``current_spread`` is correspondingly larger than at ``rtol = 1e-6`` (a diagnostic of
    the potential, not of M's accuracy).  On a straight channel bundle (M = eps exactly)
    ``m_factor`` may exceed the volume fraction by its error.
    """
    phase = as_mask(mask, "mask")
    if isinstance(axis, str) and axis.strip().lower() == "all":
        raise InputError("axis must be one of x, y, z or 0, 1, 2 in m_factor, got 'all' "
                         "(use m_factors(mask, axes='all') for several directions)")
    axis = check_axis(axis, "axis")
    spacing = check_spacing(voxel_size, "voxel_size")
    rtol, maxiter, m_tol = _validate_options(rtol, maxiter, m_tol, bool(return_potential))
    return _run(phase, (axis,), spacing, rtol, maxiter, bool(return_potential), m_tol)[axis]
