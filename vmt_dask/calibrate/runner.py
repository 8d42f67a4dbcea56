"""Model evaluations of a calibration or a design, in-process or fanned out as Dask futures.

An evaluation is a plain dict (a *job*): ``{"kind": "stats" | "props", "theta": [7 floats],
"seed": int, "shape": [nx, ny, nz], "voxel_size": float, "lags": [...], "axis": int}``.
``stats`` realizes the model and measures the calibration statistics
(:func:`~vmt_dask.calibrate.statistics.measure_statistics`); ``props`` realizes it and
computes the descriptors (:func:`vmt_dask.descriptors.describe`) and M-factors
(:func:`vmt_dask.conductivity.m_factor`) of SE and AM.

Each job has a digest of its canonical JSON; its result is one sealed record
``records/<name>-<kind>/<digest>.json`` in the store (:func:`vmt_dask.storage.write_record`),
written once by the task that computed it.  A rerun reads the intact records first and
submits only what is missing (damaged records read as missing).  Tasks receive the store
URL, the record path and the job, never arrays: realizations are generated inside the task.
Progress goes to a callback and, on a cluster, to the scheduler's event log
(:data:`vmt_dask.events.TOPIC`) as study messages, so the study page shows it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from typing import Callable

import numpy as np

__all__ = ["Runner", "evaluate_job", "job_digest"]

logger = logging.getLogger(__name__)


def job_digest(job: dict) -> str:
    """SHA-1 (16 hex) of the job's canonical JSON (floats rounded to 12 significant digits)."""
    def canon(v):
        if isinstance(v, float):
            return float(f"{v:.12g}")
        if isinstance(v, (list, tuple)):
            return [canon(x) for x in v]
        if isinstance(v, dict):
            return {k: canon(x) for k, x in sorted(v.items())}
        return v
    text = json.dumps(canon(job), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _clean(v):
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.ndarray):
        return [_clean(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


def _compute(job: dict, threads: "int | None") -> dict:
    from ..model import realize

    t0 = time.perf_counter()
    # "lattice" by name: the analytic expectations (statistics.py) were validated on it and a
    # calibration's records must not change with the library's default generator
    labels = realize(job["theta"], tuple(job["shape"]), seed=int(job["seed"]),
                     voxel_size=float(job["voxel_size"]), threads=threads,
                     generator=job.get("generator", "lattice"))
    rec = {"job": job}
    if job["kind"] == "stats":
        from .statistics import measure_statistics

        st = measure_statistics(labels, voxel_size=float(job["voxel_size"]), lags=job["lags"])
        rec["vector"] = st["vector"]
        rec["volume_fraction_SE"] = st["volume_fraction_SE"]
        rec["volume_fraction_AM"] = st["volume_fraction_AM"]
    elif job["kind"] == "props":
        rec.update(phase_properties(labels, voxel_size=float(job["voxel_size"]), axis=int(job.get("axis", 2))))
    else:  # pragma: no cover - jobs are built by this package
        raise ValueError(f"unknown job kind {job['kind']!r}")
    rec["seconds"] = time.perf_counter() - t0
    return _clean(rec)


def phase_properties(labels: np.ndarray, *, voxel_size: float, axis: int = 2) -> dict:
    """Descriptors and M-factor of SE and AM: ``{"SE": {...}, "AM": {...}}``.

    A phase absent from the volume gets volume fraction and surface area 0, the rest NaN
    and M-factor 0 (as the study records it).
    """
    from ..conductivity import m_factor
    from ..descriptors import describe
    from ..domain import PHASES, STUDY_PHASES

    out = {}
    for ph in STUDY_PHASES:
        code = PHASES[ph]
        mask = labels == code
        if not mask.any():
            d = {"volume_fraction": 0.0, "specific_surface_area": 0.0, "tortuosity_mean": math.nan,
                 "constrictivity": math.nan, "m_factor": 0.0}
        else:
            d = dict(describe(labels, phase=code, voxel_size=voxel_size, axis=axis))
            d["m_factor"] = float(m_factor(mask, axis=axis).m_factor)
        out[ph] = {k: _clean(v) for k, v in d.items()}
    return out


def evaluate_job(store: "str | None", rel: str, job: dict, threads: "int | None" = 1) -> dict:
    """Task body: the job's record from the store, or compute it and write it (sealed)."""
    if store is not None:
        from ..storage import read_record, write_record

        rec = read_record(store, rel)
        if rec is not None:
            rec["reused"] = True
            return rec
    rec = _compute(job, threads)
    if store is not None:
        write_record(store, rel, rec)
    rec["reused"] = False
    return rec


class Runner:
    """Runs batches of jobs and counts them.

    Parameters
    ----------
    client : distributed.Client, optional
        Submit each job as a future (key prefix ``<name>-<kind>``); without it the jobs run
        here, one after the other.
    store : str, optional
        Store URL or path for the records (resume); without it nothing is recorded.
    name : str
        Record folder prefix and event study name (``calibrate`` or ``design``).
    progress : callable, optional
        ``progress(done, total, stage)`` after each finished job.
    """

    def __init__(self, *, client=None, store: "str | None" = None, name: str = "calibrate",
                 progress: "Callable | None" = None, threads: "int | None" = None):
        self.client = client
        self.store = None if store is None else str(store)
        self.name = name
        self.progress = progress
        self.threads = threads
        self.computed = 0
        self.reused = 0
        self.seconds = 0.0
        self.batches = 0
        self.last_records: list = []
        self._done = {"realize": 0, "describe": 0, "conduct": 0}
        self._total = {"realize": 0, "describe": 0, "conduct": 0}

    def rel(self, job: dict) -> str:
        return f"records/{self.name}-{job['kind']}/{job_digest(job)}.json"

    def _event(self, state: str, latest: dict | None = None) -> None:
        if self.client is None:
            return
        try:
            from ..events import TOPIC, study_message

            stages = {s: {"done": self._done[s], "total": self._total[s], "failed": 0} for s in self._done}
            self.client.log_event(TOPIC, study_message(f"{self.name}:{self.store}", self.store or "",
                                                       state, stages, latest))
        except Exception:  # events are advisory
            logger.debug("could not log a progress event", exc_info=True)

    def run(self, jobs: list[dict]) -> list[dict]:
        """Results of ``jobs`` in order (records: ``vector``/properties, ``seconds``, ``reused``)."""
        t0 = time.perf_counter()
        self.batches += 1
        stage = "realize" if all(j["kind"] == "stats" for j in jobs) else "describe"
        self._total[stage] += len(jobs)
        rels = [self.rel(j) for j in jobs]
        results: list = [None] * len(jobs)
        todo = list(range(len(jobs)))
        if self.store is not None and jobs:
            from ..storage import read_records

            intact, _damaged = read_records(self.store, sorted(set(rels)))
            for i, rel in enumerate(rels):
                if rel in intact:
                    results[i] = dict(intact[rel], reused=True)
            todo = [i for i in todo if results[i] is None]
        self.reused += len(jobs) - len(todo)
        self._done[stage] += len(jobs) - len(todo)
        if self.client is None:
            for i in todo:
                results[i] = evaluate_job(self.store, rels[i], jobs[i], self.threads)
                self._tick(stage, results[i])
        elif todo:
            from distributed import as_completed

            futs = {}
            for i in todo:
                key = f"{self.name}-{jobs[i]['kind']}-{job_digest(jobs[i])}"
                futs[self.client.submit(evaluate_job, self.store, rels[i], jobs[i], 1, key=key,
                                        pure=False, retries=1)] = i
            self._event("running")
            for fut in as_completed(futs):
                i = futs[fut]
                results[i] = fut.result()
                self._tick(stage, results[i])
            self._event("running", {"batch": self.batches})
        self.seconds += time.perf_counter() - t0
        self.last_records = results
        return results

    def _tick(self, stage: str, rec: dict) -> None:
        if rec.get("reused"):
            self.reused += 1
        else:
            self.computed += 1
        self._done[stage] += 1
        if self.progress is not None:
            self.progress(self._done[stage], self._total[stage], stage)

    def finish(self, state: str = "finished") -> None:
        self._event(state)

    def cost(self) -> dict:
        return {"evaluations_computed": self.computed, "evaluations_reused": self.reused,
                "batches": self.batches, "seconds": self.seconds}
