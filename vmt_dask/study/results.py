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
from .design import interpolation_points, point_structures, structure_seed
from .layout import STUDY_FILE, StoreFS, record_path, structure_volume
from .spec import FUNCTIONS, PARAMETERS

__all__ = ["open_results", "export_csv", "DESCRIPTOR_FIELDS", "UNITS"]

#: Descriptor fields recorded per phase (docs/results-schema.md).
DESCRIPTOR_FIELDS = ("volume_fraction", "specific_surface_area", "tortuosity_mean", "tortuosity_std",
                     "tortuosity_reached", "constrictivity", "r_min", "r_max")
#: Conductivity fields recorded per phase.
CONDUCT_FIELDS = ("m_factor", "tau_factor", "percolating_fraction")

UNITS = {
    "volume_fraction": "1", "specific_surface_area": "1/micrometre", "tortuosity_mean": "1",
    "tortuosity_std": "1", "tortuosity_reached": "1 (fraction of start voxels)", "constrictivity": "1",
    "r_min": "micrometre", "r_max": "micrometre", "m_factor": "1 (sigma_eff / sigma_0)",
    "tau_factor": "1", "percolating_fraction": "1",
}
_DESCRIPTIONS = {
    "volume_fraction": "volume fraction (point count)",
    "specific_surface_area": "specific surface area (Crofton, 13 directions)",
    "tortuosity_mean": "mean geodesic tortuosity along the transport axis",
    "tortuosity_std": "standard deviation of geodesic tortuosity",
    "tortuosity_reached": "fraction of start-plane voxels connected to the target plane",
    "constrictivity": "constrictivity (r_min / r_max)^2",
    "r_min": "r_min (SMIP, from the start plane)",
    "r_max": "r_max (continuous pore size distribution)",
    "m_factor": "M-factor sigma_eff / sigma_0 along the transport axis",
    "tau_factor": "tau factor eps / M",
    "percolating_fraction": "fraction of the phase connected to both faces",
}


def _read_all(fs: StoreFS) -> dict[str, dict]:
    rels = sorted(fs.list_records())
    if not rels:
        return {}
    paths = [fs.path(r) for r in rels]
    raw = fs.fs.cat(paths)
    out = {}
    for rel, p in zip(rels, paths):
        data = raw.get(p)
        if data is None:  # pragma: no cover - listing race with a deleting --new
            continue
        out[rel] = json.loads(data)
    return out


def _f(x) -> float:
    return math.nan if x is None else float(x)


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

    from .coordinator import read_spec

    store = os.fspath(store)
    spec = read_spec(store)
    fs = StoreFS(store)
    meta = fs.read_json(STUDY_FILE)
    recs = _read_all(fs)
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
        g = np.array(rec["gradient"], dtype=float)
        grads[pt.index] = g
        gradient[pt.index] = g
        base_mean[pt.index] = np.array(rec["base_mean"], dtype=float)
        perturbed_mean[pt.index] = np.array(rec["perturbed_mean"], dtype=float)

    # structures, in design order
    theta = np.full((n, Q), np.nan)
    pair = np.empty(n, dtype=object)
    t = np.full(n, np.nan)
    point = np.zeros(n, dtype=np.int64)
    function = np.empty(n, dtype=object)
    h = np.full(n, np.nan)
    seed = np.zeros(n, dtype=np.int64)
    values = {f"{name}_{ph}": np.full(n, np.nan) for name in DESCRIPTOR_FIELDS + CONDUCT_FIELDS
              for ph in ("AM", "SE")}
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
            if srec is not None:
                theta[i] = srec["theta"]
                present += 1
            for ph in ("AM", "SE"):
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
    expected = n * 5
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
        "complete": int(present == expected and len(grads) == P),
    }
    return xr.Dataset(data_vars=data_vars, coords=coords, attrs=attrs)


def export_csv(store: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write the per-structure table (one row per structure, theta spread into columns) as CSV.

    Returns the number of rows written.
    """
    ds = open_results(store)
    df = ds.drop_dims(["gradient_point", "gradient_function", "parameter"]).to_dataframe()
    for j, p in enumerate(PARAMETERS):
        df[f"theta_{p}"] = ds["theta"].values[:, j]
    df.to_csv(out)
    return len(df)
