"""Assemble a study's results from its store as an xarray Dataset (docs/results-schema.md).

The coordinator's tasks write one small JSON record per completed task; this module
reads them (one listing and one batched read) and lays them out along the design, so
a results Dataset can be opened while a study runs (missing values are NaN) and after.

Deviation from the schema text: the structure coordinates ``point`` and ``function``
and the gradient table's dimensions would share names, which xarray forbids for a
coordinate on another dimension.  The gradient table therefore uses the dimensions
``gradient_point`` and ``gradient_function`` (with coordinates ``gradient_pair`` and
``gradient_t``); the structure coordinates keep the schema's names.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

from .. import __version__
from ..domain import CONDUCT_KEYS, DESCRIPTIONS, DESCRIPTOR_KEYS, STUDY_PHASES, phase_name
from ..domain import UNITS as _UNITS
from ..storage import read_record, read_record_checked, read_records
from .design import interpolation_points, point_structures, structure_seed
from .layout import STUDY_FILE, record_path, structure_volume
from .spec import FUNCTIONS, PARAMETERS
from .stages import STAGE_TABLE, StudyPlan

__all__ = ["open_results", "export_csv", "read_curves", "DESCRIPTOR_FIELDS", "UNITS", "CURVE_UNITS"]

#: Descriptor fields recorded per phase (docs/results-schema.md).
DESCRIPTOR_FIELDS = tuple(DESCRIPTOR_KEYS)
#: Conductivity fields recorded per phase.
CONDUCT_FIELDS = tuple(CONDUCT_KEYS)
UNITS = dict(_UNITS)
_DESCRIPTIONS = dict(DESCRIPTIONS)
#: Units of the stored CPSD/SMIP curves (:func:`read_curves`).
CURVE_UNITS = {"radius": "micrometre", "cpsd": "1 (volume fraction of the window)",
               "smip": "1 (volume fraction of the window)"}


def _read_all(store, plan: StudyPlan) -> dict[str, dict]:
    """Intact completion records of the plan (damaged or malformed ones read as absent)."""
    expected = plan.expected()
    intact, _ = read_records(store, expected)
    return {rel: rec for rel, rec in intact.items() if STAGE_TABLE[expected[rel]].complete(rec)}


def _f(x) -> float:
    try:
        return math.nan if x is None else float(x)
    except (TypeError, ValueError):
        return math.nan


def _array(x, shape) -> np.ndarray | None:
    """``x`` as a float array of ``shape`` (None entries NaN), or None when it does not fit."""
    try:
        a = np.array([[math.nan if v is None else v for v in row] for row in x] if len(shape) == 2
                     else [math.nan if v is None else v for v in x], dtype=float)
    except (TypeError, ValueError):
        return None
    return a if a.shape == shape else None


def open_results(store: str | os.PathLike):
    """The study's results as an :class:`xarray.Dataset`.

    Parameters
    ----------
    store : str or path
        The study store (local path or fsspec URL).

    Returns
    -------
    xarray.Dataset
        Dimension ``structure`` (``spec.n_structures``, 495 for the paper design) with
        ``theta(structure, parameter)``, ``<descriptor>_<AM|SE>``, ``m_factor_<AM|SE>``,
        ``tau_factor_<AM|SE>``, ``percolating_fraction_<AM|SE>`` and the provenance
        coordinates ``pair``, ``t``, ``point``, ``function``, ``h``, ``seed``; the gradient
        table ``gradient(gradient_point, gradient_function, parameter)``, ``base_mean``,
        ``perturbed_mean``; attributes ``spec`` (YAML), ``units`` (JSON), ``version``,
        ``complete`` (1 when every value is present) and the counts.  Values not yet
        computed are NaN (theta of a step whose gradient is pending is NaN as well).

    Raises
    ------
    InputError
        The store holds no study.
    """
    import xarray as xr

    from .coordinator import read_points, read_spec

    store = os.fspath(store)
    spec = read_spec(store)
    meta = read_record(store, STUDY_FILE) or {}
    selection = read_points(store)
    plan = StudyPlan(spec, selection)
    recs = _read_all(store, plan)
    points = interpolation_points(spec)
    n, per = spec.n_structures, spec.structures_per_point
    P, F, Q = len(points), len(FUNCTIONS), len(PARAMETERS)

    # gradient table
    gradient = np.full((P, F, Q), np.nan)
    base_mean = np.full((P, F), np.nan)
    perturbed_mean = np.full((P, F, Q), np.nan)
    grads: dict[int, np.ndarray] = {}
    for pt in points:
        rec = recs.get(record_path("gradient", f"p{pt.index:02d}"))
        if rec is None:
            continue
        g = _array(rec["gradient"], (F, Q))
        b = _array(rec["base_mean"], (F,))
        pm = _array(rec["perturbed_mean"], (F, Q))
        if g is None or b is None or pm is None:
            continue  # malformed: read as absent
        grads[pt.index] = g
        gradient[pt.index] = g
        base_mean[pt.index] = b
        perturbed_mean[pt.index] = pm

    # structures, in design order
    theta = np.full((n, Q), np.nan)
    pair = np.empty(n, dtype=object)
    t = np.full(n, np.nan)
    point = np.zeros(n, dtype=np.int64)
    function = np.empty(n, dtype=object)
    h = np.full(n, np.nan)
    seed = np.zeros(n, dtype=np.int64)
    values = {f"{name}_{ph}": np.full(n, np.nan) for name in DESCRIPTOR_FIELDS + CONDUCT_FIELDS
              for ph in STUDY_PHASES}
    present = 0
    for pt in points:
        design = point_structures(spec, pt, grads.get(pt.index))
        if pt.index not in grads:  # steps unknown until the gradient exists: provenance only
            k = 1
            for fn in spec.functions:
                for hv in spec.steps[fn]:
                    i = pt.index * per + k
                    pair[i], t[i], point[i], function[i], h[i] = pt.pair_name, pt.t, pt.index, fn, hv
                    seed[i] = structure_seed(spec, pt.index, k)
                    k += 1
        for s in design:
            i = s.index
            pair[i], t[i], point[i], function[i], h[i], seed[i] = pt.pair_name, pt.t, pt.index, s.function, \
                s.h, s.seed
            vol = structure_volume(i)
            srec = recs.get(record_path("structure", vol))
            th = None if srec is None else _array(srec["theta"], (Q,))
            if th is not None:
                theta[i] = th
                present += 1
            for ph in STUDY_PHASES:
                d = recs.get(record_path("describe-structure", f"{vol}-{ph}"))
                if d is not None:
                    present += 1
                    for name in DESCRIPTOR_FIELDS:
                        values[f"{name}_{ph}"][i] = _f(d.get(name))
                c = recs.get(record_path("conduct", f"{vol}-{ph}"))
                if c is not None:
                    present += 1
                    for name in CONDUCT_FIELDS:
                        values[f"{name}_{ph}"][i] = _f(c.get(name))

    data_vars = {
        "theta": (("structure", "parameter"), theta, {"long_name": "model parameters (paper Table 1 order)"}),
        "gradient": (("gradient_point", "gradient_function", "parameter"), gradient,
                     {"long_name": "forward-difference gradient, Eq. (10), a-component 0"}),
        "base_mean": (("gradient_point", "gradient_function"), base_mean,
                      {"long_name": f"mean over {spec.realizations} realizations at the point"}),
        "perturbed_mean": (("gradient_point", "gradient_function", "parameter"), perturbed_mean,
                           {"long_name": "mean at theta + delta e_q"}),
    }
    for key, arr in values.items():
        name, ph = key.rsplit("_", 1)
        data_vars[key] = (("structure",), arr, {"units": UNITS[name], "long_name": f"{_DESCRIPTIONS[name]}, {ph}"})
    coords = {
        "structure": np.arange(n),
        "parameter": list(PARAMETERS),
        "pair": (("structure",), pair.astype(str)),
        "t": (("structure",), t),
        "point": (("structure",), point),
        "function": (("structure",), function.astype(str)),
        "h": (("structure",), h),
        "seed": (("structure",), seed),
        "gradient_point": np.arange(P),
        "gradient_function": list(FUNCTIONS),
        "gradient_pair": (("gradient_point",), np.array([p.pair_name for p in points], dtype=str)),
        "gradient_t": (("gradient_point",), np.array([p.t for p in points])),
    }
    expected = sum(1 for stage in plan.expected().values() if stage in ("structure", "describe-structure", "conduct"))
    n_grads = len(plan.points)
    attrs = {
        "title": f"vmt-dask parameter study {spec.name!r}",
        "spec": meta.get("spec", spec.to_yaml()),
        "spec_identity": spec.identity(),
        "units": json.dumps(UNITS),
        "voxel_size_um": spec.voxel_size,
        "shape": list(spec.shape),
        "axis": spec.axis,
        "version": meta.get("version", __version__),
        "reader_version": __version__,
        "structures": n,
        "records_present": present,
        "records_expected": expected,
        "complete": int(present == expected and sum(p.index in grads for p in plan.points) == n_grads),
        "points": "all" if selection is None else ",".join(str(p) for p in selection),
    }
    ds = xr.Dataset(data_vars=data_vars, coords=coords, attrs=attrs)
    if selection is not None:  # only the selected points' structures and gradients
        keep = np.isin(point, list(selection))
        ds = ds.isel(structure=np.flatnonzero(keep), gradient_point=list(selection))
    return ds


def export_csv(store: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write the per-structure table (one row per structure, theta spread into columns) as CSV.

    The file is written under a temporary name and renamed when complete, so an interrupted
    export leaves the previous file (if any) as it was; ``out="-"`` writes to standard output.
    Returns the number of rows written.

    Raises
    ------
    InputError
        An empty output name, or an output path that is a directory.
    OSError
        The output cannot be written (missing directory, read-only, disk full).
    """
    from ..errors import InputError
    from ..storage import atomic_path

    if not str(os.fspath(out)).strip():
        raise InputError("CSV output '' is empty: give a file name")
    if os.fspath(out) != "-" and os.path.isdir(out):
        raise InputError(f"CSV output {os.fspath(out)!r} is a directory: give a file name")
    ds = open_results(store)
    df = ds.drop_dims(["gradient_point", "gradient_function", "parameter"]).to_dataframe()
    for j, p in enumerate(PARAMETERS):
        df[f"theta_{p}"] = ds["theta"].values[:, j]
    if os.fspath(out) == "-":
        import sys

        df.to_csv(sys.stdout)
        return len(df)
    with atomic_path(out) as tmp:
        df.to_csv(tmp)
    return len(df)


def read_curves(store: str | os.PathLike, structure: int, phase: str):
    """The CPSD and SMIP curves of one phase of one database structure, as stored by the study.

    The study's describe task stores, with each structure's descriptors, the two curves of the
    same constrictivity computation (paper Section 2.3; :func:`vmt_dask.descriptors.
    constrictivity` with ``curves=True``, its default conventions).

    Parameters
    ----------
    store : str or path
        The study store.
    structure : int
        Database structure index (``0 .. spec.n_structures - 1``; the ``structure`` dimension
        of :func:`open_results`).
    phase : {"SE", "AM"}

    Returns
    -------
    xarray.Dataset
        Dimension ``radius`` (float64, micrometres, ascending: every radius at which a curve
        can step, ``sqrt(k)`` voxels for the distinct squared distances ``k`` in the phase) with
        ``cpsd(radius)`` and ``smip(radius)`` (float64, volume fractions of the window,
        non-increasing).  Both are right-continuous step functions of ``r**2``: the value at
        ``radius[j]`` holds for ``radius[j-1] < r <= radius[j]``.  Attributes: ``structure``,
        ``phase``, ``volume_fraction``, ``r_min`` and ``r_max`` (micrometres: the largest radius
        with SMIP resp. CPSD ``>= volume_fraction / 2``), ``constrictivity`` ``(r_min / r_max)**2``,
        ``units`` (JSON).  A phase absent from the structure gives empty curves.

    Raises
    ------
    InputError
        No study in the store, a structure index or phase outside the study, or no curves for
        that structure yet (not described yet, or described by a version that did not store them).
    """
    import xarray as xr

    from ..errors import InputError
    from .coordinator import read_spec
    from .tasks import CURVES_KEY

    spec = read_spec(os.fspath(store))
    if isinstance(structure, bool) or not isinstance(structure, (int, np.integer)) \
            or not 0 <= int(structure) < spec.n_structures:
        raise InputError(f"structure {structure!r} is not an index 0..{spec.n_structures - 1} of this study")
    try:
        canonical = phase_name(phase) if isinstance(phase, str) else None
    except (ValueError, TypeError):
        canonical = None
    if canonical not in STUDY_PHASES:
        raise InputError(f"phase {phase!r} is not one of the study's phases {list(STUDY_PHASES)}")
    phase = canonical
    rel = record_path("describe-structure", f"{structure_volume(int(structure))}-{phase}")
    rec, damage = read_record_checked(os.fspath(store), rel)
    if rec is None or CURVES_KEY not in rec:
        why = (f"its record is damaged ({damage}); `vmt study run` recomputes it" if damage else
               "not described yet" if rec is None else
               "its record was written without curves (an older version); rerun its description to add them")
        raise InputError(f"no CPSD/SMIP curves for structure {int(structure)} phase {phase}: {why}")
    c = rec[CURVES_KEY]
    radius = np.asarray(c["radius_um"], dtype=np.float64)
    ds = xr.Dataset(
        {"cpsd": (("radius",), np.asarray(c["cpsd"], dtype=np.float64),
                  {"units": CURVE_UNITS["cpsd"], "long_name": "continuous phase size distribution CPSD(r)"}),
         "smip": (("radius",), np.asarray(c["smip"], dtype=np.float64),
                  {"units": CURVE_UNITS["smip"], "long_name": "simulated mercury intrusion porosimetry SMIP(r)"})},
        coords={"radius": ("radius", radius, {"units": CURVE_UNITS["radius"]})},
        attrs={"structure": int(structure), "phase": phase, "volume_fraction": _f(rec.get("volume_fraction")),
               "r_min": _f(rec.get("r_min")), "r_max": _f(rec.get("r_max")),
               "constrictivity": _f(rec.get("constrictivity")), "units": json.dumps(CURVE_UNITS)})
    return ds
