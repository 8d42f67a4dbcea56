"""The study specification: a validated, immutable description of a parameter study.

A spec is read from YAML or TOML (or built from a dict / presets) and validated
*before* anything touches a store or a scheduler; every error is an
:class:`~vmt_dask.errors.InputError` naming the offending field and value.

The spec fixes the whole design of paper Section 2.4: the calibrated endpoints,
the interpolation pairs and t-values, the finite-difference shift ``delta``,
the number of realizations per evaluation (common random numbers), the eight
descriptor functions with their step sizes ``h``, the alpha floor, the grid, the
voxel size, the transport axis and the master seed.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any, Mapping

from ..errors import InputError

__all__ = [
    "PARAMETERS",
    "DESCRIPTORS",
    "PHASES",
    "FUNCTIONS",
    "StudySpec",
    "load_spec",
    "spec_from_dict",
]

#: Order of the model parameters theta (paper Table 1).
PARAMETERS: tuple[str, ...] = ("alpha_xt", "alpha_yt", "alpha_x", "alpha_y", "a", "lambda_x", "lambda_y")
#: Index of the anisotropy factor a, whose gradient component is set to 0 (paper Sec. 2.4).
A_INDEX = 4
#: Indices of the covariance parameters alpha, clipped to the alpha floor after a step.
ALPHA_INDICES = (0, 1, 2, 3)
#: Descriptors whose means over the realizations are the study's functions f.
DESCRIPTORS: tuple[str, ...] = ("volume_fraction", "specific_surface_area", "tortuosity_mean", "constrictivity")
#: Phases the study describes (label codes in :mod:`vmt_dask.model`: SE = 1, AM = 2).
PHASES: tuple[str, ...] = ("AM", "SE")
#: The eight descriptor functions, in the order of the results schema.
FUNCTIONS: tuple[str, ...] = tuple(f"{d}_{p}" for d in DESCRIPTORS for p in PHASES)

_AXES = {"x": 0, "y": 1, "z": 2}


def _fail(field_name: str, value: Any, why: str) -> InputError:
    return InputError(f"study spec field {field_name!r}: {why} (got {value!r})")


@dataclass(frozen=True)
class StudySpec:
    """A validated parameter-study design (paper Section 2.4).

    Attributes
    ----------
    name : str
        Human-readable name (not part of the study identity).
    endpoints : dict of str to tuple of 7 float
        Calibrated parameter vectors theta, order :data:`PARAMETERS`.
    pairs : tuple of (str, str)
        Endpoint pairs (d1, d2) interpolated as theta(t) = theta_d1 + t (theta_d2 - theta_d1), Eq. (9).
    t : tuple of float
        Interpolation parameters in (0, 1).
    delta : float
        Forward-difference shift along each unit vector e_q, Eq. (10).
    realizations : int
        Realizations per evaluation of the functions f (the same seeds at a point and its
        perturbations: common random numbers).
    steps : dict of str to tuple of float
        Step sizes h per descriptor function, Eq. (11); keys from :data:`FUNCTIONS`.
    alpha_floor : float
        Lower bound for the four alpha parameters after a step.
    shape : tuple of 3 int
        Grid of every realization, voxels (x, y, z).
    voxel_size : float
        Voxel edge, micrometre.
    axis : int
        Transport axis for tortuosity, constrictivity and M-factor (2 = z).
    chi2_dof : int
        Degrees of freedom of the chi-square fields of the model.
    seed : int
        Master seed; every realization seed derives from it via ``numpy.random.SeedSequence``.
    chunks : int or None
        Chunk edge of stored volumes (None: the store's default).
    retries : int
        Dask retries per task (on top of the scheduler's rescheduling of lost workers).
    """

    name: str
    endpoints: Mapping[str, tuple[float, ...]]
    pairs: tuple[tuple[str, str], ...]
    t: tuple[float, ...]
    delta: float
    realizations: int
    steps: Mapping[str, tuple[float, ...]]
    alpha_floor: float
    shape: tuple[int, int, int]
    voxel_size: float
    axis: int
    chi2_dof: int
    seed: int
    chunks: int | None = None
    retries: int = 3

    # -- derived sizes -------------------------------------------------------------
    @property
    def n_points(self) -> int:
        """Number of interpolated points (pairs x t)."""
        return len(self.pairs) * len(self.t)

    @property
    def functions(self) -> tuple[str, ...]:
        """Descriptor functions stepped along, in :data:`FUNCTIONS` order."""
        return tuple(f for f in FUNCTIONS if f in self.steps)

    @property
    def structures_per_point(self) -> int:
        """The point itself plus one structure per (function, h)."""
        return 1 + sum(len(self.steps[f]) for f in self.functions)

    @property
    def n_structures(self) -> int:
        """Size of the database (495 for the paper design)."""
        return self.n_points * self.structures_per_point

    @property
    def n_evaluations(self) -> int:
        """Evaluations per point: the base and one per parameter (8)."""
        return 1 + len(PARAMETERS)

    # -- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain dict (JSON/YAML-serialisable) that :func:`spec_from_dict` reads back."""
        return {
            "name": self.name,
            "endpoints": {k: list(v) for k, v in self.endpoints.items()},
            "pairs": [list(p) for p in self.pairs],
            "t": list(self.t),
            "delta": self.delta,
            "realizations": self.realizations,
            "steps": {k: list(self.steps[k]) for k in self.functions},
            "alpha_floor": self.alpha_floor,
            "shape": list(self.shape),
            "voxel_size": self.voxel_size,
            "axis": self.axis,
            "chi2_dof": self.chi2_dof,
            "seed": self.seed,
            "chunks": self.chunks,
            "retries": self.retries,
        }

    def to_yaml(self) -> str:
        """YAML text of :meth:`to_dict`."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def identity(self) -> str:
        """Hash of everything that determines the results (name and retries excluded).

        Two specs with the same identity produce bit-identical databases, so a store
        created by one may be resumed by the other.
        """
        d = self.to_dict()
        d.pop("name")
        d.pop("retries")
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def replace(self, **changes) -> "StudySpec":
        """A validated copy with some fields changed."""
        d = self.to_dict()
        d.update(changes)
        return spec_from_dict(d)


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------
def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise _fail(name, value, "must be a number")
    if isinstance(value, str):
        try:
            value = float(Fraction(value.strip()))
        except (ValueError, ZeroDivisionError):
            raise _fail(name, value, "must be a number or a fraction like '1/6'") from None
    if not isinstance(value, (int, float)):
        raise _fail(name, value, "must be a number")
    value = float(value)
    if not math.isfinite(value):
        raise _fail(name, value, "must be finite")
    return value


def _integer(name: str, value: Any, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise _fail(name, value, "must be an integer")
    if minimum is not None and value < minimum:
        raise _fail(name, value, f"must be >= {minimum}")
    return int(value)


def _sequence(name: str, value: Any) -> list:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or isinstance(value, Mapping):
        raise _fail(name, value, "must be a list")
    return list(value)


_REQUIRED = ("endpoints", "pairs", "t", "delta", "realizations", "steps", "alpha_floor", "shape",
             "voxel_size", "seed")
_KNOWN = {f.name for f in fields(StudySpec)} | {"grid", "store"}


def spec_from_dict(data: Mapping[str, Any]) -> StudySpec:
    """Validate a mapping and build a :class:`StudySpec`.

    Parameters
    ----------
    data : mapping
        Fields of :class:`StudySpec`. ``t`` entries may be fractions written as strings
        (``"1/6"``); ``axis`` may be 0/1/2 or ``"x"``/``"y"``/``"z"``; ``endpoints`` may be
        a list of names of :data:`vmt_dask.model.CALIBRATED` or a mapping name -> 7 numbers;
        ``shape`` may be one integer (a cube). ``grid: {shape, voxel_size}`` is accepted as
        an alternative spelling. A ``store`` key is ignored (the store is chosen at run time).

    Returns
    -------
    StudySpec

    Raises
    ------
    InputError
        Naming the first invalid field and its value.
    """
    if not isinstance(data, Mapping):
        raise InputError(f"study spec must be a mapping of fields, got {type(data).__name__}")
    data = dict(data)
    if "grid" in data:
        grid = data.pop("grid")
        if not isinstance(grid, Mapping):
            raise _fail("grid", grid, "must be a mapping with 'shape' and 'voxel_size'")
        for k, v in grid.items():
            if k not in ("shape", "voxel_size"):
                raise _fail(f"grid.{k}", v, "unknown field (expected shape, voxel_size)")
            data.setdefault(k, v)
    data.pop("store", None)
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise _fail(unknown[0], data[unknown[0]], f"unknown field (known: {', '.join(sorted(_KNOWN))})")
    for k in _REQUIRED:
        if k not in data:
            raise InputError(f"study spec field {k!r} is missing")

    name = data.get("name", "study")
    if not isinstance(name, str) or not name:
        raise _fail("name", name, "must be a non-empty string")

    # endpoints
    ep = data["endpoints"]
    if isinstance(ep, (list, tuple)) and all(isinstance(e, str) for e in ep):
        try:
            from ..model import CALIBRATED
        except ImportError as exc:  # pragma: no cover - the model ships with the package
            raise _fail("endpoints", ep, f"names need vmt_dask.model ({exc})") from None
        missing = [e for e in ep if e not in CALIBRATED]
        if missing:
            raise _fail("endpoints", missing[0], f"unknown calibrated name (known: {sorted(CALIBRATED)})")
        ep = {e: tuple(float(x) for x in CALIBRATED[e].to_array()) for e in ep}
    if not isinstance(ep, Mapping) or not ep:
        raise _fail("endpoints", ep, "must map names to 7 parameters or list calibrated names")
    endpoints: dict[str, tuple[float, ...]] = {}
    for key, vec in ep.items():
        fname = f"endpoints.{key}"
        if not isinstance(key, str) or not key:
            raise _fail("endpoints", key, "names must be non-empty strings")
        if isinstance(vec, Mapping):
            extra = sorted(set(vec) - set(PARAMETERS))
            if extra:
                raise _fail(f"{fname}.{extra[0]}", vec[extra[0]], f"unknown parameter (known: {PARAMETERS})")
            miss = [p for p in PARAMETERS if p not in vec]
            if miss:
                raise InputError(f"study spec field '{fname}.{miss[0]}' is missing")
            vec = [vec[p] for p in PARAMETERS]
        vec = _sequence(fname, vec)
        if len(vec) != len(PARAMETERS):
            raise _fail(fname, vec, f"must have {len(PARAMETERS)} entries {PARAMETERS}")
        theta = tuple(_number(f"{fname}[{i}]", v) for i, v in enumerate(vec))
        for i in ALPHA_INDICES:
            if theta[i] <= 0:
                raise _fail(f"{fname}.{PARAMETERS[i]}", theta[i], "must be > 0")
        if theta[A_INDEX] <= 0:
            raise _fail(f"{fname}.a", theta[A_INDEX], "must be > 0")
        endpoints[key] = theta

    # pairs
    pairs = []
    for i, p in enumerate(_sequence("pairs", data["pairs"])):
        p = _sequence(f"pairs[{i}]", p)
        if len(p) != 2 or p[0] == p[1]:
            raise _fail(f"pairs[{i}]", p, "must be two different endpoint names")
        for e in p:
            if e not in endpoints:
                raise _fail(f"pairs[{i}]", e, f"unknown endpoint (known: {sorted(endpoints)})")
        pairs.append((str(p[0]), str(p[1])))
    if not pairs:
        raise _fail("pairs", data["pairs"], "must not be empty")
    if len(set(pairs)) != len(pairs):
        raise _fail("pairs", data["pairs"], "must not repeat a pair")

    # t
    ts = [_number(f"t[{i}]", v) for i, v in enumerate(_sequence("t", data["t"]))]
    if not ts:
        raise _fail("t", data["t"], "must not be empty")
    for i, v in enumerate(ts):
        if not 0.0 < v < 1.0:
            raise _fail(f"t[{i}]", v, "must lie in (0, 1)")
    if len(set(ts)) != len(ts):
        raise _fail("t", ts, "must not repeat a value")

    delta = _number("delta", data["delta"])
    if delta <= 0:
        raise _fail("delta", delta, "must be > 0")
    realizations = _integer("realizations", data["realizations"], minimum=1)

    steps_in = data["steps"]
    if not isinstance(steps_in, Mapping) or not steps_in:
        raise _fail("steps", steps_in, f"must map descriptor functions {FUNCTIONS} to lists of h")
    steps: dict[str, tuple[float, ...]] = {}
    for fn, hs in steps_in.items():
        if fn not in FUNCTIONS:
            raise _fail("steps", fn, f"unknown descriptor function (known: {', '.join(FUNCTIONS)})")
        hl = [_number(f"steps.{fn}[{i}]", h) for i, h in enumerate(_sequence(f"steps.{fn}", hs))]
        if not hl:
            raise _fail(f"steps.{fn}", hs, "must list at least one step size h")
        for i, h in enumerate(hl):
            if h == 0:
                raise _fail(f"steps.{fn}[{i}]", h, "must be non-zero (h = 0 is the point itself)")
        if len(set(hl)) != len(hl):
            raise _fail(f"steps.{fn}", hl, "must not repeat a step size")
        steps[fn] = tuple(hl)
    steps = {f: steps[f] for f in FUNCTIONS if f in steps}

    alpha_floor = _number("alpha_floor", data["alpha_floor"])
    if alpha_floor <= 0:
        raise _fail("alpha_floor", alpha_floor, "must be > 0")

    shape_in = data["shape"]
    if isinstance(shape_in, int) and not isinstance(shape_in, bool):
        shape_in = [shape_in] * 3
    shape_l = _sequence("shape", shape_in)
    if len(shape_l) != 3:
        raise _fail("shape", shape_in, "must be three integers (x, y, z) or one for a cube")
    shape = tuple(_integer(f"shape[{i}]", v, minimum=2) for i, v in enumerate(shape_l))

    voxel_size = _number("voxel_size", data["voxel_size"])
    if voxel_size <= 0:
        raise _fail("voxel_size", voxel_size, "must be > 0 (micrometre)")

    axis = data.get("axis", 2)
    if isinstance(axis, str):
        if axis.lower() not in _AXES:
            raise _fail("axis", axis, "must be 0, 1, 2 or 'x', 'y', 'z'")
        axis = _AXES[axis.lower()]
    axis = _integer("axis", axis)
    if axis not in (0, 1, 2):
        raise _fail("axis", axis, "must be 0, 1, 2 or 'x', 'y', 'z'")

    chi2_dof = _integer("chi2_dof", data.get("chi2_dof", 2), minimum=1)
    seed = _integer("seed", data["seed"], minimum=0)
    chunks = data.get("chunks")
    if chunks is not None:
        chunks = _integer("chunks", chunks, minimum=1)
    retries = _integer("retries", data.get("retries", 3), minimum=0)

    return StudySpec(name=name, endpoints=endpoints, pairs=tuple(pairs), t=tuple(ts), delta=delta,
                     realizations=realizations, steps=steps, alpha_floor=alpha_floor, shape=shape,
                     voxel_size=voxel_size, axis=axis, chi2_dof=chi2_dof, seed=seed, chunks=chunks,
                     retries=retries)


def _parse_text(text: str, fmt: str, origin: str) -> Any:
    if fmt == "toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # pragma: no cover - Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"study spec {origin}: invalid TOML: {exc}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"study spec {origin}: invalid YAML: {exc}") from None


def load_spec(source: str | os.PathLike | Mapping[str, Any], **overrides) -> StudySpec:
    """Load and validate a study spec.

    Parameters
    ----------
    source : str, path or mapping
        A preset name (``"paper"``, ``"demo"``, ``"smoke"``), a path to a ``.yaml``/``.yml``/
        ``.toml`` file, or a mapping of fields.
    **overrides
        Fields replacing those of the source before validation (e.g. ``shape=64``).

    Returns
    -------
    StudySpec

    Raises
    ------
    InputError
        Unreadable file, unknown preset, or an invalid field (named in the message).
    """
    from .presets import PRESETS, preset_dict

    if isinstance(source, Mapping):
        data = dict(source)
    elif isinstance(source, (str, os.PathLike)) and str(source) in PRESETS:
        data = preset_dict(str(source))
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise InputError(f"study spec {path!r}: no such file, and not a preset ({', '.join(PRESETS)})")
        fmt = "toml" if path.lower().endswith(".toml") else "yaml"
        with open(path, encoding="utf-8") as fh:
            data = _parse_text(fh.read(), fmt, repr(path))
        if data is None:
            raise InputError(f"study spec {path!r} is empty")
    else:
        raise TypeError(f"source must be a preset name, a path or a mapping, got {type(source).__name__}")
    if isinstance(data, Mapping):
        data = dict(data)
        data.update(overrides)
    return spec_from_dict(data)
