"""Memory estimates of the kernels, and the check that refuses work that cannot fit.

Every figure here was measured (``python -m vmt_dask.bench memory``, peak resident
set size of a fresh process minus its size before the call, BM01 realizations of 64^3 ..
192^3 voxels): the estimate of a kernel on ``n`` voxels is
``BYTES_PER_VOXEL[kernel] * n + FIXED_BYTES[kernel]``, with the per-voxel figure the slope
between the two largest measured sizes, rounded up, and the fixed part the largest
remainder.  The input volume itself (1 byte per voxel, uint8) is not included: add
:data:`INPUT_BYTES_PER_VOXEL` for a volume that has to be held in memory.

The study engineer's per-task estimates and the commands ``vmt generate``, ``vmt describe``,
``vmt conduct`` and ``vmt rev`` use :func:`estimate_bytes` and :func:`check_fits`.
"""
from __future__ import annotations

import math
import os
import re
from typing import Iterable, Mapping

from .errors import InputError

#: Largest voxel count any command accepts (2^62): beyond it voxel indices overflow int64.
MAX_VOXELS = 2**62

__all__ = [
    "BYTES_PER_VOXEL", "FIXED_BYTES", "INPUT_BYTES_PER_VOXEL", "estimate_bytes",
    "available_bytes", "check_fits", "format_bytes", "parse_bytes", "MEMORY_LIMIT_ENV",
    "generate_bytes", "GRAPH_BYTES_PER_CHUNK", "MAX_VOXELS",
]

#: Working memory of each kernel per voxel of its input volume, bytes (measured, see module
#: docstring; machine: 2 cores, numba kernels, one phase).
#:
#: * ``realize``: :func:`vmt_dask.model.realize` (Gaussian fields, noise slabs, labels) for a
#:   volume of one tile (<= 512^3); larger volumes are generated tile by tile.
#: * ``describe``: :func:`vmt_dask.descriptors.describe`, all descriptors of one phase
#:   (distance transforms, geodesic search, CPSD / SMIP).
#: * ``conduct``: :func:`vmt_dask.conductivity.m_factor` of one phase (percolation labels,
#:   stencil, multigrid hierarchy, CG vectors).
#:
#: Measured 2026-11-30 (peak RSS minus RSS before the call, BM01, SE phase):
#: realize 128^3 -> 95 MB, 192^3 -> 152 MB (slope 11.3 B/voxel);
#: describe 128^3 -> 35 MB, 192^3 -> 115 MB (slope 16.1 B/voxel);
#: conduct 128^3 -> 63 MB, 192^3 -> 197 MB (slope 27.0 B/voxel).
#: The figures below round the slopes up (realize also covers the model docs' 14 B/voxel).
BYTES_PER_VOXEL: Mapping[str, float] = {
    "realize": 14.0,
    "describe": 18.0,
    "conduct": 30.0,
}
#: Size-independent part of each estimate (FFT plans, numba work arrays), bytes.
FIXED_BYTES: Mapping[str, int] = {
    "realize": 80 * 2**20,
    "describe": 32 * 2**20,
    "conduct": 32 * 2**20,
}
#: The label volume held in memory (uint8).
INPUT_BYTES_PER_VOXEL = 1
#: Environment variable capping the memory the commands plan with ("8GiB", "500MB", bytes).
MEMORY_LIMIT_ENV = "VMT_MEMORY_LIMIT"
#: Dask graph bookkeeping per chunk of a generated volume (task specs, keys), bytes: the
#: materialised realize + rechunk + store + count graph of a 2048^3 volume in 128^3 chunks
#: measured 2.9 KB per chunk (RSS growth / 4096 chunks); rounded up.
GRAPH_BYTES_PER_CHUNK = 4096

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}


def parse_bytes(text: str) -> int:
    """``"8GiB"``, ``"500MB"``, ``"1.5e9"`` -> bytes.

    Raises
    ------
    InputError
        Text that is not a positive amount of bytes.
    """
    m = re.fullmatch(r"\s*([0-9.eE+]+)\s*([A-Za-z]*)\s*", str(text))
    try:
        value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    except (AttributeError, KeyError, ValueError):
        raise InputError(f"{MEMORY_LIMIT_ENV}={text!r}: expected an amount like 8GiB or 500MB") from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{MEMORY_LIMIT_ENV}={text!r}: expected a positive amount of bytes")
    return int(value)


def format_bytes(n: float) -> str:
    """``1.5 GiB``: a byte count for people."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def _voxels(shape: "int | Iterable[int]") -> int:
    if isinstance(shape, int):
        return shape
    n = 1
    for s in shape:
        n *= int(s)
    return n


def estimate_bytes(kernel: str, shape: "int | Iterable[int]", *, include_input: bool = True) -> int:
    """Peak memory of ``kernel`` on a volume of ``shape`` (or that many voxels), bytes.

    Parameters
    ----------
    kernel : {"realize", "describe", "conduct"}
    shape : int or sequence of int
        The volume's shape (x, y, z) or its number of voxels.
    include_input : bool
        Add the uint8 input volume (1 byte per voxel); ``realize`` has no input and adds its
        output instead.

    Raises
    ------
    InputError
        An unknown kernel name.
    """
    if kernel not in BYTES_PER_VOXEL:
        raise InputError(f"kernel {kernel!r}: expected one of {', '.join(BYTES_PER_VOXEL)}")
    n = _voxels(shape)
    total = BYTES_PER_VOXEL[kernel] * n + FIXED_BYTES[kernel]
    if include_input:
        total += INPUT_BYTES_PER_VOXEL * n
    return int(math.ceil(total))


def generate_bytes(shape, *, tile: int, chunks: "tuple[int, int, int]", threads: int) -> int:
    """Peak memory of ``vmt generate``: ``threads`` tiles at once plus the task graph.

    A volume is generated tile by tile (tiles of at most ``tile`` voxels per edge) and written
    chunk by chunk, so memory does not grow with the volume, but the Dask graph does (one
    realize, store and count task per chunk).
    """
    shape = tuple(int(s) for s in shape)
    tile_shape = []
    for s in shape:
        k = -(-s // tile)
        tile_shape.append(-(-s // k))
    per_tile = estimate_bytes("realize", tile_shape)
    n_chunks = 1
    for s, c in zip(shape, chunks):
        n_chunks *= -(-s // c)
    return int(max(1, threads) * per_tile + n_chunks * GRAPH_BYTES_PER_CHUNK)


def _cgroup_limit() -> int | None:
    for path, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                       ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                        "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(path) as f:
                text = f.read().strip()
            if text == "max":
                return None
            limit = int(text)
            if limit >= 2**60:
                return None
            with open(used) as f:
                return max(0, limit - int(f.read().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_bytes() -> int:
    """Memory a command may plan with, bytes.

    The smallest of: the system's available memory (``psutil``), the container's cgroup limit
    minus its usage, the address-space rlimit, and ``$VMT_MEMORY_LIMIT`` if set.

    Raises
    ------
    InputError
        ``$VMT_MEMORY_LIMIT`` is set but not an amount of bytes.
    """
    import psutil

    candidates = [int(psutil.virtual_memory().available)]
    cg = _cgroup_limit()
    if cg is not None:
        candidates.append(cg)
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft not in (resource.RLIM_INFINITY, -1) and soft > 0:
            candidates.append(int(soft) - int(psutil.Process().memory_info().vms))
    except (ImportError, OSError, ValueError):
        pass
    env = os.environ.get(MEMORY_LIMIT_ENV)
    if env:
        candidates.append(parse_bytes(env))
    return max(0, min(candidates))


def check_fits(needed: int, what: str, *, force: bool = False, available: int | None = None,
               hint: str = "use a smaller volume or --crop") -> None:
    """Refuse (InputError) when ``needed`` bytes exceed the available memory, unless ``force``.

    The message gives both figures, ``hint`` and ``--force``.
    """
    if force:
        return
    avail = available_bytes() if available is None else available
    if needed > avail:
        raise InputError(f"{what} needs about {format_bytes(needed)} of memory, but "
                         f"{format_bytes(avail)} is available; {hint}, or --force to try anyway")
