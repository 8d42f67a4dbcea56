"""M-factor on structures with known answers.

Tolerance used throughout (derivation).  Let ``u*`` solve ``A u* = b`` and ``u``
be the computed potential with residual ``r = b - A u``, ``||r|| <= rtol ||b||``.
The inlet current is ``I_0 = sum_first layer 2 (1 - u) = 1^T b - b^T u``, so
``|I_0 - I_0*| = |b^T A^-1 r| = |u*^T r| <= ||u*|| ||r||`` and, as ``0 <= u* <= 1``,
``||u*|| <= sqrt(n)`` for ``n`` solved voxels.  Every other cross-section current
differs from ``I_0`` by the residual summed over the layers before it, at most
``sqrt(n) ||r||`` in total.  With ``||b|| = 2 sqrt(n_face)`` the error of the mean
current is at most ``2 sqrt(n) * rtol * 2 sqrt(n_face)``.  For a straight channel
bundle (``n = n_face L``, ``I* = n_face / L``) the relative error of M is
``<= 4 rtol L^1.5``: with ``rtol = 1e-10`` and ``L <= 40`` that is below 2.6e-8,
so ``rel = 1e-7`` is a safe bound (float64 round-off of the sums is ~1e-13).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from vmt_dask.conductivity import m_factor

TIGHT = 1e-10   # solver rtol for the exact cases
REL = 1e-7      # see the module docstring


def _extrude(section: np.ndarray, length: int, axis: int) -> np.ndarray:
    """A 2-D cross-section repeated along ``axis`` (straight channels)."""
    vol = np.repeat(section[:, :, None], length, axis=2)
    return np.moveaxis(vol, 2, axis)


def test_homogeneous_block_gives_one():
    res = m_factor(np.ones((11, 13, 17), bool), rtol=TIGHT)
    assert res.m_factor == pytest.approx(1.0, rel=REL)
    assert res.tau_factor == pytest.approx(1.0, rel=REL)
    assert res.volume_fraction == 1.0 and res.percolating_fraction == 1.0
    assert res.converged and res.residual <= TIGHT


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_straight_channels_any_cross_section(axis):
    rng = np.random.default_rng(7)
    section = rng.random((23, 19)) < 0.37        # arbitrary, connected or not
    mask = _extrude(section, 31, axis)
    res = m_factor(mask, axis=axis, rtol=TIGHT)
    eps = section.mean()
    assert res.volume_fraction == pytest.approx(eps)
    assert res.m_factor == pytest.approx(eps, rel=REL)
    assert res.tau_factor == pytest.approx(1.0, rel=REL)
    # the potential is linear: u = 1 - (k + 1/2) / L in every channel voxel
    res = m_factor(mask, axis=axis, rtol=TIGHT, return_potential=True)
    pot = np.moveaxis(res.potential, axis, 2)
    expected = 1.0 - (np.arange(31) + 0.5) / 31
    on = section[:, :, None] & np.ones(31, bool)
    assert np.allclose(pot[on].reshape(-1, 31), expected, atol=1e-6)   # float32 output
    assert np.isnan(pot[~on]).all()


def test_single_layer_and_single_column():
    # one layer along the axis: each voxel sees both faces at conductance 2
    res = m_factor(np.ones((5, 6, 1), bool), rtol=TIGHT)
    assert res.m_factor == pytest.approx(1.0, rel=REL)
    col = np.zeros((3, 3, 9), bool)
    col[1, 1] = True
    assert m_factor(col, rtol=TIGHT).m_factor == pytest.approx(1 / 9, rel=REL)


def test_parallel_layers_give_arithmetic_mean():
    # slabs parallel to the axis, each a straight-channel structure of its own
    # fraction: the potential is the same linear profile in all of them, so no
    # current crosses between slabs and M = sum_i w_i f_i exactly.
    rng = np.random.default_rng(3)
    widths, fractions = [6, 10, 8], [1.0, 0.5, 0.25]
    rows = []
    for w, f in zip(widths, fractions):
        sec = np.zeros((w, 20), bool)
        sec.flat[rng.permutation(w * 20)[: round(f * w * 20)]] = True
        rows.append(sec)
    mask = _extrude(np.concatenate(rows, axis=0), 27, 2)
    expected = sum(w * f for w, f in zip(widths, fractions)) / sum(widths)
    assert m_factor(mask, rtol=TIGHT).m_factor == pytest.approx(expected, rel=REL)


def _series_bounds(mask: np.ndarray) -> tuple[float, float]:
    """Rigorous bounds for M along the last axis by Rayleigh monotonicity.

    Lower: cut every lateral conductance -> independent columns; only complete
    columns conduct, each 1/L.  Upper: short every layer (infinite lateral
    conductance) -> a 1-D chain of layer potentials with conductance
    ``|P_k & P_k+1|`` between layers and ``2|P_0|``, ``2|P_L-1|`` to the faces; for
    layers of straight channels its M is the harmonic mean of the layer fractions
    (weighted by thickness) up to the interface terms.
    """
    n0, n1, L = mask.shape
    area = n0 * n1
    lower = mask.all(axis=2).sum() / L * L / area
    resistance = 1 / (2 * mask[:, :, 0].sum()) + 1 / (2 * mask[:, :, -1].sum())
    for k in range(L - 1):
        resistance += 1 / (mask[:, :, k] & mask[:, :, k + 1]).sum()
    upper = L / (area * resistance)
    return lower, upper


def test_series_layers_bounded_by_harmonic_mean():
    # a full slab, a layer of stripes (x even, 1/2) and a layer of rods (x and y
    # even, 1/4) in series; the patterns are nested, so every stripe continues
    # into rods and nothing is a dead end.
    n, thick = 16, [10, 12, 14]
    mask = np.zeros((n, n, sum(thick)), bool)
    z = np.cumsum([0] + thick)
    mask[:, :, z[0]:z[1]] = True
    mask[::2, :, z[1]:z[2]] = True
    mask[::2, ::2, z[2]:z[3]] = True
    L, area = sum(thick), n * n
    counts = [area, area // 2, area // 4]
    # 1-D chain by hand: half a voxel to each face, then every bond between two
    # layers counts the voxels present on both sides (the narrower layer)
    chain_r = (0.5 / counts[0] + (thick[0] - 1) / counts[0] + thick[1] / counts[1]
               + thick[2] / counts[2] + 0.5 / counts[2])
    chain = L / (area * chain_r)
    harmonic = L / sum(t / f for t, f in zip(thick, [1.0, 0.5, 0.25]))
    lower, upper = _series_bounds(mask)
    assert upper == pytest.approx(chain, rel=1e-12)
    assert lower == pytest.approx(0.25)
    res = m_factor(mask, rtol=TIGHT)
    assert lower - 1e-9 <= res.m_factor <= upper + 1e-9
    # the chain differs from the thickness-weighted harmonic mean of the layer
    # fractions only by the half-voxel bonds at the two interfaces (about 1 %),
    # and M from the chain only by the spreading resistance where stripes meet a
    # wider layer, a fixed resistance of order one bond of the narrower layer
    assert chain == pytest.approx(harmonic, rel=0.02)
    assert res.m_factor == pytest.approx(harmonic, rel=0.05)


def test_series_layers_converge_to_harmonic_mean_with_thickness():
    # same stack, twice as thick: the interface loss is a fixed resistance, so the
    # relative gap to the harmonic mean must shrink by about half
    def gap(scale):
        thick = [5 * scale, 6 * scale, 7 * scale]
        mask = np.zeros((8, 8, sum(thick)), bool)
        z = np.cumsum([0] + thick)
        mask[:, :, z[0]:z[1]] = True
        mask[::2, :, z[1]:z[2]] = True
        mask[::2, ::2, z[2]:z[3]] = True
        h = sum(thick) / sum(t / f for t, f in zip(thick, [1.0, 0.5, 0.25]))
        return (h - m_factor(mask, rtol=TIGHT).m_factor) / h
    g1, g2 = gap(2), gap(4)
    assert 0 < g2 < g1
    assert g2 / g1 == pytest.approx(0.5, abs=0.1)


def test_dead_end_gives_zero_without_solve():
    mask = np.zeros((6, 6, 12), bool)
    mask[2:4, 2:4, :-1] = True                 # stops one layer short of the outlet
    res = m_factor(mask)
    assert res.m_factor == 0.0 and math.isinf(res.tau_factor)
    assert res.iterations == 0 and res.percolating_fraction == 0.0
    assert res.volume_fraction == pytest.approx(mask.mean())


def test_isolated_islands_only_and_with_a_channel():
    mask = np.zeros((12, 12, 12), bool)
    mask[2:4, 2:4, 3:6] = True                 # island
    mask[7, 7, 1:11] = True                    # touches neither face
    mask[9:11, 1:3, 0:5] = True                # touches the inlet only
    res = m_factor(mask)
    assert res.m_factor == 0.0 and res.percolating_fraction == 0.0
    # add one full-length channel of 2 voxels: islands and dead ends are removed,
    # M is that of the channel alone (they must not make the system singular)
    n_islands = mask.sum()
    mask[5, 9:11, :] = True
    res = m_factor(mask, rtol=TIGHT)
    assert res.m_factor == pytest.approx(2 / 144, rel=REL)
    assert res.percolating_fraction == pytest.approx(24 / (24 + n_islands))


def test_dead_end_branch_carries_no_current():
    mask = np.zeros((7, 7, 20), bool)
    mask[3, 3, :] = True
    mask[3, 4:7, 10] = True                    # side branch attached to the channel
    assert m_factor(mask, rtol=TIGHT).m_factor == pytest.approx(1 / 49, rel=REL)


def test_empty_phase():
    res = m_factor(np.zeros((4, 5, 6), bool))
    assert res.m_factor == 0.0 and res.volume_fraction == 0.0
    assert res.percolating_fraction == 0.0 and math.isinf(res.tau_factor)


def _random_structure(shape, seed, fraction=0.55, sigma=1.5):
    from scipy import ndimage as ndi

    field = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma)
    return field > np.quantile(field, 1 - fraction)


def test_mirror_and_lateral_symmetries():
    mask = _random_structure((22, 18, 26), seed=11)
    ref = m_factor(mask, rtol=1e-9).m_factor
    assert ref > 0
    for variant in (mask[:, :, ::-1], mask[::-1], mask[:, ::-1], mask.transpose(1, 0, 2)):
        assert m_factor(np.ascontiguousarray(variant), rtol=1e-9).m_factor == pytest.approx(
            ref, rel=1e-6)
    # axis argument = the same structure rotated onto z
    for axis in (0, 1):
        rotated = np.moveaxis(mask, 2, axis)
        assert m_factor(rotated, axis=axis, rtol=1e-9).m_factor == pytest.approx(ref, rel=1e-6)


# ----------------------------------------------------------------------------- anisotropic voxels
# Face conductance across a face normal to axis i is (area) / (distance) = d_j d_k / d_i.
# The tolerances below are the solver bound of the module docstring (rel 1e-7 at rtol
# 1e-10); the known answers are exact for the discrete model, not approximations.

@pytest.mark.parametrize("axis", [0, 1, 2])
def test_isotropic_scaling_leaves_m_unchanged(axis):
    mask = _random_structure((20, 18, 22), seed=31)
    ref = m_factor(mask, axis=axis, rtol=TIGHT).m_factor
    for h in (0.2, 3.0, (0.5, 0.5, 0.5)):
        assert m_factor(mask, axis=axis, voxel_size=h, rtol=TIGHT).m_factor == pytest.approx(
            ref, rel=REL)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_straight_channels_any_voxel_shape(axis):
    # a channel bundle along the axis: M = eps whatever the voxel shape (lateral
    # conductances carry no current because the potential is uniform per layer)
    rng = np.random.default_rng(8)
    section = rng.random((15, 17)) < 0.4
    mask = _extrude(section, 21, axis)
    res = m_factor(mask, axis=axis, voxel_size=(0.3, 1.7, 0.9), rtol=TIGHT)
    assert res.m_factor == pytest.approx(section.mean(), rel=REL)


def test_series_blocks_between_harmonic_and_column_bounds_with_spacing():
    # blocks of layers along z, each conducting over y < w_i (all x): a series of
    # conductors whose lateral spreading depends on the y-conductance dx dz / dy.
    # Upper bound (infinitely conducting in y, uniform potential per layer): the
    # harmonic mean of the layer shares w_i / ny, weighted by thickness -- exact for
    # the discrete model as dy -> 0.  Lower bound (no y-conduction): only the columns
    # y < min w_i carry current, M = min w_i / ny -- the limit dy -> infinity.
    nx, ny = 6, 10
    w = [10, 4, 10, 7]               # conducting y-width per block of layers
    n = [3, 5, 4, 2]                 # layers per block
    mask = np.zeros((nx, ny, sum(n)), bool)
    z = 0
    for wi, ni in zip(w, n):
        mask[:, :wi, z:z + ni] = True
        z += ni
    harmonic = sum(n) / sum(ni / (wi / ny) for wi, ni in zip(w, n))
    columns = min(w) / ny
    results = [m_factor(mask, voxel_size=(1.0, dy, 1.0), rtol=TIGHT)
               for dy in (0.1, 0.3, 1.0, 3.0, 1e3)]
    assert all(r.converged for r in results)
    values = [r.m_factor for r in results]
    assert all(columns * (1 - REL) <= v <= harmonic * (1 + REL) for v in values)
    assert all(a > b for a, b in zip(values, values[1:]))       # monotone in dy
    # the weak-lateral limit: y-conductance 1e-6 of the axial one; the excess over
    # the column bound is of that order times the number of side voxels, so 1e-4
    # relative is loose.  (The stiff limit dy -> 0 is not tested: a point smoother
    # needs many iterations once the conductance ratio exceeds ~1e3.)
    assert values[-1] == pytest.approx(columns, rel=1e-4)


def test_stack_of_layers_normal_to_a_lateral_axis_gives_arithmetic_mean():
    # conducting sheets parallel to the transport axis z, separated along x: each
    # sheet is a straight conductor, M = share of sheets regardless of spacing
    mask = np.zeros((12, 9, 14), bool)
    mask[[0, 1, 4, 5, 6, 10]] = True
    for spacing in ((1.0, 1.0, 1.0), (3.0, 0.5, 1.2), (0.2, 0.2, 2.0)):
        assert m_factor(mask, voxel_size=spacing, rtol=TIGHT).m_factor == pytest.approx(
            6 / 12, rel=REL)


def test_anisotropic_grid_of_an_isotropic_object():
    # the same ball-packing-like structure sampled twice: on cubic voxels of edge h
    # and on voxels of (h, h, 2h) (every second z-slice); the M-factors agree within
    # the discretisation error of the coarser grid.  Estimate of that error: the
    # difference between the cubic solve at h and at 2h (both isotropic), measured
    # in the same test; the anisotropic result must lie within it (plus slack 1.5).
    rng = np.random.default_rng(3)
    n = 48
    centres = rng.random((60, 3)) * n
    g = np.indices((n, n, n)).reshape(3, -1).T + 0.5
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(centres, boxsize=n).query(g)
    fine = (dist < 7.0).reshape(n, n, n)             # phase: union of balls r = 7 voxels
    coarse_z = fine[:, :, ::2]                       # (h, h, 2h): every second slice
    coarse_all = fine[::2, ::2, ::2]                 # (2h, 2h, 2h)
    m_fine = m_factor(fine, rtol=1e-8).m_factor
    m_aniso = m_factor(coarse_z, voxel_size=(1.0, 1.0, 2.0), rtol=1e-8).m_factor
    m_coarse = m_factor(coarse_all, voxel_size=2.0, rtol=1e-8).m_factor
    assert m_fine > 0.1
    assert abs(m_aniso - m_fine) <= 1.5 * abs(m_coarse - m_fine) + 1e-3
    # treating the z-subsampled grid as cubic (the mistake the keyword prevents)
    # gives a clearly different answer: the channel is half as long but as wide
    m_wrong = m_factor(coarse_z, rtol=1e-8).m_factor
    assert abs(m_wrong - m_fine) > 2 * abs(m_aniso - m_fine)


# ----------------------------------------------------------------------------- several axes
def test_m_factors_equal_single_axis_solves():
    from vmt_dask.conductivity import m_factors

    mask = _random_structure((16, 20, 18), seed=41)
    spacing = (1.0, 0.8, 1.3)
    out = m_factors(mask, axes="all", voxel_size=spacing, rtol=TIGHT)
    assert list(out) == [0, 1, 2]
    for a, res in out.items():
        single = m_factor(mask, axis=a, voxel_size=spacing, rtol=TIGHT)
        assert res.axis == a
        assert res.m_factor == pytest.approx(single.m_factor, rel=1e-12)
        assert res.percolating_fraction == single.percolating_fraction
    sub = m_factors(mask, axes=("z", 0))
    assert list(sub) == [2, 0]


@pytest.mark.parametrize("axes", [(), (0, 0), ("x", "w"), 3])
def test_m_factors_bad_axes(axes):
    from vmt_dask.conductivity import m_factors
    from vmt_dask.errors import InputError

    with pytest.raises(InputError, match="axes"):
        m_factors(np.ones((4, 4, 4), bool), axes=axes)
