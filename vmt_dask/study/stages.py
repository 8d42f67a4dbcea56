"""The study as an explicit stage table and a pure state machine (no Dask, no store I/O).

Stage table
-----------
:data:`STAGE_TABLE` declares every stage once: its name (which is also the record folder
``records/<name>/`` and the prefix of its Dask keys), the progress bucket it counts toward
(:data:`vmt_dask.events.STAGES`), the stages whose outputs it reads, whether it writes a
volume, and the task function that runs it on a worker.

==================  ==========  ===============  ======  =======================================
stage               progress    inputs           volume  record name (one per task)
==================  ==========  ===============  ======  =======================================
realize             realize     --               yes     ``eval-pPP-eE-rR``
describe            describe    realize          no      ``eval-pPP-eE-rR-<AM|SE>``
gradient            gradient    describe         no      ``pPP``
structure           structure   gradient [*]_    yes     ``structure-sNNNN``
describe-structure  structure   structure        no      ``structure-sNNNN-<AM|SE>``
conduct             conduct     structure        no      ``structure-sNNNN-<AM|SE>``
==================  ==========  ===============  ======  =======================================

.. [*] except each point's own structure (local index 0), which needs no gradient.

State machine
-------------
The state of a study is the set of *done* records (intact records whose volume, for the
two volume stages, is intact too).  :class:`StudyPlan` turns a state into the tasks still to
run (:meth:`StudyPlan.start`) and, when a task completes, into the tasks it unlocks
(:meth:`StudyPlan.after`: a gradient unlocks its point's 32 steps).  Both are pure functions
of the spec, the selected points and the state, so the transitions are unit-tested without
a cluster (``tests/study/test_study_stages.py``); :mod:`vmt_dask.study.coordinator` only
submits what they return and feeds completions back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..domain import STUDY_DESCRIPTORS, STUDY_PHASES
from ..errors import InputError
from ..events import STAGES
from .design import Point, evaluation_seeds, interpolation_points, perturbed_thetas, point_structures
from .layout import eval_volume, record_path, structure_volume
from .spec import StudySpec

__all__ = ["Stage", "STAGE_TABLE", "Task", "StudyPlan", "study_id", "parse_points"]


@dataclass(frozen=True)
class Stage:
    """One stage of the study (see the module docstring's table)."""

    name: str
    progress: str
    inputs: tuple[str, ...]
    volume: bool
    task: str  # name of the task function in vmt_dask.study.tasks
    doc: str
    fields: tuple[str, ...] = ()  # members a completion record must have to count as done

    def complete(self, record: Any) -> bool:
        """Whether ``record`` (an intact, checksummed record) is a completion record of this stage."""
        return isinstance(record, Mapping) and all(f in record for f in self.fields)

    def function(self) -> Callable:
        from . import tasks

        return getattr(tasks, self.task)


_DESCRIBED = ("phase",) + tuple(STUDY_DESCRIPTORS)
STAGE_TABLE: Mapping[str, Stage] = MappingProxyType({s.name: s for s in (
    Stage("realize", "realize", (), True, "realize_task",
          "generate one realization of a gradient evaluation from theta + delta e_q and its seed",
          ("theta", "seed", "shape")),
    Stage("describe", "describe", ("realize",), False, "describe_task",
          "descriptors of one phase of an evaluation realization", _DESCRIBED),
    Stage("gradient", "gradient", ("describe",), False, "gradient_task",
          "means over the realizations and the forward-difference gradient of one point",
          ("gradient", "base_mean", "perturbed_mean")),
    Stage("structure", "structure", ("gradient",), True, "realize_task",
          "generate one database structure (a point or a step from it) from its seed",
          ("theta", "seed", "shape")),
    Stage("describe-structure", "structure", ("structure",), False, "describe_task",
          "descriptors of one phase of a database structure", _DESCRIBED),
    Stage("conduct", "conduct", ("structure",), False, "conduct_task",
          "M-factor of one phase of a database structure", ("m_factor", "phase")),
)})
assert {s.progress for s in STAGE_TABLE.values()} == set(STAGES)


@dataclass(frozen=True, eq=True)
class Task:
    """One task of the study: which stage, which record it writes, what it reads.

    Attributes
    ----------
    stage : str
        Key of :data:`STAGE_TABLE`.
    name : str
        Record name; the record is ``records/<stage>/<name>.json`` (:attr:`record`).
    key : str
        Dask key (the coordinator appends a per-run token).
    point : int
        Interpolation point the task belongs to.
    deps : tuple of str
        Record paths of the tasks whose outputs it reads.
    args : tuple
        Positional arguments after the store (and before the dependencies' results).
    kwargs : tuple of (str, value)
        Keyword arguments.
    """

    stage: str
    name: str
    key: str
    point: int
    deps: tuple[str, ...] = ()
    args: tuple = ()
    kwargs: tuple = field(default=(), compare=False)

    @property
    def record(self) -> str:
        return record_path(self.stage, self.name)

    @property
    def progress(self) -> str:
        return STAGE_TABLE[self.stage].progress

    @property
    def volume(self) -> str | None:
        """Volume key this task writes (volume stages) or reads (the others), if any."""
        if self.stage == "gradient":
            return None
        if STAGE_TABLE[self.stage].volume:
            return self.name
        return self.name.rsplit("-", 1)[0]


def study_id(spec: StudySpec) -> str:
    """The study's id on the event log and the study page: ``<name>-<identity[:8]>``."""
    return f"{spec.name}-{spec.identity()[:8]}"


def parse_points(text: "str | Iterable[int] | None", n_points: int) -> tuple[int, ...] | None:
    """Point selection from ``"0,7"``, ``"0-3,7"`` or a sequence of ints; None means all.

    Raises
    ------
    InputError
        A malformed item, or an index outside 0 .. n_points - 1 (named in the message).
    """
    if text is None:
        return None
    items: list[int] = []
    if isinstance(text, str):
        if not text.strip():
            raise InputError("points '' is empty: give indices like 0,7 or a range 0-3")
        for part in text.split(","):
            part = part.strip()
            try:
                if "-" in part[1:]:
                    a, b = part.split("-", 1)
                    lo, hi = int(a), int(b)
                    if hi < lo or hi - lo > n_points:
                        raise ValueError
                    items.extend(range(lo, hi + 1))
                else:
                    items.append(int(part))
            except ValueError:
                raise InputError(f"points: {part!r} is not an index or a range like 0-3") from None
    else:
        for v in text:
            if isinstance(v, bool) or not isinstance(v, int):
                raise InputError(f"points: {v!r} is not an integer index")
            items.append(int(v))
    for v in items:
        if not 0 <= v < n_points:
            raise InputError(f"points: index {v} is outside 0..{n_points - 1} (the spec has {n_points} points)")
    if not items:
        raise InputError("points: no index given")
    return tuple(sorted(set(items)))


class StudyPlan:
    """The tasks of a study restricted to some points, as pure transitions.

    Parameters
    ----------
    spec : StudySpec
    points : sequence of int, optional
        Interpolation points to run (indices into :func:`interpolation_points`); default all.
    rtol, m_tol : float, optional
        Stopping criterion of the M-factor solver (conduct-task arguments): the residual
        criterion with ``rtol``, the energy criterion with ``m_tol``; neither (default): the
        solver's default (:func:`vmt_dask.conductivity.m_factor`).  Not part of the record
        names: a store resumed after the criterion changed keeps the M-factors it has and
        computes the missing ones with the new criterion (each record names its criterion).
    """

    def __init__(self, spec: StudySpec, points: Sequence[int] | None = None, *, rtol: float | None = None,
                 m_tol: float | None = None):
        self.spec = spec
        self.all_points: list[Point] = interpolation_points(spec)
        idx = range(len(self.all_points)) if points is None else parse_points(list(points), len(self.all_points))
        self.points: list[Point] = [self.all_points[i] for i in idx]
        self.selection = None if points is None else tuple(p.index for p in self.points)
        self.rtol = rtol
        self.m_tol = m_tol
        self._conduct_kw = tuple((k, v) for k, v in (("rtol", rtol), ("m_tol", m_tol)) if v is not None)
        self._expected: dict[str, str] | None = None
        self._id = (("identity", spec.identity()),)
        self._realize_kw = (("shape", list(spec.shape)), ("voxel_size", spec.voxel_size),
                            ("chi2_dof", spec.chi2_dof), ("chunks", spec.chunks),
                            ("generator", spec.generator)) + self._id

    # -- what the study consists of --------------------------------------------------------
    def expected(self) -> dict[str, str]:
        """Every record the selected points need, ``{record path: stage}`` (no gradient needed:
        record names depend only on indices)."""
        if self._expected is None:
            self._expected = {rel: stage for rel, stage, _ in self._all_tasks_shape()}
        return dict(self._expected)

    def _all_tasks_shape(self):
        spec = self.spec
        per = spec.structures_per_point
        for pt in self.points:
            p = pt.index
            for e in range(spec.n_evaluations):
                for r in range(spec.realizations):
                    vol = eval_volume(p, e, r)
                    yield record_path("realize", vol), "realize", vol
                    for ph in STUDY_PHASES:
                        yield record_path("describe", f"{vol}-{ph}"), "describe", f"{vol}-{ph}"
            yield record_path("gradient", f"p{p:02d}"), "gradient", f"p{p:02d}"
            for local in range(per):
                vol = structure_volume(p * per + local)
                yield record_path("structure", vol), "structure", vol
                for ph in STUDY_PHASES:
                    for stage in ("describe-structure", "conduct"):
                        yield record_path(stage, f"{vol}-{ph}"), stage, f"{vol}-{ph}"

    def totals(self) -> dict[str, int]:
        """Tasks per progress stage (:data:`vmt_dask.events.STAGES`) for the selected points."""
        out = {s: 0 for s in STAGES}
        for _, stage, _ in self._all_tasks_shape():
            out[STAGE_TABLE[stage].progress] += 1
        return out

    def count(self, done: Iterable[str]) -> dict[str, int]:
        """Done tasks per progress stage, counting only the records this plan expects."""
        expected = self.expected()
        out = {s: 0 for s in STAGES}
        for rel in done:
            stage = expected.get(rel)
            if stage is not None:
                out[STAGE_TABLE[stage].progress] += 1
        return out

    # -- the tasks --------------------------------------------------------------------------
    def evaluation_tasks(self, point: Point) -> list[Task]:
        """Realizations, descriptions and the gradient of one point, in dependency order."""
        spec, p = self.spec, point.index
        seeds = evaluation_seeds(spec, p)
        thetas = perturbed_thetas(point.theta, spec.delta)
        tasks: list[Task] = []
        describe_keys = [[eval_volume(p, e, r) for r in range(len(seeds))] for e in range(spec.n_evaluations)]
        describe_records: list[str] = []
        # realization-major: the 8 evaluations of one seed are consecutive, so a batch holds whole
        # seeds and the model's per-process cache of summed fields (shared by the evaluations of a
        # seed whose perturbation leaves a field's parameters alone) hits in the worker that made
        # them, whatever the number of workers (evaluation-major, two workers recomputed a point's
        # base fields in each: 40 -> 50 field computations per point at the demo's batch sizes)
        for r, seed in enumerate(seeds):
            for e in range(spec.n_evaluations):
                vol = describe_keys[e][r]
                meta = {"point": p, "evaluation": e, "realization": r}
                real = Task("realize", vol, f"realize-p{p:02d}-e{e}-r{r}", p, (),
                            (vol, tuple(float(x) for x in thetas[e]), int(seed)),
                            self._realize_kw + (("stage", "realize"), ("meta", meta)))
                tasks.append(real)
                for ph in STUDY_PHASES:
                    d = Task("describe", f"{vol}-{ph}", f"describe-p{p:02d}-e{e}-r{r}-{ph}", p, (real.record,),
                             (vol, ph), (("voxel_size", spec.voxel_size), ("axis", spec.axis),
                                         ("stage", "describe"), ("meta", meta)) + self._id)
                    tasks.append(d)
                    describe_records.append(d.record)
        tasks.append(Task("gradient", f"p{p:02d}", f"gradient-p{p:02d}", p, tuple(describe_records),
                          (p, tuple(point.theta), tuple(tuple(k) for k in describe_keys)),
                          (("delta", spec.delta),) + self._id))
        return tasks

    def structure_tasks(self, point: Point, gradient: Any | None, *, include_point: bool = True) -> list[Task]:
        """Generation, descriptions and M-factors of a point's structures, in dependency order.

        With ``gradient`` None only the point itself (local index 0), which needs no gradient;
        ``include_point=False`` leaves the point itself out (only the steps).
        """
        spec, p = self.spec, point.index
        tasks: list[Task] = []
        grad_rel = record_path("gradient", f"p{p:02d}")
        for s in point_structures(spec, point, gradient):
            if s.local == 0 and not include_point:
                continue
            vol = structure_volume(s.index)
            meta = {"structure": s.index, "point": s.point, "local": s.local, "function": s.function,
                    "h": s.h, "pair": point.pair_name, "t": point.t}
            gen = Task("structure", vol, f"structure-p{p:02d}-s{s.local:02d}", p,
                       (grad_rel,) if s.local else (), (vol, tuple(s.theta), int(s.seed)),
                       self._realize_kw + (("stage", "structure"), ("meta", meta)))
            tasks.append(gen)
            for ph in STUDY_PHASES:
                tasks.append(Task("describe-structure", f"{vol}-{ph}",
                                  f"describe-structure-p{p:02d}-s{s.local:02d}-{ph}", p, (gen.record,), (vol, ph),
                                  (("voxel_size", spec.voxel_size), ("axis", spec.axis),
                                   ("stage", "describe-structure"), ("meta", meta)) + self._id))
                tasks.append(Task("conduct", f"{vol}-{ph}", f"conduct-p{p:02d}-s{s.local:02d}-{ph}", p,
                                  (gen.record,), (vol, ph), (("axis", spec.axis),) + self._conduct_kw
                                  + (("meta", meta),) + self._id))
        return tasks

    # -- transitions ----------------------------------------------------------------------
    def start(self, done: set[str], gradients: Mapping[int, Any]) -> list[Task]:
        """Tasks to submit for a state: every task of the selected points whose record is not
        done, in dependency order (a task's missing dependencies come before it).

        ``gradients`` maps a point index to its gradient (from its intact gradient record); a
        point whose gradient record is done gets all its structures, the others their own
        structure (local 0) only; every missing evaluation record is resubmitted in both cases
        (after a repair the gradient may be done while an evaluation volume is not).
        """
        grad_done = {p for p in gradients if record_path("gradient", f"p{p:02d}") in done}
        out: list[Task] = []
        for pt in self.points:
            if pt.index in grad_done:  # evaluations too: a damaged one is repaired, not left behind
                out += self.structure_tasks(pt, gradients[pt.index]) + self.evaluation_tasks(pt)
            else:
                out += self.structure_tasks(pt, None) + self.evaluation_tasks(pt)
        return [t for t in out if t.record not in done]

    def after(self, task: Task, result: Mapping[str, Any] | None, done: set[str]) -> list[Task]:
        """Tasks unlocked by ``task`` completing with ``result`` (its record).

        A gradient unlocks the steps of its point (structures 1 .. 32); nothing else unlocks
        new tasks (their successors were submitted up front with it as a dependency).
        """
        if task.stage != "gradient" or result is None:
            return []
        point = self.all_points[task.point]
        return [t for t in self.structure_tasks(point, result["gradient"], include_point=False)
                if t.record not in done]

    def settle(self, intact: Mapping[str, Any], volumes_ok: set[str] | None) -> set[str]:
        """The done state from intact records ``{path: record}`` and intact volume keys.

        A record counts as done when it is one this plan expects and has its stage's fields
        (:attr:`Stage.fields`); a record of a volume stage (realize, structure) only if its
        volume is intact too, so a damaged or missing volume is regenerated from its seed.
        Records of the other stages stand on their own (they were computed from a volume that
        was verified when read).  ``volumes_ok`` None means "not checked".
        """
        if self._expected is None:
            self.expected()
        volume_records = {rel: name for rel, stage, name in self._all_tasks_shape() if STAGE_TABLE[stage].volume}
        done = set()
        for rel, rec in intact.items():
            stage = self._expected.get(rel)
            if stage is None or not STAGE_TABLE[stage].complete(rec):
                continue  # another point's record (outside the selection), a stray file, or malformed
            if volumes_ok is not None and rel in volume_records and volume_records[rel] not in volumes_ok:
                continue
            done.add(rel)
        return done

    def damaged_volumes(self, intact: Iterable[str], volumes_ok: set[str]) -> list[str]:
        """Volume keys whose record is intact but whose volume is missing or damaged."""
        volume_records = {rel: name for rel, stage, name in self._all_tasks_shape() if STAGE_TABLE[stage].volume}
        return sorted(volume_records[rel] for rel in intact if rel in volume_records
                      and volume_records[rel] not in volumes_ok)
