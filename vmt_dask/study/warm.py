"""Numba kernel warm-up: each kernel family compiled once per machine, before or beside the study.

numba compiles a kernel on its first call and, with ``cache=True``, stores the machine code
next to the source (or in ``NUMBA_CACHE_DIR``); every later process loads it (~1 s instead
of minutes).  A clean install has to compile every family once:

* :func:`warm_kernels` runs the kernels of the named families on one small structure with the
  study's options, so that the functions a study task calls are compiled with its types;
* :func:`family_lock` is an exclusive per-family lock (``flock``) shared by every process that
  warms that family on this machine for this source tree: the second one waits and then loads
  the first one's result from the cache instead of compiling the same kernels again;
* ``python vmt_dask/study/warm.py --start PRESET`` (run by ``make demo`` right after the
  kernels' own dependencies are installed, while the rest installs) starts one detached
  process per core, each compiling its share of the families (:func:`warm_plan`) under their
  locks, which it takes before it returns: a study started meanwhile waits for them instead
  of compiling the same kernels beside them.

This module imports only the kernels (numpy, scipy, numba, pyyaml), so it runs as a script
before the orchestration's dependencies (dask, zarr, pydantic, ...) are installed.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time

__all__ = ["WARM_PARTS", "WARM_EDGE", "warm_edge", "warm_plan", "warm_kernels", "warm_labels", "warm_theta",
           "family_lock", "lock_path", "KERNEL_REQUIREMENTS", "main"]

#: Kernel families a process compiles on first use, with their cold compile cost in CPU seconds
#: (measured 2026-11-30 21:26 in a clean clone of be6c17d by `make demo`'s background compile,
#: one process each, load ~9: conduct 72 s, realize 28 s, describe 14 s): :func:`warm_plan`
#: splits them over the workers by it.
WARM_PARTS = {"conduct": 72.0, "realize": 28.0, "describe": 14.0}
#: Largest edge (voxels) of the warm-up's structure: big enough that every kernel path a study
#: task takes on its grid is typed the same (both phases percolate, :func:`warm_labels`), small
#: enough that a pass costs ~0.05-0.2 s once compiled.
WARM_EDGE = 48
#: Distributions the kernels import (pyproject's names): installed first by ``make demo``.
KERNEL_REQUIREMENTS = ("numpy", "scipy", "numba", "pyyaml")


def warm_plan(n_workers: int, parts=None) -> list[list[str]]:
    """``parts`` (default all of :data:`WARM_PARTS`) for each of ``n_workers`` workers, each
    part once: the costliest first, each to the least loaded worker (so on a shared cache every
    kernel is compiled once, in parallel); workers beyond the parts get none."""
    n = max(1, int(n_workers))
    parts = WARM_PARTS if parts is None else {p: WARM_PARTS[p] for p in WARM_PARTS if p in set(parts)}
    plan: list[list[str]] = [[] for _ in range(n)]
    load = [0.0] * n
    for part, cost in sorted(parts.items(), key=lambda kv: -kv[1]):
        i = load.index(min(load))
        plan[i].append(part)
        load[i] += cost
    return plan


def warm_edge(shape) -> tuple[int, int, int]:
    """The warm-up's grid for a study of ``shape``: each edge clipped to :data:`WARM_EDGE`."""
    return tuple(min(int(n), WARM_EDGE) for n in shape)


def warm_theta(endpoints: dict, pairs) -> tuple[float, ...]:
    """The parameters a warm-up realizes: the first pair's first endpoint (any structure of the
    study's kind types the kernels the same way; the same rule for the study and ``--start``)."""
    return tuple(float(x) for x in endpoints[pairs[0][0]])


def warm_labels(shape) -> "np.ndarray":  # noqa: F821 - numpy imported lazily
    """A three-phase uint8 structure of ``shape`` for the describe/conduct warm-ups without the
    realize kernels (a smoothed noise field cut at its terciles, seed fixed): so that a process
    warming ``conduct`` does not wait for, or compile, ``realize``.  Both phases percolate at the
    warm-up's 48^3 (smoothing length 2 voxels, a third of the voxels each)."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(np.random.default_rng(12345).standard_normal(tuple(int(n) for n in shape)), 2.0)
    lo, hi = np.quantile(field, [1 / 3, 2 / 3])
    return (np.where(field < lo, 0, np.where(field < hi, 1, 2))).astype(np.uint8)


def warm_kernels(parts, theta, *, shape, voxel_size: float, axis: int, chi2_dof: int,
                 generator: str = "lattice") -> dict[str, float]:
    """Run the kernels of each family in ``parts`` once on a small structure (:func:`warm_edge`:
    ``min(shape, WARM_EDGE)`` per axis) with the study's options; returns ``{part: seconds}``.

    ``realize`` realizes theta with the study's generator; ``describe`` and ``conduct`` run on
    :func:`warm_labels` (both study phases, the study's axis and voxel size).  Nothing is
    written anywhere but numba's cache.  Kernels missed here (a data-dependent path) compile on
    first use, as without a warm-up; results never depend on it.
    """
    edge = warm_edge(shape)
    codes = (1, 2)  # the study's phases SE, AM (vmt_dask.domain.PHASES)
    out: dict[str, float] = {}
    labels = None
    for part in parts:
        if part in ("describe", "conduct") and labels is None:  # outside the timing: not a kernel
            labels = warm_labels(edge)
        t0 = time.perf_counter()
        if part == "realize":
            from vmt_dask.model import realize

            realize([float(x) for x in theta], edge, seed=1, voxel_size=voxel_size, chi2_dof=chi2_dof, threads=1,
                    generator=generator)
        elif part in ("describe", "conduct"):
            if part == "describe":
                from vmt_dask.descriptors import describe

                for code in codes:
                    describe(labels, phase=code, voxel_size=voxel_size, axis=axis)
            else:
                from vmt_dask.conductivity import m_factor

                for code in codes:
                    m_factor(labels == code, axis=axis)
        else:
            raise ValueError(f"unknown warm-up part {part!r}; expected one of {sorted(WARM_PARTS)}")
        out[part] = time.perf_counter() - t0
    return out


def lock_path(part: str) -> str:
    """The lock file of family ``part`` for this source tree and numba cache (temporary dir)."""
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    key = f"{here}|{os.environ.get('NUMBA_CACHE_DIR', '')}".encode()
    return os.path.join(tempfile.gettempdir(), f"vmt-warm-{hashlib.sha1(key).hexdigest()[:12]}-{part}.lock")


#: Longest wait (s) for another process's compile of a kernel family: the slowest family compiled
#: in 72 s of CPU on a loaded 2-core machine (conduct, 2026-11-30); 15 minutes leaves ample margin.
LOCK_TIMEOUT_S = 900.0


@contextlib.contextmanager
def family_lock(part: str, timeout_s: float = LOCK_TIMEOUT_S):
    """Hold family ``part``'s exclusive lock; yields the seconds waited for it (another process
    compiling the same kernels).  Where ``flock`` is unavailable it does not lock.  After
    ``timeout_s`` of waiting (a compile that hangs or was stopped) it goes on without the lock:
    the caller then compiles what it needs itself, as without a warm-up (numba's cache writes
    are atomic), instead of blocking a study forever."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, each process compiles what it needs
        yield 0.0
        return
    t0 = time.perf_counter()
    with open(lock_path(part), "a") as fh:
        held = False
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.perf_counter() - t0 >= timeout_s:
                    break
                time.sleep(0.1)
        try:
            yield time.perf_counter() - t0
        finally:
            if held:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------
# the install-time background compile (`make demo`)
# --------------------------------------------------------------------------------------
def _preset_args(preset: str) -> dict:
    """Warm-up arguments from a preset file (YAML, read without the spec model: pydantic may not
    be installed yet)."""
    import yaml

    path = preset if os.path.exists(preset) else os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "presets", f"{preset}.yaml")
    with open(path) as fh:
        doc = yaml.safe_load(fh)
    shape = doc["shape"]
    shape = [int(shape)] * 3 if isinstance(shape, int) else [int(n) for n in shape]
    return {"theta": warm_theta(doc["endpoints"], doc["pairs"]), "shape": shape,
            "voxel_size": float(doc.get("voxel_size", 0.2)), "axis": "xyz".index(str(doc.get("axis", "z"))),
            "chi2_dof": int(doc.get("chi2_dof", 2)), "generator": str(doc.get("generator", "lattice"))}


def _requirements(pyproject: str) -> list[str]:
    """The requirement strings of :data:`KERNEL_REQUIREMENTS` in pyproject.toml's dependencies."""
    import re

    text = open(pyproject).read()
    deps = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.S | re.M)
    found = re.findall(r'^\s*"([^"]+)"', deps.group(1), re.M) if deps else []
    return [r for r in found if re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() in KERNEL_REQUIREMENTS]


def _start(preset: str, log_dir: str, workers: int | None) -> list[int]:
    """Start one detached compile process per share of :func:`warm_plan`; each family's lock is
    taken here and handed to its process (released as it finishes each family), so a study
    started after this returns waits for the families instead of compiling them again."""
    import fcntl
    import json
    import subprocess

    n = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    args = _preset_args(preset)
    os.makedirs(log_dir, exist_ok=True)
    pids = []
    for i, parts in enumerate(warm_plan(n)):
        if not parts:
            continue
        fds = {}
        for part in parts:
            fd = os.open(lock_path(part), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # another process is compiling this family already: leave it to it
                os.close(fd)
                continue
            fds[part] = fd
        if not fds:
            continue
        env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")  # as in the study's workers
        with open(os.path.join(log_dir, f"vmt-prewarm-{i}.log"), "w") as log:
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--run", json.dumps(fds),
                                     json.dumps(args)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    pass_fds=tuple(fds.values()), start_new_session=True, env=env)
        for fd in fds.values():
            os.close(fd)  # the child holds the lock now (same open file description)
        pids.append(proc.pid)
        print(f"warm: compiling the {', '.join(fds)} kernels in the background (pid {proc.pid}, log "
              f"{os.path.join(log_dir, f'vmt-prewarm-{i}.log')})", flush=True)
    return pids


def _run(fds: dict, args: dict) -> None:
    """Child of :func:`_start`: warm each family, then release its lock."""
    import fcntl

    args = dict(args)
    theta = args.pop("theta")
    for part, fd in fds.items():
        t0 = time.perf_counter()
        try:
            warm_kernels((part,), theta, **args)
        except Exception as exc:  # noqa: BLE001 - the study compiles on first use instead
            print(f"warm-up {part} failed: {exc!r}", flush=True)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        print(f"{part} {time.perf_counter() - t0:.1f} s wall, {time.process_time():.1f} s CPU so far", flush=True)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python vmt_dask/study/warm.py", description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--start", metavar="PRESET", help="compile the kernels PRESET's study uses, in the background")
    g.add_argument("--requirements", metavar="PYPROJECT", help="print the kernels' requirements from PYPROJECT")
    g.add_argument("--run", nargs=2, metavar=("FDS", "ARGS"), help=argparse.SUPPRESS)
    p.add_argument("--log-dir", default=".", help="where the background processes write their logs")
    p.add_argument("--workers", type=int, help="processes (default: the cores)")
    a = p.parse_args(argv)
    if a.requirements:
        print(" ".join(_requirements(a.requirements)))
    elif a.start:
        _start(a.start, a.log_dir, a.workers)
    else:
        _run({k: int(v) for k, v in json.loads(a.run[0]).items()}, json.loads(a.run[1]))
    return 0


if __name__ == "__main__":
    if not __package__:  # run as a file (before the package is installed): import it from the source tree
        sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
