"""One process alone vs two at once: the machine's own 1 -> 2 scaling and the study's task families'.

Two Dask workers on a two-core machine run twice the tasks of one only if each task runs as fast
beside another as alone.  Compute-bound work does; work that streams from the shared last-level
cache or from memory does not (one L3 and one memory controller for both cores).  This module
measures both in the same run, in persistent worker processes started once:

* :func:`machine_scaling` - the physical reference: a compute-bound loop (8 independent
  multiply-add chains, no memory traffic) and a STREAM-like triad ``a = b + s c`` on working sets
  sized for the L2 (3 arrays, 256 KiB in all), the L3 (3 MiB) and main memory (192 MiB); units
  per second of one process alone and of each of two running at once.
* :func:`family_scaling` - the study's own task functions (:mod:`vmt_dask.study.tasks`: realize
  with its volume write, describe and conduct of each phase with their record writes, the
  readers given the volume in memory as in the study's batches) on the study's grid, and the
  demo's mix of them, alone vs two at once; seconds, CPU seconds and minor page faults per task.

Scaling = (rate of one of two processes running at once) / (rate of one process alone):
1.0 means two processes do twice the work of one.  ``cpu_scaling`` is the same ratio of CPU
seconds per unit: time a process waits for the shared cache or memory counts as CPU time, time
it is descheduled by other jobs on a shared machine does not, so it is the figure that the
machine's load inflates least.  Each figure is the median over ``repeat``
alternations of alone / together (a drift of the machine's load hits both).  The two processes
start together on a shared clock (``time.monotonic`` is system-wide on Linux) and each runs
whole units of work until the window ends; its rate is its units over its own elapsed time.

The worker processes get the environment the study's nannies give its workers when ``dask_env``
is true (:func:`dask_worker_env`: ``MALLOC_*`` etc.; glibc reads it at process start), so that
the families run under the study workers' allocator settings.
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import tempfile
import time

__all__ = ["MACHINE_KINDS", "FAMILIES", "machine_scaling", "family_scaling", "attainable_efficiency",
           "dask_worker_env"]

#: Machine reference kinds and the bytes of their three arrays together (None: no arrays).
MACHINE_KINDS = {"compute": None, "L2": 256 * 1024, "L3": 3 * 1024 * 1024, "DRAM": 192 * 1024 * 1024}
#: Task families of the study (the tasks of one kind on one phase) and the demo's mix of them.
FAMILIES = ("realize", "describe_SE", "describe_AM", "conduct_SE", "conduct_AM", "mix")
#: Work units of one compute call (iterations of the 8 chains): ~4 ms at 0.5 G iterations/s.
_COMPUTE_CHUNK = 2_000_000


def dask_worker_env() -> dict[str, str]:
    """The environment variables the study's embedded cluster sets before it starts a worker
    process (:func:`vmt_dask.study.coordinator.worker_spawn_env`: distributed's
    ``distributed.nanny.pre-spawn-environ`` with the study's allocator settings), as strings."""
    from vmt_dask.study.coordinator import worker_spawn_env

    return worker_spawn_env()


# --------------------------------------------------------------------------- machine kernels
def _machine_kernels():
    import numba as nb

    @nb.njit(cache=True)
    def compute(n):  # 8 independent dependency chains: the FP units' latency, no memory traffic
        a0, a1, a2, a3, a4, a5, a6, a7 = 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7
        for _ in range(n):
            a0 = a0 * 0.999999 + 1e-7
            a1 = a1 * 0.999999 + 1e-7
            a2 = a2 * 0.999999 + 1e-7
            a3 = a3 * 0.999999 + 1e-7
            a4 = a4 * 0.999999 + 1e-7
            a5 = a5 * 0.999999 + 1e-7
            a6 = a6 * 0.999999 + 1e-7
            a7 = a7 * 0.999999 + 1e-7
        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7

    @nb.njit(cache=True)
    def triad(a, b, c, s, reps):  # STREAM's triad; 24 bytes per element counted (no write-allocate)
        for _ in range(reps):
            for i in range(a.size):
                a[i] = b[i] + s * c[i]
        return a[0]

    return compute, triad


class _Machine:
    """A worker's state for the machine kinds: the arrays, allocated and touched once."""

    def __init__(self):
        import numpy as np

        self.compute, self.triad = _machine_kernels()
        self.arrays = {}
        for kind, nbytes in MACHINE_KINDS.items():
            if nbytes is None:
                continue
            n = nbytes // 24
            a, b, c = np.zeros(n), np.ones(n), np.full(n, 0.5)
            # one call ~5-20 ms, so the window's end is checked often
            reps = max(1, int(4e7 // n)) if nbytes < 64 * 2**20 else 1
            self.arrays[kind] = (a, b, c, reps)
        self.compute(10)
        for a, b, c, _ in self.arrays.values():
            self.triad(a, b, c, 2.0, 1)

    def unit(self, kind: str) -> float:
        """Run one call of ``kind``; returns the work done (iterations or bytes)."""
        if kind == "compute":
            self.compute(_COMPUTE_CHUNK)
            return float(_COMPUTE_CHUNK)
        a, b, c, reps = self.arrays[kind]
        self.triad(a, b, c, 2.0, reps)
        return 24.0 * a.size * reps


# --------------------------------------------------------------------------- study families
class _Families:
    """A worker's state for the study's families: a temporary store with the study's metadata
    and the volumes the readers describe/conduct (``items``: the demo's three pair midpoints,
    two seeds each, generated once)."""

    def __init__(self, preset: str, shape: int | None, wid: int):
        from vmt_dask.study import load_spec
        from vmt_dask.study.coordinator import init_store
        from vmt_dask.study.design import interpolation_points
        from vmt_dask.study.tasks import _realize

        over = {} if shape is None else {"shape": int(shape)}
        self.spec = spec = load_spec(preset, **over)
        self.tmp = tempfile.mkdtemp(prefix="vmt-bench-scaling-")
        self.store = os.path.join(self.tmp, "s.zarr")
        init_store(spec, self.store, "create")
        self.ident = spec.identity()
        self.wid = wid
        self.count = 0
        pts = interpolation_points(spec)
        mids = [pts[len(spec.t) * k + len(spec.t) // 2].theta for k in range(len(spec.pairs))]
        self.items = []
        for i, theta in enumerate(mids):
            for seed in (101, 202):
                _, labels = _realize(**self._realize_kw(f"item{i}-{seed}", theta, seed))
                self.items.append((list(theta), seed, labels))
        # the demo's mix: per evaluation realization realize + describe of both phases (no curves),
        # per database structure the same with curves + conduct of both phases (design counts)
        n_eval = spec.n_points * spec.n_evaluations * spec.realizations
        g = math.gcd(n_eval, spec.n_structures)
        self.mix = ["eval"] * (n_eval // g) + ["structure"] * (spec.n_structures // g)
        if len(self.mix) > 24:  # keep the cycle short: the ratio rounded to a cycle of 11
            k = round(11 * n_eval / (n_eval + spec.n_structures))
            self.mix = ["eval"] * k + ["structure"] * (11 - k)
        self.mix = _interleave(self.mix)
        for fam in FAMILIES:  # untimed: first calls (imports, numba cache loads, zarr set-up)
            self.unit(fam)

    def _realize_kw(self, key, theta, seed):
        s = self.spec
        return dict(store=self.store, key=key, theta=theta, seed=seed, shape=list(s.shape),
                    voxel_size=s.voxel_size, chi2_dof=s.chi2_dof, chunks=s.chunks, stage="structure",
                    identity=self.ident, generator=s.generator)

    def _key(self) -> str:
        self.count += 1
        return f"w{self.wid}-{self.count}"

    def unit(self, family: str) -> float:
        """Run one task (``mix``: one group of the demo's mix); returns the tasks run."""
        from vmt_dask.study.tasks import _realize, conduct_task, describe_task

        s = self.spec
        theta, seed, labels = self.items[self.count % len(self.items)]
        key = self._key()  # a new key: no record is there, so every call computes
        if family == "realize":
            _realize(**self._realize_kw(key, theta, seed))
            return 1.0
        if family == "mix":
            kind = self.mix[self.count % len(self.mix)]
            _, vol = _realize(**self._realize_kw(key, theta, seed))
            stage = "describe" if kind == "eval" else "describe-structure"
            for ph in ("SE", "AM"):
                describe_task(self.store, key, ph, voxel_size=s.voxel_size, axis=s.axis, stage=stage,
                              identity=self.ident, labels=vol)
            if kind == "eval":
                return 3.0
            for ph in ("SE", "AM"):
                conduct_task(self.store, key, ph, axis=s.axis, identity=self.ident, labels=vol)
            return 5.0
        task, ph = family.split("_")
        if task == "describe":
            describe_task(self.store, key, ph, voxel_size=s.voxel_size, axis=s.axis, stage="describe-structure",
                          identity=self.ident, labels=labels)
        elif task == "conduct":
            conduct_task(self.store, key, ph, axis=s.axis, identity=self.ident, labels=labels)
        else:
            raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
        return 1.0

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def _interleave(kinds: list[str]) -> list[str]:
    """The mix's groups spread evenly (integer Bresenham) instead of in two runs."""
    a = [k for k in kinds if k == "eval"]
    b = [k for k in kinds if k != "eval"]
    na, nb = len(a), len(b)
    out, acc = [], 0
    for k in a:
        out.append(k)
        acc += nb
        while acc >= na and b:
            out.append(b.pop())
            acc -= na
    return out + b


# --------------------------------------------------------------------------- worker processes
def _worker(conn, what: str, args: tuple, wid: int) -> None:
    try:
        state = _Machine() if what == "machine" else _Families(*args, wid)
        conn.send(("ready", os.getpid()))
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                break
            _, kind, start, seconds = msg
            while time.monotonic() < start:  # both workers begin together
                time.sleep(min(0.001, max(0.0, start - time.monotonic())))
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0, c0 = time.monotonic(), time.process_time()
            units = 0.0
            calls = 0
            while time.monotonic() - t0 < seconds:
                units += state.unit(kind)
                calls += 1
            wall, cpu = time.monotonic() - t0, time.process_time() - c0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            conn.send(("ok", {"units": units, "calls": calls, "wall": wall, "cpu": cpu,
                              "minflt": r1.ru_minflt - r0.ru_minflt, "majflt": r1.ru_majflt - r0.ru_majflt}))
        if hasattr(state, "close"):
            state.close()
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        import traceback

        conn.send(("error", f"{exc!r}\n{traceback.format_exc()}"))
    finally:
        conn.close()


@contextlib.contextmanager
def _pool(what: str, args: tuple, n: int, env: dict[str, str] | None, timeout: float):
    """``n`` persistent worker processes (spawned with ``env`` added to this environment)."""
    ctx = mp.get_context("spawn")
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    procs, conns = [], []
    try:
        for wid in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(child, what, args, wid), daemon=True)
            p.start()
            child.close()
            procs.append(p)
            conns.append(parent)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        for c in conns:  # set-up (arrays, store, warm calls) one after the other is not timed
            if not c.poll(timeout):
                raise TimeoutError(f"scaling worker ({what}) not ready after {timeout} s")
            status, info = c.recv()
            if status != "ready":
                raise RuntimeError(f"scaling worker ({what}) failed:\n{info}")
        yield conns
    finally:
        for c in conns:
            with contextlib.suppress(OSError, BrokenPipeError):
                c.send(("stop",))
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()


def _window(conns, kind: str, seconds: float, timeout: float) -> list[dict]:
    start = time.monotonic() + 0.05
    for c in conns:
        c.send(("run", kind, start, seconds))
    out = []
    for c in conns:
        if not c.poll(seconds + timeout):
            raise TimeoutError(f"scaling window {kind!r} did not end")
        status, info = c.recv()
        if status != "ok":
            raise RuntimeError(f"scaling worker failed on {kind!r}:\n{info}")
        out.append(info)
    return out


def _measure(what: str, args: tuple, kinds, seconds: float, repeat: int, env, timeout: float,
             progress=None) -> dict:
    """Alone vs together per kind, alternated ``repeat`` times; per kind the medians."""
    out = {}
    with _pool(what, args, 2, env, timeout) as conns:
        for kind in kinds:
            alone, together = [], []
            for _ in range(max(1, repeat)):
                alone += _window(conns[:1], kind, seconds, timeout)
                together += _window(conns, kind, seconds, timeout)
            rate = lambda rs: statistics.median(r["units"] / r["wall"] for r in rs)  # noqa: E731
            per = lambda rs, f: statistics.median(r[f] / max(r["units"], 1e-300) for r in rs)  # noqa: E731
            a, t = rate(alone), rate(together)
            ca, ct = per(alone, "cpu"), per(together, "cpu")
            out[kind] = {"alone_rate": a, "together_rate": t, "scaling": t / a, "cpu_scaling": ca / ct,
                         "alone_s_per_unit": 1.0 / a, "together_s_per_unit": 1.0 / t,
                         "alone_cpu_per_unit": ca, "together_cpu_per_unit": ct,
                         "alone_faults_per_unit": per(alone, "minflt"),
                         "together_faults_per_unit": per(together, "minflt"),
                         "windows": {"alone": alone, "together": together}, "load": os.getloadavg()[0]}
            if progress:
                progress(kind, out[kind])
    return out


def machine_scaling(seconds: float = 2.0, repeat: int = 3, kinds=tuple(MACHINE_KINDS), timeout: float = 120.0,
                    progress=None) -> dict:
    """The machine's 1 -> 2 process scaling per kind of :data:`MACHINE_KINDS`.

    Returns ``{kind: {"alone_rate", "together_rate" (per process; G iterations/s for compute,
    GB/s for the triads, as units/s), "scaling" (together / alone), ...}}``.  ~``2 x seconds x
    repeat`` seconds per kind plus the workers' start (numba compile or cache load).
    """
    out = _measure("machine", (), kinds, seconds, repeat, None, timeout, progress)
    for kind, v in out.items():
        v["kind_bytes"] = MACHINE_KINDS[kind]
    return out


def family_scaling(preset: str = "demo", shape: int | None = None, seconds: float = 3.0, repeat: int = 3,
                   families=FAMILIES, dask_env: bool = True, timeout: float = 600.0, progress=None) -> dict:
    """The study's task families alone vs two at once on ``preset``'s grid (``shape`` overrides).

    Units are tasks (``mix``: the tasks of one group).  The worker processes run one thread per
    task (``NUMBA_NUM_THREADS=1``, as the study's workers); ``dask_env``: they also get
    :func:`dask_worker_env` (as the study's workers do).  Returns per family what
    :func:`machine_scaling` returns, with seconds, CPU seconds and minor page faults per task.
    Raises ``ValueError`` for a family not in :data:`FAMILIES` (before any process starts).
    """
    bad = [f for f in families if f not in FAMILIES]
    if bad:
        raise ValueError(f"unknown family {bad[0]!r}; expected one of {', '.join(FAMILIES)}")
    # one thread per task, as in the study's workers (make_cluster): a describe on two threads
    # alone would use both cores and read as a bad scaling of two processes
    env = {**(dask_worker_env() if dask_env else {}), "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return _measure("families", (preset, shape), families, seconds, repeat, env, timeout, progress)


def attainable_efficiency(scaling: dict[str, float], seconds: dict[str, float]) -> float:
    """Efficiency T(1) / (2 T(2)) of two workers from the task families alone: the families'
    task-seconds on one worker ``seconds`` (their shares), each slowed by its ``scaling`` on two:
    ``sum(s) / sum(s / scaling)`` (the workers kept busy, nothing else on the cores)."""
    num = sum(seconds.values())
    den = sum(seconds[k] / scaling[k] for k in seconds)
    return num / den if den > 0 else math.nan
