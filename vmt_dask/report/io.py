"""Reading study results and writing the regression table next to them.

Orchestration layer: used by ``vmt regress`` and ``vmt report``.
"""
from __future__ import annotations

import logging
import os
import posixpath

from ..errors import InputError
from ..storage.location import resolve

__all__ = ["load_results", "sibling_path", "save_table", "REGRESSION_GROUP"]

log = logging.getLogger(__name__)

#: Zarr group of the study store that holds the regression table.
REGRESSION_GROUP = "regression"


def load_results(store: str | os.PathLike):
    """The results Dataset of *store*.

    Parameters
    ----------
    store : str or path
        A study store written by ``vmt study`` (read with
        :func:`vmt_dask.study.open_results`), or any Zarr store holding a
        results Dataset (``docs/results-schema.md``) in its group
        ``results`` or at its root.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    InputError
        If *store* does not exist or holds neither.
    """
    import xarray as xr

    url = os.fspath(store)
    loc = resolve(url)
    if not loc.fs.exists(loc.root):
        raise InputError(f"store {url!r} does not exist")
    study_error: Exception | None = None
    try:
        from ..study import open_results
    except ImportError as exc:  # pragma: no cover - study package absent
        study_error = exc
    else:
        try:
            return open_results(url)
        except (InputError, FileNotFoundError, KeyError) as exc:
            study_error = exc
    for group in ("results", None):
        try:
            ds = xr.open_zarr(url, group=group, consolidated=False)
        except Exception:  # noqa: BLE001 - any failure means "not here"
            continue
        if "structure" in ds.dims:
            log.info("read results from Zarr group %r of %s", group or "/", url)
            return ds.load()
    raise InputError(
        f"store {url!r} holds no study results: not a study store ({study_error}) and no Zarr "
        "group 'results' or root Dataset with a 'structure' dimension"
    )


def sibling_path(store: str | os.PathLike, suffix: str) -> str:
    """Path next to *store*: ``study.zarr`` -> ``study<suffix>``.

    >>> sibling_path("/data/demo-study.zarr/", "-regression.csv")
    '/data/demo-study-regression.csv'
    """
    url = os.fspath(store).rstrip("/")
    local = resolve(url).local
    head, tail = os.path.split(url) if local else posixpath.split(url)
    stem = tail[:-5] if tail.endswith(".zarr") else tail
    name = stem + suffix
    return os.path.join(head, name) if local else posixpath.join(head, name)


def save_table(table, store: str | os.PathLike, *, csv: str | None = None, markdown: str | None = None,
               write_store: bool = True) -> dict[str, str]:
    """Store a :class:`~vmt_dask.regression.RegressionTable` beside the results.

    Writes the Dataset (:meth:`RegressionTable.to_dataset`) to the Zarr group
    :data:`REGRESSION_GROUP` of *store* (replacing an earlier one, leaving
    the rest of the store alone) and CSV and Markdown files, by default next
    to the store (``<stem>-regression.csv`` / ``.md``).

    Returns
    -------
    dict
        ``{"zarr": "<store>#regression", "csv": path, "markdown": path}`` of
        what was written.
    """
    from ..storage import atomic_group, write_output

    url = os.fspath(store)
    written: dict[str, str] = {}
    if write_store:
        ds = table.to_dataset()
        # written complete beside the old group, then renamed over it (old kept until then)
        with atomic_group(url, REGRESSION_GROUP) as target:
            ds.to_zarr(target, mode="w", consolidated=False)
        written["zarr"] = f"{url.rstrip('/')}#{REGRESSION_GROUP}"
    csv = csv or sibling_path(url, "-regression.csv")
    markdown = markdown or sibling_path(url, "-regression.md")
    write_output(csv, table.to_csv().encode("utf-8"))
    written["csv"] = csv
    write_output(markdown, ("# M-factor regression (paper Table 5)\n\n" + table.to_markdown()).encode("utf-8"))
    written["markdown"] = markdown
    return written
