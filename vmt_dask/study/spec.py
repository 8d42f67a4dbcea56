"""The study specification: one schema for the CLI, the Python API and the Helm chart.

:class:`StudySpec` is a frozen pydantic model.  The same model

* validates specs read from YAML or TOML files (:func:`load_spec`), dicts
  (:func:`spec_from_dict`) and the shipped presets, before anything touches a store or a
  scheduler; every error is one :class:`~vmt_dask.errors.InputError` line naming the field
  (``t[1]``, ``steps.volume_fraction_AM[0]``, ``endpoints.BM01.a``) and the offending value;
* generates the JSON Schema (:func:`spec_json_schema`) that the Helm chart embeds under
  ``study.spec`` in ``values.schema.json``, so ``helm install`` refuses a malformed spec
  (``tests/study/test_study_schema.py`` checks that the chart's copy equals the generated one).

The spec fixes the whole design of paper Section 2.4: the calibrated endpoints, the
interpolation pairs and t-values, the finite-difference shift ``delta``, the number of
realizations per evaluation (common random numbers), the eight descriptor functions with
their step sizes ``h``, the alpha floor, the grid, the voxel size, the transport axis and the
master seed.

Spec files are parsed by a restricted loader: at most :data:`MAX_SPEC_BYTES` bytes of UTF-8
text, no YAML aliases or anchors (a 1 KB "billion laughs" file would otherwise expand to
gigabytes), no duplicate keys (YAML would silently keep the last), no nesting deeper than
:data:`MAX_DEPTH`.  Sizes are bounded (:data:`LIMITS`) so that a typo such as
``realizations: 1000000`` is refused with one line instead of creating a store whose tasks
then fail.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from fractions import Fraction
from typing import Annotated, Any, Literal, Mapping, Optional, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError,
                      field_validator, model_validator)

from ..domain import (A_INDEX, ALPHA_INDICES, AXES, PARAMETER_NAMES, STUDY_DESCRIPTORS, STUDY_PHASES,
                      TABLE1, axis_index, preset_name)
from ..errors import InputError
from .presets import PRESETS, preset_text

__all__ = [
    "PARAMETERS",
    "DESCRIPTORS",
    "PHASES",
    "FUNCTIONS",
    "LIMITS",
    "MAX_SPEC_BYTES",
    "MAX_DEPTH",
    "StudySpec",
    "load_spec",
    "spec_from_dict",
    "spec_json_schema",
    "parse_spec_text",
    "preset_dict",
    "helm_spec_schema",
    "A_INDEX",
    "ALPHA_INDICES",
]

#: Order of the model parameters theta (paper Table 1); :data:`vmt_dask.domain.PARAMETER_NAMES`.
PARAMETERS: tuple[str, ...] = PARAMETER_NAMES
#: Descriptors whose means over the realizations are the study's functions f.
DESCRIPTORS: tuple[str, ...] = STUDY_DESCRIPTORS
#: Phases the study describes.
PHASES: tuple[str, ...] = STUDY_PHASES
#: The eight descriptor functions, in the order of the results schema.
FUNCTIONS: tuple[str, ...] = tuple(f"{d}_{p}" for d in DESCRIPTORS for p in PHASES)

#: Upper bounds of a spec.  The paper's design is far inside every one of them (401^3 voxels,
#: 5 realizations, 15 points, 4 steps per function, 4290 tasks); they exist to turn a typo
#: into a one-line refusal before a store is created.  ``tasks`` bounds the number of Dask
#: tasks of the whole study (one coordinator holds one future per task).
LIMITS: Mapping[str, int] = {
    "edge": 4096,            # voxels along one axis
    "voxels": 2048 ** 3,     # voxels of one realization
    "realizations": 1000,
    "endpoints": 100,
    "pairs": 1000,
    "t": 1000,
    "points": 10_000,        # pairs x t
    "steps": 100,            # step sizes h per descriptor function
    "structures": 1_000_000,
    "tasks": 1_000_000,
    "chi2_dof": 64,
    "retries": 100,
    "name": 200,             # characters
}
#: Largest spec file accepted, bytes (the paper's spec is about 1.3 KB).
MAX_SPEC_BYTES = 1 << 20
#: Deepest nesting of lists/mappings accepted in a spec file (the schema needs 3).
MAX_DEPTH = 16
_SEED_MAX = 2 ** 63 - 1

# ----------------------------------------------------------------------------- field types
_FRACTION = r"^\s*[+-]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,4})?(\s*/\s*\d{1,30})?\s*$"
_FRACTION_RE = re.compile(_FRACTION)
_FractionText = Annotated[str, Field(pattern=_FRACTION, max_length=100)]


def _short(value: Any, limit: int = 80) -> str:
    """repr of a value for a one-line message, cut to ``limit`` characters."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (sys.get_int_max_str_digits)
        text = f"<integer of about {int(value.bit_length() * 0.30103)} digits>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _to_number(value: Any) -> Any:
    """A number from a number or a decimal/fraction text ('0.05', '1/6'); bools refused."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        if not _FRACTION_RE.match(value):
            raise ValueError("must be a number or a fraction like '1/6'")
        try:
            return float(Fraction(value.replace(" ", "")))
        except OverflowError:
            raise ValueError("must be a finite number") from None
        except (ValueError, ZeroDivisionError):
            raise ValueError("must be a number or a fraction like '1/6'") from None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ValueError("is too large") from None
    return value


def _to_integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 63:
        return int(value)
    return value


def Number(**constraints) -> Any:
    """A finite float field that also accepts fractions written as text ('1/6')."""
    core = Annotated[float, Field(allow_inf_nan=False, **constraints)]
    return Annotated[float, Field(allow_inf_nan=False, **constraints),
                     BeforeValidator(_to_number, json_schema_input_type=Union[core, _FractionText])]


def Integer(**constraints) -> Any:
    """An integer field (bools refused, 3.0 accepted)."""
    return Annotated[int, Field(strict=False, **constraints), BeforeValidator(_to_integer)]


_Edge = Integer(ge=2, le=LIMITS["edge"])
_Name = Annotated[str, Field(min_length=1, max_length=LIMITS["name"])]
_Theta7 = Annotated[tuple[Number(), ...], Field(min_length=len(PARAMETERS), max_length=len(PARAMETERS))]
_ParameterName = Literal[PARAMETERS]  # type: ignore[valid-type]
_FunctionName = Literal[FUNCTIONS]  # type: ignore[valid-type]
_AxisName = Literal[tuple(AXES) + tuple(a.upper() for a in AXES)]  # type: ignore[valid-type]


def _theta_in(value: Any) -> Any:
    """A mapping parameter -> value becomes the 7-vector in :data:`PARAMETERS` order."""
    if isinstance(value, Mapping):
        extra = [k for k in value if k not in PARAMETERS]
        if extra:
            raise ValueError(f"unknown parameter {extra[0]!r} (known: {', '.join(PARAMETERS)})")
        missing = [p for p in PARAMETERS if p not in value]
        if missing:
            raise ValueError(f"parameter {missing[0]!r} is missing")
        return [value[p] for p in PARAMETERS]
    return value


_ThetaInput = Union[
    Annotated[list[Union[float, _FractionText]], Field(min_length=7, max_length=7)],
    Annotated[dict[_ParameterName, Union[float, _FractionText]], Field(min_length=7, max_length=7)]]
_Theta = Annotated[_Theta7, BeforeValidator(_theta_in, json_schema_input_type=_ThetaInput)]


def _endpoints_in(value: Any) -> Any:
    """A list of Table 1 names (any case) becomes the mapping name -> theta."""
    if isinstance(value, (list, tuple)) and all(isinstance(e, str) for e in value):
        out = {}
        for e in value:
            try:
                name = preset_name(e)
            except ValueError:
                raise ValueError(f"unknown calibrated name {e!r} (known: {', '.join(TABLE1)})") from None
            out[name] = TABLE1[name]
        return out
    return value


def _shape_in(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value] * 3
    if isinstance(value, (list, tuple)) and len(value) != 3:
        raise ValueError("must be three integers (x, y, z) or one for a cube")
    return value


def _axis_in(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in AXES:
        return axis_index(value)
    if isinstance(value, (bool, str)):
        raise ValueError("must be 0, 1, 2 or 'x', 'y', 'z'")
    return value


def _fraction_or(core: Any) -> Any:
    return Union[core, _FractionText]


class _FieldError(ValueError):
    """A validation failure whose field path is more precise than pydantic's location."""

    def __init__(self, path: str, value: Any, why: str):
        super().__init__(why)
        self.path, self.value, self.why = path, value, why


def _fail(path: str, value: Any, why: str) -> InputError:
    return InputError(f"study spec field {path!r}: {why} (got {_short(value)})")


# ----------------------------------------------------------------------------- the model
class StudySpec(BaseModel):
    """A validated parameter-study design (paper Section 2.4); immutable.

    Attributes
    ----------
    name : str
        Human-readable name (not part of the study identity).
    endpoints : dict of str to tuple of 7 float
        Calibrated parameter vectors theta, order :data:`PARAMETERS`.  Input may also be a
        list of paper Table 1 names (``[BM01, BM10]``, any case) or, per endpoint, a mapping
        parameter name -> value.
    pairs : tuple of (str, str)
        Endpoint pairs (d1, d2) interpolated as theta(t) = theta_d1 + t (theta_d2 - theta_d1), Eq. (9).
    t : tuple of float
        Interpolation parameters in (0, 1); fractions may be written as text (``"1/6"``).
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
        Grid of every realization, voxels (x, y, z); one integer means a cube.
    voxel_size : float
        Voxel edge, micrometre.
    axis : int
        Transport axis for tortuosity, constrictivity and M-factor (0, 1, 2 or "x", "y", "z"; 2 = z).
    chi2_dof : int
        Degrees of freedom of the chi-square fields of the model.
    seed : int
        Master seed; every realization seed derives from it via ``numpy.random.SeedSequence``.
    chunks : int or None
        Chunk edge of stored volumes (None: the store's default).
    generator : str
        Discretisation of the model's random fields (``vmt_dask.model.covariance.GENERATORS``;
        default ``"lattice"``, the first release's, bit for bit).  Recorded so that a store keeps
        producing the same realizations when the model's default changes; part of the identity
        only when it is not ``"lattice"`` (stores made before the field existed keep theirs).
    retries : int
        Dask retries per task (on top of the scheduler's rescheduling of lost workers).

    The spelling ``grid: {shape, voxel_size}`` is accepted for the two grid fields, and a
    ``store`` key is ignored (the store is chosen at run time).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", title="vmt-dask study spec",
                              json_schema_extra=lambda schema: _schema_extra(schema))

    name: _Name = "study"
    endpoints: Annotated[dict[_Name, _Theta], Field(min_length=1, max_length=LIMITS["endpoints"]),
                         BeforeValidator(_endpoints_in, json_schema_input_type=Union[
                             Annotated[list[str], Field(min_length=1)], dict[_Name, _ThetaInput]])]
    pairs: Annotated[tuple[tuple[_Name, _Name], ...], Field(min_length=1, max_length=LIMITS["pairs"])]
    t: Annotated[tuple[Number(gt=0, lt=1), ...], Field(min_length=1, max_length=LIMITS["t"])]
    delta: Number(gt=0)
    realizations: Integer(ge=1, le=LIMITS["realizations"])
    steps: Annotated[dict[_FunctionName, Annotated[tuple[Number(), ...],
                                                   Field(min_length=1, max_length=LIMITS["steps"])]],
                     Field(min_length=1)]
    alpha_floor: Number(gt=0)
    shape: Annotated[tuple[_Edge, _Edge, _Edge], BeforeValidator(
        _shape_in, json_schema_input_type=Union[_Edge, Annotated[list[_Edge], Field(min_length=3, max_length=3)]])]
    voxel_size: Number(gt=0)
    axis: Annotated[Integer(ge=0, le=2), BeforeValidator(
        _axis_in, json_schema_input_type=Union[Annotated[int, Field(ge=0, le=2)], _AxisName])] = 2
    chi2_dof: Integer(ge=1, le=LIMITS["chi2_dof"]) = 2
    seed: Integer(ge=0, le=_SEED_MAX)
    chunks: Optional[Integer(ge=1, le=LIMITS["edge"])] = None
    retries: Integer(ge=0, le=LIMITS["retries"]) = 3
    generator: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = "lattice"

    _identity: str = PrivateAttr("")

    # -- spellings and cross-field rules ------------------------------------------------
    @field_validator("steps")
    @classmethod
    def _steps_in_order(cls, steps: dict) -> dict:
        # FUNCTIONS order, so that to_dict (and the identity) does not depend on input order
        return {f: steps[f] for f in FUNCTIONS if f in steps}

    @field_validator("generator")
    @classmethod
    def _known_generator(cls, value: str) -> str:
        from ..model.covariance import check_generator

        try:
            return check_generator(value)
        except InputError as exc:
            raise _FieldError("generator", value, str(exc).split("; got")[0].replace("generator ", "", 1)) from None

    @model_validator(mode="before")
    @classmethod
    def _spellings(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        data.pop("store", None)
        if "grid" in data:
            grid = data.pop("grid")
            if not isinstance(grid, Mapping):
                raise _FieldError("grid", grid, "must be a mapping with 'shape' and 'voxel_size'")
            for k, v in grid.items():
                if k not in ("shape", "voxel_size"):
                    raise _FieldError(f"grid.{k}", v, "unknown field (expected shape, voxel_size)")
                data.setdefault(k, v)
        return data

    @model_validator(mode="after")
    def _rules(self) -> "StudySpec":
        for key, theta in self.endpoints.items():
            for i in ALPHA_INDICES + (A_INDEX,):
                if not theta[i] > 0:
                    raise _FieldError(f"endpoints.{key}.{PARAMETERS[i]}", theta[i], "must be > 0")
        seen = set()
        for i, (d1, d2) in enumerate(self.pairs):
            if d1 == d2:
                raise _FieldError(f"pairs[{i}]", [d1, d2], "must be two different endpoint names")
            for e in (d1, d2):
                if e not in self.endpoints:
                    raise _FieldError(f"pairs[{i}]", e, f"unknown endpoint (known: {sorted(self.endpoints)})")
            if (d1, d2) in seen:
                raise _FieldError("pairs", [list(p) for p in self.pairs], "must not repeat a pair")
            seen.add((d1, d2))
        if len(set(self.t)) != len(self.t):
            raise _FieldError("t", list(self.t), "must not repeat a value")
        for fn, hs in self.steps.items():
            for i, h in enumerate(hs):
                if h == 0:
                    raise _FieldError(f"steps.{fn}[{i}]", h, "must be non-zero (h = 0 is the point itself)")
            if len(set(hs)) != len(hs):
                raise _FieldError(f"steps.{fn}", list(hs), "must not repeat a step size")
        voxels = math.prod(self.shape)
        if voxels > LIMITS["voxels"]:
            raise _FieldError("shape", list(self.shape), f"has {voxels} voxels, more than the limit "
                              f"{LIMITS['voxels']} per realization")
        for what, n in (("points", self.n_points), ("structures", self.n_structures), ("tasks", self.n_tasks)):
            if n > LIMITS[what]:
                field = {"points": "t", "structures": "steps", "tasks": "realizations"}[what]
                raise _FieldError(field, getattr(self, field) if field != "steps" else "...",
                                  f"makes {n} {what}, more than the limit {LIMITS[what]}")
        self._identity = _identity_of(self.to_dict())
        return self

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

    @property
    def n_tasks(self) -> int:
        """Dask tasks of the whole study: per point 8 x R realizations, 2 descriptions each and
        one gradient; per structure one generation, two descriptions and two M-factors."""
        per_point = self.n_evaluations * self.realizations * (1 + len(PHASES)) + 1
        return self.n_points * per_point + self.n_structures * (1 + 2 * len(PHASES))

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
            # only when not the original one: old specs, stored specs and identities stay as they were
            **({} if self.generator == "lattice" else {"generator": self.generator}),
        }

    def to_yaml(self) -> str:
        """YAML text of :meth:`to_dict`."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def identity(self) -> str:
        """Hash of everything that determines the results (name and retries excluded); cached.

        Two specs with the same identity produce bit-identical databases, so a store
        created by one may be resumed by the other.
        """
        return self._identity

    def replace(self, **changes) -> "StudySpec":
        """A validated copy with some fields changed."""
        d = self.to_dict()
        d.update(changes)
        return spec_from_dict(d)


def _identity_of(d: dict) -> str:
    d = dict(d)
    d.pop("name")
    d.pop("retries")
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- JSON Schema
def _schema_extra(schema: dict) -> None:
    schema["description"] = ("A vmt-dask parameter study (paper Section 2.4); the fields are documented in "
                             "vmt_dask.study.spec.StudySpec and docs/results-schema.md.")
    props = schema.setdefault("properties", {})
    props["store"] = {"type": "string", "description": "ignored: the store is chosen at run time"}
    props["grid"] = {"type": "object", "additionalProperties": False,
                     "description": "alternative spelling of shape and voxel_size",
                     "properties": {"shape": props["shape"], "voxel_size": props["voxel_size"]}}


def _inline_refs(node: Any, defs: dict) -> Any:
    """Resolve ``$ref`` into copies and write ``prefixItems`` as draft-07 ``items`` (Helm's dialect)."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _inline_refs(defs[name], defs)
        out = {k: _inline_refs(v, defs) for k, v in node.items() if k not in ("$defs", "title")}
        if "prefixItems" in out:
            out["items"] = out.pop("prefixItems")
            out["additionalItems"] = False
        return out
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def spec_json_schema() -> dict:
    """JSON Schema (draft 2020-12 subset, no ``$ref``) of a study spec as users write it.

    Generated from :class:`StudySpec`; the Helm chart embeds it under ``study.spec`` (there an
    empty object also passes: the chart then uses ``study.preset``).  Cross-field rules (pairs
    naming known endpoints, distinct values, alpha > 0) and the totals of :data:`LIMITS` are
    checked by :class:`StudySpec` only.
    """
    schema = StudySpec.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    out = _inline_refs(schema, defs)
    required = [r for r in out.get("required", []) if r not in ("shape", "voxel_size")]
    out["required"] = required  # shape and voxel_size may come in 'grid'
    out["anyOf"] = [{"required": ["shape", "voxel_size"]}, {"required": ["grid"]}]
    return out


def helm_spec_schema() -> dict:
    """The ``study.spec`` subschema of the Helm chart's ``values.schema.json``.

    An empty object (the chart's default: run ``study.preset``) or a spec valid under
    :func:`spec_json_schema`.  ``tests/study/test_study_schema.py`` checks that the chart holds
    exactly this; regenerate it with ``python -m vmt_dask.study.spec --helm-schema``.
    """
    return {"description": "A study spec (vmt study run SPEC); {} runs study.preset instead.",
            "type": "object",
            "anyOf": [{"maxProperties": 0}, spec_json_schema()]}


# ----------------------------------------------------------------------------- validation
def _loc_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-before[_spellings(), dict[str,any]]",):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _input_error(exc: ValidationError) -> InputError:
    errors = exc.errors(include_url=False)
    # an unknown field first: a misspelt required field ('realisations') is also reported as
    # the real one missing, and the unknown spelling is what the user has to fix
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    ctx_err = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_err, _FieldError):
        return _fail(ctx_err.path, ctx_err.value, ctx_err.why)
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p and "(" in p)))
    path = _loc_path(loc) or "spec"
    kind = err["type"]
    if kind == "missing":
        return InputError(f"study spec field {path!r} is missing")
    if kind == "extra_forbidden":
        import difflib

        names = sorted(set(StudySpec.model_fields) | {"grid", "store"})
        known = ", ".join(names)
        close = difflib.get_close_matches(str(loc[-1]) if loc else "", names, n=1, cutoff=0.75)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return _fail(path, err.get("input"), f"unknown field ({hint}known: {known})")
    msg = err["msg"]
    if isinstance(ctx_err, ValueError):
        msg = str(ctx_err)
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if "[key]" in err["loc"] and kind == "literal_error":
        msg = f"unknown key; {msg[0].lower()}{msg[1:]}"
    return _fail(path, err.get("input"), msg[0].lower() + msg[1:] if msg else "invalid")


def spec_from_dict(data: Mapping[str, Any]) -> StudySpec:
    """Validate a mapping and build a :class:`StudySpec`.

    Parameters
    ----------
    data : mapping
        Fields of :class:`StudySpec` in any spelling its docstring lists.

    Returns
    -------
    StudySpec

    Raises
    ------
    InputError
        One line naming the first invalid field and its value.
    """
    if not isinstance(data, Mapping):
        raise InputError(f"study spec must be a mapping of fields, got {type(data).__name__}")
    try:
        return StudySpec.model_validate(dict(data))
    except ValidationError as exc:
        raise _input_error(exc) from None
    except _FieldError as exc:  # raised by the 'before' model validator outside pydantic's wrapping
        raise _fail(exc.path, exc.value, exc.why) from None


# ----------------------------------------------------------------------------- safe parsing
def _safe_loader():
    import yaml

    class SpecLoader(yaml.SafeLoader):
        """SafeLoader without aliases/anchors, duplicate keys or deep nesting."""

        depth = 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                raise yaml.composer.ComposerError(None, None, f"YAML aliases (*{event.anchor}) are not allowed",
                                                  event.start_mark)
            if getattr(event, "anchor", None) is not None:
                raise yaml.composer.ComposerError(None, None, f"YAML anchors (&{event.anchor}) are not allowed",
                                                  event.start_mark)
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise yaml.composer.ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels",
                                                      event.start_mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    dup = key in seen
                except TypeError:  # unhashable key: let SafeLoader report it
                    break
                if dup:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {_short(key)}",
                                                            key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return SpecLoader


def parse_spec_text(data: bytes | str, fmt: str = "yaml", origin: str = "<text>") -> Any:
    """Parse spec text with the limits of this module; returns the raw mapping (unvalidated).

    Raises
    ------
    InputError
        Larger than :data:`MAX_SPEC_BYTES`, binary (NUL bytes or not UTF-8), invalid YAML/TOML,
        a YAML alias or anchor, a duplicate key, nesting deeper than :data:`MAX_DEPTH`, or a
        number too long to convert.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_SPEC_BYTES:
        raise InputError(f"study spec {origin}: larger than {MAX_SPEC_BYTES} bytes; a spec is a small text file")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise InputError(f"study spec {origin}: binary content (NUL byte at offset {nul}); "
                         "expected YAML or TOML text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"study spec {origin}: not UTF-8 text (byte {exc.start}); expected YAML or TOML") from None
    if fmt == "toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # pragma: no cover - Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"study spec {origin}: invalid TOML: {' '.join(str(exc).split())}") from None
        except (ValueError, RecursionError) as exc:  # e.g. an integer longer than Python converts
            raise InputError(f"study spec {origin}: invalid TOML: {' '.join(str(exc).split())[:200]}") from None
    import yaml

    try:
        return yaml.load(text, Loader=_safe_loader())  # noqa: S506 - the restricted SafeLoader above
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InputError(f"study spec {origin}: invalid YAML: {' '.join(str(problem).split())}{where}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer longer than Python converts
        raise InputError(f"study spec {origin}: invalid YAML: {' '.join(str(exc).split())[:200]}") from None


def read_spec_file(path: str | os.PathLike) -> Any:
    """Read and parse a spec file (YAML, or TOML by its suffix) with the limits of this module."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputError(f"study spec {path!r} is a directory, not a file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise InputError(f"study spec {path!r}: cannot read: {exc.strerror or exc}") from None
    fmt = "toml" if path.lower().endswith(".toml") else "yaml"
    data = parse_spec_text(raw, fmt, repr(path))
    if data is None:
        raise InputError(f"study spec {path!r} is empty")
    return data


def preset_dict(name: str) -> dict:
    """Fields of a shipped preset, unvalidated (see :func:`spec_from_dict`)."""
    return parse_spec_text(preset_text(name), "yaml", f"preset {name!r}")


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
        Unreadable, binary or oversized file, unknown preset, unsafe YAML, or an invalid
        field (named in the message).
    TypeError
        ``source`` is none of the above types.
    """
    if isinstance(source, Mapping):
        data = dict(source)
    elif isinstance(source, (str, os.PathLike)) and str(source) in PRESETS:
        data = preset_dict(str(source))
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise InputError(f"study spec {path!r}: no such file, and not a preset ({', '.join(PRESETS)})")
        data = read_spec_file(path)
    else:
        raise TypeError(f"source must be a preset name, a path or a mapping, got {type(source).__name__}")
    if isinstance(data, Mapping):
        data = dict(data)
        data.update(overrides)
    return spec_from_dict(data)


if __name__ == "__main__":  # pragma: no cover - maintenance helper
    import sys

    if sys.argv[1:] == ["--helm-schema"]:
        print(json.dumps(helm_spec_schema(), indent=2))
    else:
        print(json.dumps(spec_json_schema(), indent=2))
