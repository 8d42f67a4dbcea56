"""The "simd" generator's Gaussian fields: vectorised counter-hash Box-Muller noise and FMA
direct convolution in float32.

The same model as "lattice" and "fast" (point sampling, lattice correlation exp(-(alpha h)^2) at
integer lags, the kernels of :func:`~vmt_dask.model.covariance.generator_kernel`), other random
numbers, less work per voxel than "fast" (``python -m vmt_dask.bench generate``).  Every step
is branch-free in its common path, so LLVM vectorises it with AVX2 (8 float32 lanes):

Noise (:func:`simd_noise_region`)
    Each lattice row (x, y) gets a 64-bit key ``mix(mix(k0 + c(x, y) gamma) ^ k1)`` (two
    SplitMix64 finalisers, Steele, Lea and Flood 2014; (k0, k1) from ``numpy.random.SeedSequence``
    as in :mod:`.noise`), split into two 32-bit keys r0, r1.  The voxel at offset coordinate
    ``zo = z + 2^20`` gets the 32-bit word ``w(zo) = L(L(zo ^ r0) ^ r1)``, L the 32-bit integer
    hash "lowbias32" (xorshift-multiply, two multiplies; C. Wellons, "Prospecting for hash
    functions", 2018).  A pair of voxels (zo even, zo + 1) becomes two standard normals by
    Box-Muller (1958): R = sqrt(-2 ln U), with U = (w(zo) >> 1) 2^-31 + 2^-32 in (0, 1]; an angle
    of a quarter turn times the top two bits of w(zo + 1) plus pi/4 t, t in (-1, 1) from the
    next 23 bits; the even voxel gets R cos, the odd R sin.  ln, cos and sin are float32
    polynomials (module constants; ln by exponent/mantissa split and a degree-9 fit on
    [sqrt(1/2), sqrt 2], sin and cos by their Taylor series on [-pi/4, pi/4]).
Convolution (:func:`simd_field`)
    Separable, along z (the noise row, in registers), then y, then x, with the symmetric
    kernels: each symmetric tap pair is one add and one fused multiply-add
    ``acc = fma(g_t, a_t + b_t, acc)``, t = 0 .. H - 1 after ``acc = g_H c``, no pair-sum tree.
    The passes are explicit 8-lane LLVM vector kernels with the accumulators in registers: the
    y and x passes compute four output rows at once, keeping the four low and four high input
    rows of the current tap pair in registers and loading two rows per step (two loads per
    four tap pairs); the z pass (inside the noise row) keeps 32 outputs in registers and loads
    the two inputs of each pair.  Structure and memory as "fast": one intermediate of
    (nx + 2 Hx) ny nz float32 values; threads over chunks of x-planes, then of y-rows.

"simd2" (the same kernels, other random numbers, less work)
    The word of a voxel is one hash round on a row-scaled counter, ``w(zo) = L((zo m) ^ r0)``,
    m = r1 | 1 the row's odd multiplier, products mod 2^32 (three 32-bit multiplies instead of
    four; zo -> zo m and L are bijections, so words of distinct zo in a row differ and each
    word is uniform; the test suite checks the law, the independence of neighbours and
    Box-Muller partners, and that rows share no more values than chance allows), from streams
    ``SIMD2_STREAM + field``; the rest of the noise and the convolution are simd's.  The
    first simd2 (session 7, re-pinned the same day) hashed ``L(zo ^ r0)``: two rows whose r0
    differ only in the 9 low bits (one row pair in 2^23) hashed the same inputs, permuted,
    and so held the same noise values.  With m the inputs of a row are an arithmetic
    progression of random step; two rows' inputs meet only by chance (L^2 2^-32 per row pair).  Its smooth fields' spectral synthesis sums
    the x pass as a matrix product (:func:`gemm_x_rows`).

The law of the noise, to a bound (no test can see it; derived in ``NOISE_LAW_BOUND``'s comment):
U is uniform on a grid of step <= 2^-24 (the float32 rounding of a 31-bit integer), so
R's distribution function is within 2^-24 of Rayleigh's and R <= sqrt(64 ln 2) = 6.66 (the
normal tail beyond has probability 2.3e-10); the angle is uniform on 2^25 points; the float32
polynomials are accurate to ~1e-7 (ln: 5e-9 fit plus rounding; sin, cos: Taylor remainders 1.7e-9
and 2.4e-8), i.e. relative errors of a few 1e-7 in each normal value, far below the float32
rounding of the fields.

Every output value is computed by the same sequence of float32 operations (explicit FMAs,
fixed tap order) whatever the thread count, the tile it is in and where the row blocks of four
start, so realizations do not depend on threads or chunking.  On a CPU without FMA the
instruction is emulated by libm's exact ``fmaf``: the same bits, slower.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .fast import _counter_xy, _mix, direct_setup, split_run
from .noise import MAX_COORDINATE, field_key

__all__ = ["simd_noise_region", "simd_field", "SIMD_STREAM", "SIMD2_STREAM", "VARIANTS", "NOISE_LAW_BOUND"]

#: Noise streams of the "simd" generator are field keys of ``SIMD_STREAM + field`` (distinct
#: from "lattice"'s (``field``), the spectral coefficients' (``2^24 + ...``) and "fast"'s (``2^28 + ...``)).
SIMD_STREAM = 1 << 29
#: Noise streams of the "simd2" generator: ``SIMD2_STREAM + field``.
SIMD2_STREAM = 1 << 30

#: Kolmogorov distance bound between the noise's law and N(0, 1): the U grid (2^-24 in U's
#: distribution function, which is R's), the angle grid (2^-25 of a turn moves a value by at most
#: 2 pi 2^-25 R, i.e. the CDF by <= phi_max 2 pi 2^-25 E|R| < 2^-25 * 2 pi * 0.4 * 1.26), the
#: truncation of R at 6.66 (2.3e-10) and the polynomials (relative 3e-7 of |z|: the CDF by
#: <= max_z phi(z) |z| 3e-7 = 0.242 * 3e-7): < 2e-7 in all.
NOISE_LAW_BOUND = 2.0 ** -24 + 2 * math.pi * 0.4 * 1.26 * 2.0 ** -25 + 2.3e-10 + 0.242 * 3e-7


# --- LLVM intrinsics: 32-bit integer ops and an exact FMA (numba widens small ints to 64 bits)

@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (IEEE fusedMultiplyAdd, float32)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f32], ir.FunctionType(f32, [f32] * 3))
        return builder.call(fn, args)
    return sig, codegen


@intrinsic
def _bits(typingctx, x):
    """The bits of a float32 as int32."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return sig, codegen


@intrinsic
def _from_bits(typingctx, x):
    """The float32 whose bits are the int32 ``x``."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


def _emit_lowbias32(builder, v):
    """IR of L(v) = lowbias32 on a uint32 value (module docstring), shared by the word intrinsics."""
    i32 = ir.IntType(32)
    v = builder.xor(v, builder.lshr(v, ir.Constant(i32, 16)))
    v = builder.mul(v, ir.Constant(i32, 0x7FEB352D))
    v = builder.xor(v, builder.lshr(v, ir.Constant(i32, 15)))
    v = builder.mul(v, ir.Constant(i32, 0x846CA68B))
    return builder.xor(v, builder.lshr(v, ir.Constant(i32, 16)))


@intrinsic
def _word1(typingctx, c, r0):
    """L(c ^ r0) on uint32, L = lowbias32 (module docstring): one round; simd's word is
    L(L(c ^ r0) ^ r1) (simd2's is :func:`_word_odd`)."""
    sig = types.uint32(types.uint32, types.uint32)

    def codegen(context, builder, signature, args):
        return _emit_lowbias32(builder, builder.xor(args[0], args[1]))
    return sig, codegen


@intrinsic
def _word_odd(typingctx, c, r1, r0):
    """L((c * (r1 | 1)) ^ r0) on uint32: simd2's word.  The multiply by the row's odd
    multiplier (a bijection of the 32-bit integers) makes the row's inputs a row-dependent
    arithmetic progression: with L(c ^ r0) alone, two rows whose keys differ only in the low
    bits hashed the same inputs, permuted, i.e. shared their noise values."""
    sig = types.uint32(types.uint32, types.uint32, types.uint32)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        m = builder.or_(args[1], ir.Constant(i32, 1))
        v = builder.xor(builder.mul(args[0], m), args[2])
        return _emit_lowbias32(builder, v)
    return sig, codegen


@intrinsic
def _radius_uniform(typingctx, w):
    """float32(w >> 1) (31 bits, rounded to float32)."""
    sig = types.float32(types.uint32)

    def codegen(context, builder, signature, args):
        return builder.sitofp(builder.lshr(args[0], ir.Constant(ir.IntType(32), 1)), ir.FloatType())
    return sig, codegen


@intrinsic
def _angle_bits(typingctx, w):
    """float32((w >> 7) & (2^23 - 1)) (exact) and the quadrant w >> 30."""
    sig = types.UniTuple(types.int32, 2)(types.uint32)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        f = builder.and_(builder.lshr(args[0], ir.Constant(i32, 7)), ir.Constant(i32, 0x7FFFFF))
        q = builder.lshr(args[0], ir.Constant(i32, 30))
        return context.make_tuple(builder, signature.return_type, (f, q))
    return sig, codegen


@intrinsic
def _u32(typingctx, x):
    """The low 32 bits of an int64 as uint32."""
    sig = types.uint32(types.int64)

    def codegen(context, builder, signature, args):
        return builder.trunc(args[0], ir.IntType(32))
    return sig, codegen


# --- float32 polynomials

def _log_coefficients(degree: int = 9) -> tuple:
    """c_1..c_degree with ln(1 + f) ~ sum c_k f^k on [sqrt(1/2) - 1, sqrt(2) - 1]: least squares
    on Chebyshev points (max error 5e-9 in float64 for degree 9, printed by the test)."""
    lo, hi = math.sqrt(0.5) - 1, math.sqrt(2) - 1
    f = 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(np.linspace(0, np.pi, 2001))
    V = np.vander(f, degree + 1, increasing=True)[:, 1:]
    c = np.linalg.lstsq(V, np.log1p(f), rcond=None)[0]
    return tuple(np.float32(v) for v in c)


#: The float32 coefficients, frozen: they are part of the generator's bits, so they must not
#: depend on the LAPACK that runs :func:`_log_coefficients` (the test refits them and checks
#: that the refit rounds to these to within one float32 ulp on this machine).
_LC = tuple(np.float32(float.fromhex(h)) for h in (
    "0x1.fffffcp-1", "-0x1.fffffap-2", "0x1.5559e8p-2", "-0x1.0005e6p-2", "0x1.984d4ap-3",
    "-0x1.52f782p-3", "0x1.354dfcp-3", "-0x1.2881fap-3", "0x1.5bc612p-4"))
_LN2 = np.float32(math.log(2.0))
_S = tuple(np.float32((-1) ** k * (math.pi / 4) ** (2 * k + 1) / math.factorial(2 * k + 1)) for k in range(5))
_C = tuple(np.float32((-1) ** k * (math.pi / 4) ** (2 * k) / math.factorial(2 * k)) for k in range(5))


@numba.njit(inline="always")
def _ln(x):
    """Natural log of a positive normal float32 (exponent and mantissa in [sqrt(1/2), sqrt 2))."""
    b = _bits(x)
    e = (b >> 23) - 127
    m = _from_bits((b & 0x7FFFFF) | 0x3F800000)
    big = m > np.float32(1.4142135)
    m = np.float32(0.5) * m if big else m
    e = e + 1 if big else e
    f = m - np.float32(1.0)
    f2 = f * f
    f4 = f2 * f2
    b0 = _fma(_fma(_LC[3], f, _LC[2]), f2, _fma(_LC[1], f, _LC[0]))
    b1 = _fma(_LC[8], f4, _fma(_fma(_LC[7], f, _LC[6]), f2, _fma(_LC[5], f, _LC[4])))
    p = _fma(b1, f4, b0)
    return _fma(np.float32(e), _LN2, p * f)


@numba.njit(inline="always")
def _normal_pair(w_even, w_odd):
    """Box-Muller: the two normals of a voxel pair from its two words (module docstring)."""
    u = _fma(_radius_uniform(w_even), np.float32(2.0 ** -31), np.float32(2.0 ** -32))
    r = np.sqrt(max(np.float32(-2.0) * _ln(u), np.float32(0.0)))
    fb, q = _angle_bits(w_odd)
    t = _fma(np.float32(fb), np.float32(2.0 ** -22), np.float32(2.0 ** -23 - 1.0))
    t2 = t * t
    t4 = t2 * t2
    s = _fma(_fma(_S[4], t4, _fma(_S[3], t2, _S[2])), t4, _fma(_S[1], t2, _S[0])) * t
    c = _fma(_fma(_C[4], t4, _fma(_C[3], t2, _C[2])), t4, _fma(_C[1], t2, _C[0]))
    a = -s if q & 1 else c  # rotate by q quarter turns
    b = c if q & 1 else s
    a = -a if q & 2 else a
    b = -b if q & 2 else b
    return r * a, r * b


@numba.njit(inline="always")
def _row_key(k0, k1, cxy):
    h = _mix(_mix(k0 + cxy * np.uint64(0x9E3779B97F4A7C15)) ^ k1)
    return _u32(np.int64(h & np.uint64(0xFFFFFFFF))), _u32(np.int64(h >> np.uint64(32)))


_OFF = 1 << 20


@numba.njit(inline="always")
def _fill_blocks(s, k0, k1, cxy, zb, rounds):
    """s[16 b + i] and s[16 b + 8 + i] (i < 8): the Box-Muller pair of offset coordinates
    zb + 16 b + i and zb + 16 b + 8 + i, for every aligned block b of ``s`` (``zb`` a multiple
    of 16).  Pairs 8 apart, stored straight into the row (was: a linear loop into two
    half-rows, then moved into place by 8-value blocks; the same values, 3.4-3.5 vs 3.6-3.8
    ns/value on one thread).  ``rounds``: 2 ("simd": L(L(c ^ r0) ^ r1)) or 1 ("simd2":
    L((c * (r1 | 1)) ^ r0)); a run-time argument (one compiled kernel for both: a kernel per variant
    doubled the cold compile of the plane pass, 4.2-4.9 -> 7.6-10 CPU s)."""
    r0, r1 = _row_key(k0, k1, cxy)
    nb = s.shape[0] // 16
    for b in range(nb):
        c = zb + 16 * b
        for i in range(8):
            if rounds == 2:  # "simd": L(L(c ^ r0) ^ r1)
                we, wo = _word1(_word1(_u32(c + i), r0), r1), _word1(_word1(_u32(c + i + 8), r0), r1)
            else:  # "simd2": L((c * (r1 | 1)) ^ r0)
                we, wo = _word_odd(_u32(c + i), r1, r0), _word_odd(_u32(c + i + 8), r1, r0)
            x, y = _normal_pair(we, wo)
            s[16 * b + i] = x
            s[16 * b + 8 + i] = y


@numba.njit(inline="always")
def _noise_row(s, k0, k1, cxy, z0, n, rounds):
    """Fill ``s`` with the noise of the aligned blocks covering z0 .. z0 + n - 1; returns the
    offset of z0 in ``s`` (``s`` needs n + 30 values)."""
    zo = z0 + _OFF
    zb = zo & ~15
    m = ((zo + n - zb + 15) // 16) * 16
    _fill_blocks(s[:m], k0, k1, cxy, zb, rounds)
    return zo - zb


@numba.njit(cache=True, nogil=True)
def _noise_box(out, k0, k1, x0, y0, z0, rounds):
    """Serial (the noise box is for tests and benchmarks; the fields hash their noise inside
    their threaded passes): compiles in a fraction of a prange version's time."""
    nx, ny, nz = out.shape
    s = np.empty(nz + 32, dtype=np.float32)
    for i in range(nx):
        for j in range(ny):
            off = _noise_row(s, k0, k1, _counter_xy(x0 + i, y0 + j), z0, nz, rounds)
            o = out[i, j]
            for k in range(nz):
                o[k] = s[off + k]



#: The noise generators of the vector fields: generator name -> (noise stream offset, hash rounds).
VARIANTS = {"simd": (SIMD_STREAM, 2), "simd2": (SIMD2_STREAM, 1)}


def _variant(generator: str):
    try:
        return VARIANTS[generator]
    except KeyError:
        raise ValueError(f"generator must be one of {', '.join(VARIANTS)}; got {generator!r}") from None


def simd_noise_region(seed: int, field: int, lo, hi, generator: str = "simd") -> np.ndarray:
    """Standard normal float32 noise of the "simd" (or "simd2") generator on the lattice box [lo, hi).

    Values depend only on (seed, field, lattice position); ``lo`` may be negative, every
    coordinate within +-``MAX_COORDINATE``.  Raises ValueError for a box outside that range
    or another generator name.
    """
    stream, rounds = _variant(generator)
    if any(lo_ < -MAX_COORDINATE or hi_ > MAX_COORDINATE for lo_, hi_ in zip(lo, hi)):
        raise ValueError(f"box [{lo}, {hi}) exceeds the lattice range +-{MAX_COORDINATE}")
    out = np.empty(tuple(int(h - l) for l, h in zip(lo, hi)), dtype=np.float32)
    k0, k1 = field_key(seed, stream + field)
    _noise_box(out, k0, k1, np.int64(lo[0]), np.int64(lo[1]), np.int64(lo[2]), np.int64(rounds))
    return out


# --- convolution
#
# Every output value of a pass is acc = g_H c, then acc = fma(g_t, lo_t + hi_t, acc) for
# t = 0 .. H - 1 (lo_t, hi_t the inputs at lags t - H and H - t): the kernels below compute
# exactly this sequence per value (so the bits do not depend on which kernel, block or lane
# computed a value), with the accumulators and the window of input rows in vector registers.
# They are emitted as LLVM IR with explicit <8 x float> vectors: numba's loop vectoriser only
# vectorises innermost loops, which here would put the tap loop outside and reload and
# restore every accumulator once per tap.


def _vector_tools(builder, W):
    """(vector type, pointer type, fma function, broadcast) for W float32 lanes (W = 1: scalar)."""
    f32 = ir.FloatType()
    vt = ir.VectorType(f32, W) if W > 1 else f32
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt] * 3),
                                         f"llvm.fma.v{W}f32" if W > 1 else "llvm.fma.f32")

    def bcast(x):
        if W == 1:
            return x
        i32 = ir.IntType(32)
        v = builder.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(i32, 0))
        return builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined), ir.Constant(ir.VectorType(i32, W), [0] * W))
    return vt, vt.as_pointer(), fma, bcast


def _i64(v):
    return ir.Constant(ir.IntType(64), v)


def _tap_loop(builder, H, unroll, state, step):
    """Run ``state = step(t, state)`` for t = 0 .. H - 1 (``unroll`` steps per loop trip, then
    single steps); ``state`` is a list of LLVM values kept in allocas between trips (promoted
    to registers by LLVM's mem2reg)."""
    slots = [cgutils.alloca_once(builder, v.type) for v in state]
    for s, v in zip(slots, state):
        builder.store(v, s)

    def trip(t0, n):
        vals = [builder.load(s) for s in slots]
        for u in range(n):
            vals = step(builder.add(t0, _i64(u)), vals)
        for s, v in zip(slots, vals):
            builder.store(v, s)

    trips = builder.udiv(H, _i64(unroll))
    with cgutils.for_range(builder, trips) as loop:
        trip(builder.mul(loop.index, _i64(unroll)), unroll)
    done = builder.mul(trips, _i64(unroll))
    with cgutils.for_range(builder, builder.sub(H, done)) as loop:
        trip(builder.add(done, loop.index), 1)
    return [builder.load(s) for s in slots]


def _emit_rows4(builder, W, src, ss, dst, ds, g, H, mode):
    """Four output rows (``dst + r ds``, r < 4) of the convolution of the rows ``src + i ss``
    (i < 2H + 4) along the row index, W lanes at the given pointers.  Window: the low rows
    r + t and the high rows r + 2H - t of step t stay in registers; each step loads the two
    rows the next one needs.  ``mode``: 0 store, 1 add, 2 add the square (rounded, then added),
    3 store the square (the bits of mode 2 on a zeroed output: 0 + a*a == a*a)."""
    vt, vptr, fma, bcast = _vector_tools(builder, W)

    def row(p):
        return builder.load(builder.bitcast(p, vptr), align=4)

    two_h = builder.mul(H, _i64(2))
    gH = bcast(builder.load(builder.gep(g, [H])))
    low = [row(builder.gep(src, [builder.mul(_i64(r), ss)])) for r in range(4)]
    high = [row(builder.gep(src, [builder.mul(builder.add(two_h, _i64(r)), ss)])) for r in range(4)]
    acc = [builder.fmul(gH, row(builder.gep(src, [builder.mul(builder.add(H, _i64(r)), ss)]))) for r in range(4)]
    pl = builder.gep(src, [builder.mul(_i64(4), ss)])  # the next low row, t + 4
    ph = builder.gep(src, [builder.mul(builder.sub(two_h, _i64(1)), ss)])  # the next high row, 2H - 1 - t
    back = builder.neg(ss)

    def step(t, s):
        lo, hi, ac, p_lo, p_hi = s[0:4], s[4:8], s[8:12], s[12], s[13]
        gt = bcast(builder.load(builder.gep(g, [t])))
        ac = [builder.call(fma, [gt, builder.fadd(lo[r], hi[r]), ac[r]]) for r in range(4)]
        return lo[1:] + [row(p_lo)] + [row(p_hi)] + hi[:3] + ac + [builder.gep(p_lo, [ss]), builder.gep(p_hi, [back])]

    acc = _tap_loop(builder, H, 4, low + high + acc + [pl, ph], step)[8:12]
    ptrs = [builder.bitcast(builder.gep(dst, [builder.mul(_i64(r), ds)]), vptr) for r in range(4)]
    with builder.if_else(builder.icmp_signed("==", mode, _i64(0))) as (store, other):
        with store:
            for p, a in zip(ptrs, acc):
                builder.store(a, p, align=4)
        with other:
            with builder.if_else(builder.icmp_signed("==", mode, _i64(3))) as (store_sq, update):
                with store_sq:
                    for p, a in zip(ptrs, acc):
                        builder.store(builder.fmul(a, a), p, align=4)
                with update:
                    square = builder.icmp_signed("==", mode, _i64(2))
                    for p, a in zip(ptrs, acc):
                        builder.store(builder.fadd(builder.load(p, align=4),
                                                   builder.select(square, builder.fmul(a, a), a)), p, align=4)


@intrinsic
def _rows4_ir(typingctx, src, s0, ss, dst, d0, ds, g, H, n, mode):
    sig = types.none(src, s0, ss, dst, d0, ds, g, H, n, mode)

    def codegen(context, builder, signature, args):
        sa = context.make_array(signature.args[0])(context, builder, args[0])
        da = context.make_array(signature.args[3])(context, builder, args[3])
        ga = context.make_array(signature.args[6])(context, builder, args[6])
        s0, ss, d0, ds, H, n, mode = args[1], args[2], args[4], args[5], args[7], args[8], args[9]
        nv = builder.udiv(n, _i64(8))
        with cgutils.for_range(builder, nv) as loop:
            k = builder.mul(loop.index, _i64(8))
            _emit_rows4(builder, 8, builder.gep(sa.data, [builder.add(s0, k)]), ss,
                        builder.gep(da.data, [builder.add(d0, k)]), ds, ga.data, H, mode)
        k8 = builder.mul(nv, _i64(8))
        with cgutils.for_range(builder, builder.sub(n, k8)) as loop:
            k = builder.add(k8, loop.index)
            _emit_rows4(builder, 1, builder.gep(sa.data, [builder.add(s0, k)]), ss,
                        builder.gep(da.data, [builder.add(d0, k)]), ds, ga.data, H, mode)
        return context.get_dummy_value()
    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _rows4(src, s0, ss, dst, d0, ds, g, H, n, mode):
    """For r < 4 and k < n, the value of output row r at k, computed from the rows
    ``src.flat[s0 + i ss + k]`` (i < 2 H + 4; row r's taps are rows r .. r + 2H) with the
    symmetric kernel ``g`` (2H + 1 float32 values), is stored to (``mode`` 0), added to (1), or
    its square added to (2) or stored to (3) ``dst.flat[d0 + r ds + k]``.  C-contiguous float32 arrays; no bounds
    checks (the callers' offsets stay inside).  A function of its own (not inlined): its vector
    code is compiled once."""
    _rows4_ir(src, s0, ss, dst, d0, ds, g, H, n, mode)


def _emit_zrun(builder, W, R, base, g, H, dst):
    """R blocks of W consecutive outputs along a row: output i of block r from the inputs
    ``base + W r + i + lag`` (lag 0 .. 2H), into ``dst + W r + i``; accumulators in registers,
    two input loads per tap pair (the inputs of one step are other lanes of the next)."""
    vt, vptr, fma, bcast = _vector_tools(builder, W)

    def ld(p, r):
        return builder.load(builder.bitcast(builder.gep(p, [_i64(W * r)]), vptr), align=4)

    gH = bcast(builder.load(builder.gep(g, [H])))
    centre = builder.gep(base, [H])
    acc = [builder.fmul(gH, ld(centre, r)) for r in range(R)]

    def step(t, s):
        ac, pl, ph = s[:R], s[R], s[R + 1]
        gt = bcast(builder.load(builder.gep(g, [t])))
        ac = [builder.call(fma, [gt, builder.fadd(ld(pl, r), ld(ph, r)), ac[r]]) for r in range(R)]
        return ac + [builder.gep(pl, [_i64(1)]), builder.gep(ph, [_i64(-1)])]

    acc = _tap_loop(builder, H, 2, acc + [base, builder.gep(base, [builder.mul(H, _i64(2))])], step)[:R]
    for r in range(R):
        builder.store(acc[r], builder.bitcast(builder.gep(dst, [_i64(W * r)]), vptr), align=4)


@intrinsic
def _zrow(typingctx, dst, row, off, g, H):
    """dst[k] (k < len(dst)) = the z pass of ``row`` with the symmetric kernel ``g`` (2H + 1
    values): g_H row[off + H + k], then fma over the pairs (row[off + t + k], row[off + 2H - t + k])
    for t = 0 .. H - 1.  1-D C-contiguous float32 arrays; no bounds checks (``row`` needs
    off + len(dst) + 2H values)."""
    sig = types.none(dst, row, off, g, H)

    def codegen(context, builder, signature, args):
        da = context.make_array(signature.args[0])(context, builder, args[0])
        ra = context.make_array(signature.args[1])(context, builder, args[1])
        ga = context.make_array(signature.args[3])(context, builder, args[3])
        off, H = args[2], args[4]
        n = cgutils.unpack_tuple(builder, da.shape, 1)[0]
        k0 = _i64(0)
        for W, R in ((8, 4), (8, 1), (1, 1)):  # blocks of 32, then of 8, then single values
            m = builder.udiv(builder.sub(n, k0), _i64(W * R))
            with cgutils.for_range(builder, m) as loop:
                k = builder.add(k0, builder.mul(loop.index, _i64(W * R)))
                _emit_zrun(builder, W, R, builder.gep(ra.data, [builder.add(off, k)]), ga.data, H,
                           builder.gep(da.data, [k]))
            k0 = builder.add(k0, builder.mul(m, _i64(W * R)))
        return context.get_dummy_value()
    return sig, codegen


@numba.njit(inline="always")
def _row_taps(dst, src, jj, j, g, H):
    """dst = output row j of the convolution of the rows ``src[:, jj]`` with the symmetric g
    (the same operations as the vector kernels; used for the last rows of a pass, < 4)."""
    K = 2 * H + 1
    w = g[H]
    c = src[j + H, jj]
    for k in range(dst.shape[0]):
        dst[k] = w * c[k]
    for t in range(H):
        lo, hi, w0 = src[j + t, jj], src[j + K - 1 - t, jj], g[t]
        for k in range(dst.shape[0]):
            dst[k] = _fma(w0, lo[k] + hi[k], dst[k])


@numba.njit(cache=True, nogil=True)
def _planes(k0, k1, x0, y0, z0, gx, gy, gz, inter, rounds, p0, p1):
    """Pass 1 for the x-planes p0 <= p < p1 of ``inter`` (C-contiguous float32, shape
    (nx + 2 Hx, ny, nz)): hash each noise row of the plane (``rounds``: 2 for "simd", 1 for
    "simd2") and convolve it along z, then convolve the plane along y."""
    _, ny, nz = inter.shape
    Hx, Hy, Hz = gx.shape[0] // 2, gy.shape[0] // 2, gz.shape[0] // 2
    Ly, Lz = ny + 2 * Hy, nz + 2 * Hz
    flat = inter.reshape(-1)
    row = np.empty(Lz + 32, dtype=np.float32)
    a = np.empty((Ly, 1, nz), dtype=np.float32)
    af = a.reshape(-1)
    for p in range(p0, p1):
        for j in range(Ly):
            off = _noise_row(row, k0, k1, _counter_xy(x0 - Hx + p, y0 - Hy + j), z0 - Hz, Lz, rounds)
            _zrow(a[j, 0], row, off, gz, Hz)
        plane = inter[p]
        base = p * ny * nz
        j = 0
        while j + 4 <= ny:
            _rows4(af, j * nz, nz, flat, base + j * nz, nz, gy, Hy, nz, 0)
            j += 4
        while j < ny:
            _row_taps(plane[j], a, 0, j, gy, Hy)
            j += 1


@numba.njit(cache=True, nogil=True)
def _columns(out, mode, gx, inter, j0, j1):
    """Pass 2 for the y-rows j0 <= j < j1: convolve ``inter`` along x, four output rows at a
    time, and add the field (``mode`` 1), add its square (2), or store its square (3) in ``out``
    (C-contiguous float32)."""
    nx, ny, nz = out.shape
    Hx = gx.shape[0] // 2
    flat = inter.reshape(-1)
    oflat = out.reshape(-1)
    f = np.empty(nz, dtype=np.float32)
    for j in range(j0, j1):
        i = 0
        while i + 4 <= nx:
            s = (i * ny + j) * nz
            _rows4(flat, s, ny * nz, oflat, s, ny * nz, gx, Hx, nz, mode)
            i += 4
        while i < nx:
            _row_taps(f, inter, j, i, gx, Hx)
            o = out[i, j]
            if mode == 3:
                for k in range(nz):
                    o[k] = f[k] * f[k]
            elif mode == 2:
                for k in range(nz):
                    o[k] += f[k] * f[k]
            else:
                for k in range(nz):
                    o[k] += f[k]
            i += 1


def simd_field(seed: int, field: int, kernels, lo, hi, *, out: np.ndarray, square: bool = False,
               threads: int | None = None, scratch: "dict | None" = None, store: bool = False,
               generator: str = "simd") -> np.ndarray:
    """Add the unit-variance Gaussian field ``field`` (or its square) on the box [lo, hi) to ``out``.

    Parameters
    ----------
    seed, field : int
        Identify the noise (:func:`simd_noise_region`).
    kernels : three 1-D float64 arrays
        Symmetric odd-length kernels along x, y, z
        (:func:`~vmt_dask.model.covariance.generator_kernel`); cast to float32.
    lo, hi : three ints
        The box in lattice coordinates.
    out : float32 C-contiguous array of the box's shape, modified in place and returned.
    threads : int, optional
        Threads for this call (default: ``numba.get_num_threads()``, which
        :func:`~vmt_dask.model.fast.numba_threads` sets); the values do not depend on it.
    scratch : dict, optional
        Keeps the intermediate buffer ((nx + 2 Hx) ny nz float32 values) between calls.
    store : bool
        With ``square``: store the square instead of adding it (``out``'s old values are
        ignored; the same bits as adding to zeros), so a reused buffer needs no zero-fill.
    generator : {"simd", "simd2"}
        Whose noise (``VARIANTS``: "simd2" hashes one round of a row-scaled counter and has its own streams); the
        convolution is the same.

    Raises ValueError if ``store`` is given without ``square``, if ``out`` is not a C-contiguous float32 array, if the box with its
    halo leaves the lattice range +-``MAX_COORDINATE``, or for another generator name.
    """
    stream, rounds = _variant(generator)
    if out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array, got {out.dtype} "
                         f"({'' if out.flags.c_contiguous else 'not '}C-contiguous)")
    if store and not square:
        raise ValueError("store=True needs square=True (a plain field is only added)")
    k0, k1, g, inter = direct_setup(seed, stream + field, kernels, lo, hi, out, scratch)
    n = numba.get_num_threads() if threads is None else max(1, int(threads))
    split_run(_planes, inter.shape[0], n, k0, k1, np.int64(lo[0]), np.int64(lo[1]), np.int64(lo[2]),
              g[0], g[1], g[2], inter, np.int64(rounds))
    mode = (3 if store else 2) if square else 1
    split_run(_columns, out.shape[1], n, out, np.int64(mode), g[0], inter)
    return out


# --- the spectral synthesis' last (x) pass of "simd2" as a register-blocked matrix product


def _emit_gemm(builder, W, R, V, ap, K, bp, bs, op, os, square):
    """R x (V W) outputs: acc[r, v] = sum_a A[r, a] B[a, v] for a = 0 .. K - 1 in this order
    (an FMA chain from +0), A's row r at ``ap + r K``, B's row a at ``bp + a bs`` (lanes
    v W ..), then ``op + r os`` (lanes v W ..) += acc, or acc * acc (``square``, an i1)."""
    vt, vptr, fma, bcast = _vector_tools(builder, W)
    zero = ir.Constant(vt, [0.0] * W) if W > 1 else ir.Constant(vt, 0.0)

    def step(t, s):
        row = builder.mul(t, bs)
        bv = [builder.load(builder.bitcast(builder.gep(bp, [builder.add(row, _i64(W * v))]), vptr), align=4)
              for v in range(V)]
        new = []
        for r in range(R):
            ar = bcast(builder.load(builder.gep(ap, [builder.add(builder.mul(_i64(r), K), t)])))
            new += [builder.call(fma, [ar, bv[v], s[r * V + v]]) for v in range(V)]
        return new

    acc = _tap_loop(builder, K, 1, [zero] * (R * V), step)
    for r in range(R):
        for v in range(V):
            p = builder.bitcast(builder.gep(op, [builder.add(builder.mul(_i64(r), os), _i64(W * v))]), vptr)
            a = acc[r * V + v]
            builder.store(builder.fadd(builder.load(p, align=4), builder.select(square, builder.fmul(a, a), a)),
                          p, align=4)


@intrinsic
def _gemm_ir(typingctx, A, a0, K, B, bs, out, o0, os, R, n, square):
    """For r < R (4 or 1) and k < n: out.flat[o0 + r os + k] += s (or s * s), s = sum over
    a < K, in order, of A.flat[a0 + r K + a] B.flat[a bs + k] (FMA chain from +0)."""
    sig = types.none(A, a0, K, B, bs, out, o0, os, R, n, square)

    def codegen(context, builder, signature, args):
        aa = context.make_array(signature.args[0])(context, builder, args[0])
        ba = context.make_array(signature.args[3])(context, builder, args[3])
        oa = context.make_array(signature.args[5])(context, builder, args[5])
        a0, K, bs, o0, os, R, n, square = args[1], args[2], args[4], args[6], args[7], args[8], args[9], args[10]
        sq = builder.icmp_signed("!=", square, _i64(0))
        ap = builder.gep(aa.data, [a0])
        with builder.if_else(builder.icmp_signed("==", R, _i64(4))) as (four, one):
            for block, rows in ((four, 4), (one, 1)):
                with block:
                    k0 = _i64(0)
                    for W, V in ((8, 2), (1, 1)):  # 16 lanes, then single values
                        m = builder.udiv(builder.sub(n, k0), _i64(W * V))
                        with cgutils.for_range(builder, m) as loop:
                            k = builder.add(k0, builder.mul(loop.index, _i64(W * V)))
                            _emit_gemm(builder, W, rows, V, ap, K, builder.gep(ba.data, [k]), bs,
                                       builder.gep(oa.data, [builder.add(o0, k)]), os, sq)
                        k0 = builder.add(k0, builder.mul(m, _i64(W * V)))
        return context.get_dummy_value()
    return sig, codegen


@numba.njit(cache=True, nogil=True)
def gemm_x_rows(A, G2, out, square, y0, y1):
    """out[x, y, z] += f (or f * f), f = sum_a A[x, a] G2[a, y, z] summed in the order a = 0 ..
    K - 1, for the y-rows y0 <= y < y1 (``A``: (nx, K), ``G2``: (K, ny, nz), ``out``: (nx, ny,
    nz), C-contiguous float32).  Four x-rows by 16 z-lanes per block with the accumulators in
    registers; G2's plane y is copied to a (K, nz) block first (it stays in L2 for every x)."""
    nx, ny, nz = out.shape
    K = A.shape[1]
    bl = np.empty((K, nz), dtype=np.float32)
    af, bf, of = A.reshape(-1), bl.reshape(-1), out.reshape(-1)
    for y in range(y0, y1):
        for a in range(K):
            src, dst = G2[a, y], bl[a]
            for k in range(nz):
                dst[k] = src[k]
        x = 0
        while x + 4 <= nx:
            _gemm_ir(af, x * K, K, bf, nz, of, (x * ny + y) * nz, ny * nz, 4, nz, square)
            x += 4
        while x < nx:
            _gemm_ir(af, x * K, K, bf, nz, of, (x * ny + y) * nz, ny * nz, 1, nz, square)
            x += 1
