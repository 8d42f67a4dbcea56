"""Descriptors of a BM01 realization: per kernel, vmt-dask now vs an earlier commit vs peers.

    python -m vmt_dask.bench describe [--sizes 128,200,401] [--phases SE,AM]
        [--tools ours,baseline,peers] [--baseline-commit 75f5605] [--cold] [--seed S] [--json OUT]

For every size and phase, each tool runs in a fresh process (the numba kernels are
compiled once beforehand, so the children load them from cache):

* ``ours``: the kernels of :func:`vmt_dask.descriptors.describe` one by one (phase mask,
  volume fraction, specific surface area, geodesic tortuosity, constrictivity with its
  CPSD/SMIP curves), wall and CPU seconds each (CPU = all threads of the process), and
  the peak resident memory above the process's resident size after loading the labels
  (bytes per voxel; the labels themselves, 1 byte per voxel, are not in it).  A pass over
  a 24^3 corner first loads the compiled kernels and starts the threads (per-call
  overhead is issue 14 item 4's subject, not this one's).
* ``all`` / ``all2``: :func:`vmt_dask.descriptors.describe_all` of all the phases in one
  call, one phase after the other (``all``) or two at once in threads (``all2``): the
  figures the goal is about (one row, phase ``SE+AM``).
* ``baseline``: the same kernels of ``vmt_dask/descriptors`` at ``--baseline-commit``
  (default 75f5605, the eighth session's start: int64 lanes in the EDT window passes, one row
  at a time in its z pass, one histogram in the surface area; c11af3e the seventh's, every
  ball row evaluated per centre in the local-thickness painting, the bottleneck flood on
  packed ``f << 16 | B``; 48abe60 is the
  sixth's with envelope EDT passes and raster painting; 3cb31a4 the fifth's with Dial's tortuosity search and the flood by
  value order, 28ab5f2 the fourth's with parallel numba kernels, bbc1ea1 the third's,
  constrictivity by a bisection of cover transforms), read with ``git show`` into a
  temporary package.
* ``peers``: PoreSpy ``local_thickness`` (CPSD, integer radii) and ``porosimetry`` from the
  plane z = 0 (SMIP, centre connectivity, integer radii), and ``dijkstra3d``'s
  26-neighbourhood Euclidean distance field from the plane z = n-1 (the same graph as our
  geodesic tortuosity); each timed on its own.

With ``--cold``: first the cold compile, ours and (with ``baseline`` in the tools) the
baseline's, each in a fresh interpreter with an empty ``NUMBA_CACHE_DIR``: the import and
the first :func:`describe` of every phase of a 24^3 BM01 corner, wall and CPU seconds (all
the kernels compile there; the descriptors' share of a clean install's first run), then the
same call again in the same process (the compiled cost of that small volume).

Printed: one row per (size, phase, tool) with the kernel times, megavoxels per second of
the whole chain, bytes per voxel and the values; then per size the both-phase totals
beside the goal of issue 14 (401^3: <= 15 s wall, <= 16 bytes/voxel).  The load average
is printed with every row (timings on a shared machine are noisy: compare CPU seconds
and same-run ratios), and so is the thread count of the kernels (``NUMBA_NUM_THREADS``:
run with ``NUMBA_NUM_THREADS=1`` for the one-thread CPU per phase that sets the paper-scale
estimate; ``all2`` gives each of its two phases one thread of two).  ``--json`` appends each row as it completes and skips rows already
in the file, so a long run can be split and resumed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from ._measure import format_table, measure_in_child
from ..domain import PHASES

__all__ = ["add_arguments", "run"]

_PHASES = dict(PHASES)
_TOOLS = ("ours", "all", "all2", "baseline", "peers")
#: The descriptors at the start of the eighth session (int64 lanes in the EDT window
#: passes); c11af3e the seventh's (painting by row evaluation per centre, packed sweep
#: flood); 48abe60 is the sixth's (envelope EDT passes, raster painting), 3cb31a4 the
#: fifth's (Dial's tortuosity search, value-order flood).
DEFAULT_BASELINE = "75f5605"
_BASE_PKG = "desc_baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default=None, help="comma-separated cube edges (default 128,200,401)")
    parser.add_argument("--size", type=int, default=None, help="one cube edge (same as --sizes N)")
    parser.add_argument("--phases", default="SE,AM", help="comma-separated phases (default SE,AM)")
    parser.add_argument("--tools", default="ours,all,all2,baseline,peers",
                        help="comma-separated subset of ours,all,all2,baseline,peers (default all)")
    parser.add_argument("--no-peers", action="store_true", help="same as leaving peers out of --tools")
    parser.add_argument("--baseline-commit", default=DEFAULT_BASELINE,
                        help=f"git commit of the earlier descriptors (default {DEFAULT_BASELINE})")
    parser.add_argument("--seed", type=int, default=1, help="realization seed (default 1)")
    parser.add_argument("--voxel-size", type=float, default=0.2, help="micrometres (default 0.2)")
    parser.add_argument("--json", default=None, help="append rows to this JSON file (resumable)")
    parser.add_argument("--labels-cache", default=None,
                        help="directory keeping the realizations between runs (opt-in; a resumed "
                             "401^3 run then skips the realization)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per measurement")
    parser.add_argument("--cold", action="store_true",
                        help="first measure the cold numba compile (fresh cache) of ours and the baseline")


# ----------------------------------------------------------------------------- children
def _numba_threads() -> int:
    """numba's thread count in a fresh process of this environment (``NUMBA_NUM_THREADS``)."""
    env = os.environ.get("NUMBA_NUM_THREADS")
    return int(env) if env and env.isdigit() else (os.cpu_count() or 1)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _timed(out: dict, key: str, func, *args, **kwargs):
    w0, c0 = time.perf_counter(), time.process_time()
    value = func(*args, **kwargs)
    out[key] = (time.perf_counter() - w0, time.process_time() - c0)
    return value


def _large_paths_on_small(D) -> list:
    """Set the size thresholds of the large-volume kernels of the package ``D`` (window EDT
    passes, row containment, crescent templates, fused flood sweeps) to 0; returns
    ``(module, name, old)`` to undo."""
    import importlib

    undo = []
    for sub, names in (("edt", ("WINDOW_FROM",)), ("thickness", ("ROWS_FROM", "TEMPLATES_FROM", "FLOOD_FUSED_FROM"))):
        try:
            mod = importlib.import_module(f"{D.__name__}.{sub}")
        except ImportError:
            continue
        for name in names:
            if hasattr(mod, name):
                undo.append((mod, name, getattr(mod, name)))
                setattr(mod, name, 0)
    return undo


def _kernels(path: str, phase: str, voxel_size: float, pkg_dir: str | None) -> dict:
    """Our kernels (or the baseline copy's) on one phase, timed one by one."""
    import importlib

    if pkg_dir:
        sys.path.insert(0, pkg_dir)
        D = importlib.import_module(_BASE_PKG)
    else:
        D = importlib.import_module("vmt_dask.descriptors")
    labels = np.load(path)
    # one pass over a corner first: loads the compiled kernels and starts the thread pool,
    # so the times below are the kernels' own and rss0 includes the loaded code; the
    # large-volume kernels (from 2^21 voxels on) are taken on the corner too, so that the
    # first 128^3 row does not pay their compile
    corner = np.ascontiguousarray(labels[:24, :24, :24]) == _PHASES[phase]
    if corner.any() and not corner.all():
        undo = _large_paths_on_small(D)
        try:
            D.geodesic_tortuosity(corner, axis=2)
            D.specific_surface_area(corner, voxel_size=voxel_size)
            D.constrictivity(corner, voxel_size=voxel_size, axis=2)
        finally:
            for mod, name, value in undo:
                setattr(mod, name, value)
    rss0 = _rss_bytes()
    t: dict = {}
    mask = _timed(t, "mask", np.equal, labels, _PHASES[phase])
    eps = _timed(t, "vf", D.volume_fraction, mask)
    s = _timed(t, "S", D.specific_surface_area, mask, voxel_size=voxel_size)
    tau = _timed(t, "tau", D.geodesic_tortuosity, mask, axis=2)
    try:
        con = _timed(t, "beta", D.constrictivity, mask, voxel_size=voxel_size, axis=2, curves=True)
    except TypeError:  # an earlier commit without curves=
        con = _timed(t, "beta", D.constrictivity, mask, voxel_size=voxel_size, axis=2)
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"times": t, "rss0": rss0, "peak": peak, "eps": eps, "S": s, "tau_mean": tau.mean,
            "tau_std": tau.std, "reached": tau.reached_fraction, "beta": con.beta,
            "r_min": con.r_min, "r_max": con.r_max,
            "n_curve": None if getattr(con, "radii", None) is None else int(con.radii.size)}


def _describe_all(path: str, phases: list[str], voxel_size: float, workers: int) -> dict:
    """:func:`vmt_dask.descriptors.describe_all` of ``phases`` in one call, timed as a whole."""
    from vmt_dask.descriptors import describe_all

    labels = np.load(path)
    corner = np.ascontiguousarray(labels[:24, :24, :24])
    import vmt_dask.descriptors as D

    undo = _large_paths_on_small(D)  # the large-volume kernels' compile outside the timing
    try:
        describe_all(corner, phases=phases, voxel_size=voxel_size, workers=workers)
    except ValueError:
        pass  # a phase absent from the corner: the warm-up is best effort
    finally:
        for mod, name, value in undo:
            setattr(mod, name, value)
    rss0 = _rss_bytes()
    t: dict = {}
    out = _timed(t, "describe_all", describe_all, labels, phases=phases, voxel_size=voxel_size,
                 workers=workers)
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    first = out[phases[0]]
    return {"times": t, "rss0": rss0, "peak": peak, "eps": first["volume_fraction"],
            "S": first["specific_surface_area"], "tau_mean": first["tortuosity_mean"],
            "tau_std": first["tortuosity_std"], "reached": first["tortuosity_reached"],
            "beta": first["constrictivity"], "r_min": first["r_min"], "r_max": first["r_max"],
            "n_curve": None, "per_phase": out}


def _peers(path: str, phase: str, voxel_size: float) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    import dijkstra3d
    import porespy as ps
    from edt import edt as _edt

    ps.settings.tqdm["disable"] = True
    labels = np.load(path)
    m = labels == _PHASES[phase]
    del labels
    rss0 = _rss_bytes()
    n = m.shape[2]
    half = float(m.mean()) * m.size / 2
    t: dict = {}
    dt = _timed(t, "edt", _edt, m, parallel=0)
    radii = np.arange(int(np.floor(dt[m].max())), 0, -1)
    lt = _timed(t, "local_thickness", ps.filters.local_thickness, m, dt=dt, sizes=radii)
    r_max = max((int(r) for r in radii if np.count_nonzero(lt >= r) >= half), default=0)
    del lt
    inlets = np.zeros_like(m)
    inlets[:, :, 0] = True
    pm = _timed(t, "porosimetry", ps.filters.porosimetry, m, dt=dt, inlets=inlets, sizes=radii)
    r_min = max((int(r) for r in radii if np.count_nonzero(pm >= r) >= half), default=0)
    del pm, dt, inlets
    sources = [(int(a), int(b), n - 1) for a, b in np.argwhere(m[:, :, -1])]
    field = _timed(t, "dijkstra3d", dijkstra3d.euclidean_distance_field, m, source=sources)
    start = field[:, :, 0][m[:, :, 0]].astype(float)
    tau = start[np.isfinite(start) & (start < 1e30)] / (n - 1)
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"times": t, "rss0": rss0, "peak": peak, "eps": float(m.mean()), "S": math.nan,
            "tau_mean": float(tau.mean()) if tau.size else math.nan,
            "tau_std": float(tau.std()) if tau.size else math.nan, "reached": math.nan,
            "beta": (r_min / r_max) ** 2 if r_max else math.nan,
            "r_min": r_min * voxel_size, "r_max": r_max * voxel_size, "n_curve": len(radii)}


_COLD_CHILD = r"""
import json, os, sys, time
w0, c0 = time.perf_counter(), time.process_time()
import numpy as np
pkg_dir, path, voxel = sys.argv[1], sys.argv[2], float(sys.argv[3])
phases = sys.argv[4].split(",")
if pkg_dir:
    sys.path.insert(0, pkg_dir)
    from desc_baseline import describe
else:
    from vmt_dask.descriptors import describe
w1, c1 = time.perf_counter(), time.process_time()
labels = np.load(path)
def run():
    return [describe(labels, phase=p, voxel_size=voxel, axis=2) for p in phases]
first = run()
w2, c2 = time.perf_counter(), time.process_time()
run()
w3, c3 = time.perf_counter(), time.process_time()
print(json.dumps({"import": [w1 - w0, c1 - c0], "first": [w2 - w1, c2 - c1], "again": [w3 - w2, c3 - c2],
                  "values": first}))
"""


def _cold(pkg_dir: str | None, path: str, phases: list[str], voxel_size: float, timeout: float) -> dict:
    """Import + first describe of ``phases`` in a fresh interpreter with an empty numba cache."""
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        proc = subprocess.run([sys.executable, "-c", _COLD_CHILD, pkg_dir or "", path, str(voxel_size),
                               ",".join(phases)], env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- baseline
def _baseline_package(commit: str, dest: str) -> str | None:
    """``vmt_dask/descriptors`` at ``commit`` as the top-level package ``desc_baseline``."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.isdir(os.path.join(root, ".git")):
        root = os.getcwd()
    pkg = os.path.join(dest, _BASE_PKG)
    os.makedirs(pkg, exist_ok=True)
    try:
        names = subprocess.run(["git", "-C", root, "ls-tree", "--name-only", commit,
                                "vmt_dask/descriptors/"],
                               check=True, capture_output=True, text=True).stdout.split()
        names = [p for p in names if p.endswith(".py")]
        if not names:
            raise OSError(f"no vmt_dask/descriptors at {commit}")
        for path in names:
            text = subprocess.run(["git", "-C", root, "show", f"{commit}:{path}"],
                                  check=True, capture_output=True, text=True).stdout
            text = re.sub(r"^(\s*)from \.\.(\w)", r"\1from vmt_dask.\2", text, flags=re.M)
            with open(os.path.join(pkg, os.path.basename(path)), "w") as fh:
                fh.write(text)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"descriptors of {commit} not available ({exc}); skipping the baseline", flush=True)
        return None
    return dest


# ----------------------------------------------------------------------------- driver
def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return f"{v:.5g}"


def _load_rows(path: str | None) -> list[dict]:
    if path and os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)
    return []


def _save_rows(path: str | None, rows: list[dict]) -> None:
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(rows, fh, indent=1)
        os.replace(tmp, path)


def _table_row(r: dict) -> dict:
    t = r["times"]
    wall = sum(v[0] for v in t.values())
    cpu = sum(v[1] for v in t.values())
    n = r["n"] ** 3
    cells = {"N": r["n"], "phase": r["phase"], "tool": r["tool"]}
    if r["tool"] in ("all", "all2"):
        cells["phase"] = "+".join(r["per_phase"])
    elif r["tool"] == "peers":
        for k in ("local_thickness", "porosimetry", "dijkstra3d"):
            if k in t:
                cells[{"local_thickness": "CPSD s", "porosimetry": "SMIP s", "dijkstra3d": "tau s"}[k]] = \
                    f"{t[k][0]:.2f}/{t[k][1]:.2f}"
    else:
        for k, label in (("S", "S s"), ("tau", "tau s"), ("beta", "CPSD+SMIP s")):
            cells[label] = f"{t[k][0]:.2f}/{t[k][1]:.2f}"
    cells.update({"total wall/CPU s": f"{wall:.2f}/{cpu:.2f}", "Mvox/s": f"{n / wall / 1e6:.2f}",
                  "B/vox": f"{(r['peak'] - r['rss0']) / n:.1f}",
                  "eps": _fmt(r["eps"]), "S 1/um": _fmt(r["S"]), "tau": _fmt(r["tau_mean"]),
                  "beta": _fmt(r["beta"]), "r_min": _fmt(r["r_min"]), "r_max": _fmt(r["r_max"]),
                  "load": f"{r['load'][0]:.1f}-{r['load'][1]:.1f}", "threads": r.get("threads", "?")})
    return cells


def run(args: argparse.Namespace) -> int:
    from vmt_dask.model import CALIBRATED, realize

    sizes = [int(s) for s in (args.sizes or (str(args.size) if args.size else "128,200,401")).split(",")]
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if args.no_peers and "peers" in tools:
        tools.remove("peers")
    for p in phases:
        if p not in _PHASES:
            raise SystemExit(f"unknown phase {p!r}; choose from {sorted(_PHASES)}")
    for t in tools:
        if t not in _TOOLS:
            raise SystemExit(f"unknown tool {t!r}; choose from {', '.join(_TOOLS)}")
    rows = _load_rows(args.json)
    done = {(r["n"], r["phase"], r["tool"]) for r in rows}
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}; tools {', '.join(tools)}; "
          f"baseline {args.baseline_commit}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = _baseline_package(args.baseline_commit, tmp) if "baseline" in tools else None
        if "baseline" in tools and base_dir is None:
            tools.remove("baseline")
        warm = os.path.join(tmp, "warm.npy")
        np.save(warm, realize(CALIBRATED["BM01"], (24, 24, 24), seed=args.seed))
        if args.cold:
            cold = {}
            for tool in ("ours", "baseline"):
                if tool == "baseline" and base_dir is None:
                    continue
                load0 = os.getloadavg()[0]
                try:
                    cold[tool] = _cold(base_dir if tool == "baseline" else None, warm, phases,
                                       args.voxel_size, args.timeout)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    print(f"  cold compile {tool}: did not finish ({exc})", flush=True)
                    continue
                c = cold[tool]
                print(f"  cold compile {tool}{' ' + args.baseline_commit if tool == 'baseline' else ''} "
                      f"(fresh NUMBA_CACHE_DIR, describe {'+'.join(phases)} of 24^3): import "
                      f"{c['import'][0]:.1f}/{c['import'][1]:.1f}, first call {c['first'][0]:.1f}/"
                      f"{c['first'][1]:.1f}, again {c['again'][0]:.3f}/{c['again'][1]:.3f} s wall/CPU; "
                      f"load {load0:.1f}-{os.getloadavg()[0]:.1f}", flush=True)
            if len(cold) == 2:
                print(f"  cold compile CPU ratio baseline/ours: "
                      f"{cold['baseline']['first'][1] / max(cold['ours']['first'][1], 1e-9):.2f}", flush=True)
        # compile the numba kernels once so that the measured children load them from cache
        for tool in tools:
            if tool != "peers":
                measure_in_child(_kernels, warm, phases[0], args.voxel_size,
                                 base_dir if tool == "baseline" else None, timeout=args.timeout)
        for n in sizes:
            joint = "+".join(phases)
            todo = [(p, t) for p in phases for t in tools
                    if t not in ("all", "all2") and (n, p, t) not in done]
            todo += [(joint, t) for t in tools if t in ("all", "all2") and (n, joint, t) not in done]
            if not todo:
                continue
            t0 = time.perf_counter()
            cached = (os.path.join(args.labels_cache, f"BM01-{n}-seed{args.seed}-{args.voxel_size}.npy")
                      if args.labels_cache else None)
            if cached and os.path.exists(cached):
                path = cached
                print(f"BM01 {n}^3, seed {args.seed}, voxel {args.voxel_size} um: from {cached}", flush=True)
            else:
                labels = realize(CALIBRATED["BM01"], (n, n, n), seed=args.seed, voxel_size=args.voxel_size)
                print(f"BM01 {n}^3, seed {args.seed}, voxel {args.voxel_size} um: realized in "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
                if cached:
                    os.makedirs(args.labels_cache, exist_ok=True)
                    path = cached
                else:
                    path = os.path.join(tmp, f"labels{n}.npy")
                np.save(path, labels)
                del labels
            for phase, tool in todo:
                load0 = os.getloadavg()[0]
                try:
                    if tool in ("all", "all2"):
                        _, _, val = measure_in_child(_describe_all, path, phases, args.voxel_size,
                                                     2 if tool == "all2" else 1, timeout=args.timeout)
                    elif tool == "peers":
                        _, _, val = measure_in_child(_peers, path, phase, args.voxel_size,
                                                     timeout=args.timeout)
                    else:
                        _, _, val = measure_in_child(_kernels, path, phase, args.voxel_size,
                                                     base_dir if tool == "baseline" else None,
                                                     timeout=args.timeout)
                except (RuntimeError, TimeoutError) as exc:
                    print(f"  {n}^3 {phase} {tool}: did not finish ({str(exc).splitlines()[-1]})",
                          flush=True)
                    continue
                val.update({"n": n, "phase": phase, "tool": tool, "load": [load0, os.getloadavg()[0]],
                            "threads": _numba_threads(),
                            "commit": args.baseline_commit if tool == "baseline" else None})
                rows.append(val)
                _save_rows(args.json, rows)
                print("  " + "  ".join(f"{k} {v}" for k, v in _table_row(val).items()), flush=True)
            if not cached:
                os.remove(path)
    shown = [r for r in rows if r["n"] in sizes and (r["phase"] in phases or r["phase"] == "+".join(phases))]
    if not shown:
        return 0
    cells = [_table_row(r) for r in sorted(shown, key=lambda r: (r["n"], r["phase"], _TOOLS.index(r["tool"])))]
    cols = list(dict.fromkeys(k for c in cells for k in c))
    print("\nkernel cells: wall/CPU seconds; B/vox: peak resident memory above the loaded labels "
          "per voxel")
    print(format_table(cells, cols))
    print("\nboth phases (sum of the per-phase chains; goal at 401^3: <= 15 s wall, <= 16 B/voxel):")
    for n in sorted({r["n"] for r in shown}):
        for tool in _TOOLS:
            sel = [r for r in shown if r["n"] == n and r["tool"] == tool]
            if len(sel) != (1 if tool in ("all", "all2") else len(phases)):
                continue
            wall = sum(sum(v[0] for v in r["times"].values()) for r in sel)
            cpu = sum(sum(v[1] for v in r["times"].values()) for r in sel)
            bpv = max((r["peak"] - r["rss0"]) / n**3 for r in sel)
            print(f"  {n}^3 {tool}: {wall:.1f} s wall, {cpu:.1f} s CPU, {bpv:.1f} B/voxel peak, "
                  f"{n**3 * len(phases) / wall / 1e6:.2f} Mvox/s (phase voxels processed per second)")
    print("Peers: PoreSpy at integer radii (CPSD; SMIP with centre connectivity, PoreSpy's "
          "porosimetry), so their beta differs from our opened-set default by convention; "
          "dijkstra3d is the same 26-neighbourhood graph as our tortuosity.")
    return 0
