"""Known answers for the 13-direction Crofton estimator of the surface area.

Notation: w_j are the pair weights (sum 1), u_j the unit directions.  For a plane
with unit normal n the lattice lines in direction u_j cross it |n . u_j| times per
unit length and unit surface density, so the estimator returns exactly
``2 sum_j w_j |n . u_j|`` times the true area (the directional bias; no digitization
error for planes through lattice-aligned half-spaces).
"""
import numpy as np
import pytest

from vmt_dask.descriptors import CROFTON_DIRECTIONS, CROFTON_WEIGHTS, specific_surface_area

from .conftest import ball

U = CROFTON_DIRECTIONS / np.linalg.norm(CROFTON_DIRECTIONS, axis=1)[:, None]


def bias(normal):
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    return 2 * np.sum(CROFTON_WEIGHTS * np.abs(U @ n))


def area(mask, a=1.0):
    n_cells = np.prod(np.array(mask.shape) - 1)
    return specific_surface_area(mask, voxel_size=a) * n_cells * a**3


def test_weights_sum_to_one_and_axis_bias():
    assert CROFTON_WEIGHTS.sum() == pytest.approx(1.0, abs=1e-12)
    assert bias((0, 0, 1)) == pytest.approx(0.92662, abs=1e-5)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_slab_normal_to_axis_is_exact_up_to_directional_bias(axis):
    shape = [20, 21, 22]
    m = np.zeros(shape, bool)
    idx = [slice(None)] * 3
    idx[axis] = slice(5, 12)
    m[tuple(idx)] = True
    # two faces, each of area (prod of the other two cell counts)
    other = [s - 1 for i, s in enumerate(shape) if i != axis]
    true = 2 * other[0] * other[1]
    n = [0, 0, 0]
    n[axis] = 1
    assert area(m) == pytest.approx(bias(n) * true, rel=1e-12)


@pytest.mark.parametrize("normal", [(1, 1, 0), (1, 1, 1)])
def test_half_space_normal_to_diagonal(normal):
    # {x . n <= c} in a periodic-free window: crossings are exact except for lines
    # whose crossing lies within one lattice step (|v| <= sqrt 3) of the window
    # border.  The true area is the plane's section of the window, A; lines lost or
    # gained at the border are bounded by the border strip, relative error
    # <= sqrt(3) * perimeter / A (about 8 % here).
    N = 80
    x, y, z = np.ogrid[:N, :N, :N]
    n = np.asarray(normal, float)
    val = x * n[0] + y * n[1] + z * n[2]
    c = val.max() / 2 + 0.25
    m = val <= c
    # plane section with the cell domain [0, N-1]^3 (Monte Carlo-free: exact for these)
    L = N - 1
    if normal == (1, 1, 0):
        A, per = np.sqrt(2) * L * L, 2 * (np.sqrt(2) * L + L)
    else:
        # x+y+z = 1.5 L cuts the cube in a regular hexagon with side L / sqrt 2
        s = L / np.sqrt(2)
        A, per = 3 * np.sqrt(3) / 2 * s * s, 6 * s
    tol = np.sqrt(3) * per / A
    assert area(m) / A == pytest.approx(bias(normal), rel=tol)


def _lines_hitting(mask, v):
    """Number of distinct lattice lines in direction v meeting the set."""
    pts = np.argwhere(mask)
    v = np.asarray(v)
    # canonical point of each line: subtract the largest multiple t v keeping the
    # point in the first octant-independent form -> use a projection key
    t = np.zeros(len(pts), np.int64)
    # for primitive v with entries in {-1,0,1}, a line is identified by p - t v with
    # t chosen so that the first nonzero-coordinate index of v becomes 0
    i = np.flatnonzero(v)[0]
    t = pts[:, i] * v[i]
    key = pts - t[:, None] * v[None, :]
    return len(np.unique(key, axis=0))


@pytest.mark.parametrize("radius", [3.0, 5.5, 9.0])
def test_ball_equals_projection_identity(radius):
    # A digitized ball meets every lattice line in a contiguous run, so each line
    # that hits it has exactly two transitions and the estimator must equal
    # 4 sum_j w_j N_j / |v_j| exactly, with N_j the number of lines hitting it.
    rng = np.random.default_rng(int(radius * 10))
    c = 12 + rng.random(3)
    m = ball((26, 26, 26), c, radius)
    expect = 4 * sum(
        w * _lines_hitting(m, v) / np.linalg.norm(v) for v, w in zip(CROFTON_DIRECTIONS, CROFTON_WEIGHTS)
    )
    assert area(m) == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize("radius", [4.0, 7.0, 11.0])
def test_ball_area_within_lattice_count_bound(radius):
    # By the identity above, S_est = 4 sum_j w_j N_j / |v_j|.  A line at distance
    # rho from the centre certainly hits the digitized ball if its chord
    # 2 sqrt(r^2 - rho^2) >= |v| (it then contains a lattice point), and certainly
    # misses it if rho >= r.  The lines form a 2-D lattice of density |v| per unit
    # area whose covering radius mu is at most sqrt(2)/2 for all 13 directions, so
    # |v| pi (r1 - mu)^2 <= N_j <= |v| pi (r + mu)^2 with r1 = sqrt(r^2 - 3/4).
    # Hence (r1 - mu)^2 / r^2 <= S_est / (4 pi r^2) <= (r + mu)^2 / r^2.
    mu = np.sqrt(2) / 2
    r1 = np.sqrt(radius**2 - 0.75)
    rng = np.random.default_rng(7)
    for _ in range(3):
        c = 15 + rng.random(3)
        ratio = area(ball((32, 32, 32), c, radius)) / (4 * np.pi * radius**2)
        assert (r1 - mu) ** 2 / radius**2 <= ratio <= (radius + mu) ** 2 / radius**2


def test_ball_mean_over_random_centres():
    # S = 3 / r per unit ball volume.  Averaging over M random sub-voxel centres,
    # the expected line count is |v| times the disk area minus the rim where the
    # chord is shorter than |v|: relative bias -|v|^2 / (12 r^2) >= -1/(4 r^2),
    # i.e. > -0.3 % at r = 10.  The ratio is confined to the band of the previous
    # test (width W = ((r+mu)^2 - (r1-mu)^2)/r^2 = 0.29 at r = 10), so its standard
    # deviation is at most W/2 and that of the mean at most W / (2 sqrt M); we allow
    # 4 of those (Chebyshev: a seeded draw outside has probability < 1/16).
    r, M = 10.0, 16
    mu = np.sqrt(2) / 2
    W = ((r + mu) ** 2 - (r**2 - 0.75 - 2 * mu * np.sqrt(r**2 - 0.75) + mu**2)) / r**2
    rng = np.random.default_rng(11)
    ratios = []
    for _ in range(M):
        m = ball((26, 26, 26), 12.5 + rng.random(3), r)
        ratios.append(area(m) / m.sum() / (3 / r))  # measured S per ball volume
    # per ball volume: the digitized volume also fluctuates; compare area instead
    areas = []
    for _ in range(M):
        m = ball((26, 26, 26), 12.5 + rng.random(3), r)
        areas.append(area(m) / (4 * np.pi * r * r))
    assert np.mean(areas) == pytest.approx(1 - 1 / (12 * r * r), abs=4 * W / (2 * np.sqrt(M)))
    assert np.mean(ratios) == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("radius", [6.0, 10.0])
def test_cylinder_directional_bias(radius):
    # Normals of a cylinder along z are uniform on the equator, so the expected
    # estimate is 2 sum_j w_j E|n . u_j| = (4/pi) sum_j w_j |u_j,xy| = 0.9806 of the
    # lateral area 2 pi r (nz - 1) (the window ends are not surfaces).  Digitization
    # error: the cross-section is a digitized disk, the same lattice count bound as
    # for balls applies per z-slice: relative band (r1-mu)^2/r^2 .. (r+mu)^2/r^2 with
    # r1 = sqrt(r^2 - 1/2) (in-plane step <= sqrt 2).
    expected_bias = 4 / np.pi * np.sum(CROFTON_WEIGHTS * np.linalg.norm(U[:, :2], axis=1))
    assert expected_bias == pytest.approx(0.9806, abs=1e-4)
    mu = np.sqrt(2) / 2
    r1 = np.sqrt(radius**2 - 0.5)
    nz = 30
    x, y, _ = np.ogrid[:28, :28, :nz]
    m = np.broadcast_to((x - 13.7) ** 2 + (y - 14.2) ** 2 < radius**2, (28, 28, nz))
    ratio = area(np.ascontiguousarray(m)) / (2 * np.pi * radius * (nz - 1)) / expected_bias
    assert (r1 - mu) / radius <= ratio <= (radius + mu) / radius


def test_face_count_and_marching_cubes_bands(bm01_labels):
    from skimage.measure import marching_cubes, mesh_surface_area

    m = bm01_labels == 2
    s = specific_surface_area(m, voxel_size=1.0)
    n_cells = np.prod(np.array(m.shape) - 1)
    faces = sum(np.count_nonzero(np.diff(m[:, :, :], axis=ax)) for ax in range(3)) / n_cells
    # Face counting sees a surface element with normal n as |n|_1 = |n_x|+|n_y|+|n_z|
    # (mean 3/2 over isotropic normals, hence the factor 2/3), the 13-direction
    # estimator as bias(n).  Whatever the distribution of normals, the ratio of the
    # two estimates lies between the extremes of bias(n) / (2/3 |n|_1) over the sphere.
    rng = np.random.default_rng(0)
    ns = rng.normal(size=(20000, 3))
    ns /= np.linalg.norm(ns, axis=1)[:, None]
    q = 2 * np.abs(ns @ U.T) @ CROFTON_WEIGHTS / (2 / 3 * np.abs(ns).sum(axis=1))
    assert q.min() <= s / (2 / 3 * faces) <= q.max()
    assert 0.8 < q.min() and q.max() < 1.4
    verts, fc, _, _ = marching_cubes(m.astype(np.float32), level=0.5)
    s_mc = mesh_surface_area(verts, fc) / n_cells
    # Marching cubes on binary data cuts corners and facets: for smooth shapes it
    # lies within about 10 % of the Crofton estimate (measured 0.9-1.1 on balls).
    assert 0.85 < s_mc / s < 1.15


def test_voxel_size_scaling_and_validation():
    m = ball((20, 20, 20), (9.5, 9.5, 9.5), 6)
    assert specific_surface_area(m, voxel_size=0.5) == pytest.approx(
        2 * specific_surface_area(m, voxel_size=1.0)
    )
    with pytest.raises(ValueError, match="voxel_size"):
        specific_surface_area(m, voxel_size=-1)
    with pytest.raises(ValueError, match="3-D"):
        specific_surface_area(m[0], voxel_size=1)
    with pytest.raises(TypeError, match="dtype"):
        specific_surface_area(m.astype(float), voxel_size=1)


@pytest.mark.parametrize("shape", [(2, 2, 2), (3, 4, 5), (5, 3, 6), (4, 6, 9), (7, 5, 13), (33, 9, 40)])
def test_configuration_histogram_against_numpy(shape):
    # the kernel's 8-bit code of a cell: bit (dz, dy, dx) = 4 dz + 2 dy + dx of its corner,
    # counted with numpy slicing and bincount; the z-lengths cover every remainder of the
    # kernel's four interleaved histograms (nz - 1 = 1, 4, 5, 8, 12, 39)
    from vmt_dask.descriptors.surface_area import configuration_histogram

    rng = np.random.default_rng(sum(shape))
    for p in (0.1, 0.5, 0.9):
        m = rng.random(shape) < p
        code = np.zeros(np.array(shape) - 1, np.int64)
        for dx in (0, 1):
            for dy in (0, 1):
                for dz in (0, 1):
                    c = m[dx:shape[0] - 1 + dx, dy:shape[1] - 1 + dy, dz:shape[2] - 1 + dz]
                    code |= c.astype(np.int64) << (4 * dz + 2 * dy + dx)
        want = np.bincount(code.ravel(), minlength=256)
        assert np.array_equal(configuration_histogram(m), want)
