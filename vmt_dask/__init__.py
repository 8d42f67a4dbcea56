"""vmt-dask: distributed virtual materials testing of all-solid-state battery cathodes.

Layers, each importing only from the layers below it (``docs/conventions.md``, "Layers";
checked by ``tests/test_layering.py``):

* foundation: :mod:`vmt_dask.domain` (each domain fact once), :mod:`vmt_dask.errors`
  (the exception contract), :mod:`vmt_dask.validation` (input checks);
* kernels, NumPy in and NumPy out: :mod:`vmt_dask.model`, :mod:`vmt_dask.descriptors`,
  :mod:`vmt_dask.conductivity`, :mod:`vmt_dask.regression`, :mod:`vmt_dask.statistics`;
* storage, input and chunked wrappers: :mod:`vmt_dask.storage` (local and fsspec stores),
  :mod:`vmt_dask.store`, :mod:`vmt_dask.io` (users' image files), :mod:`vmt_dask.chunked`
  (:func:`~vmt_dask.chunked.realize_dask`, a realization as a dask array);
* orchestration, service and interfaces: :mod:`vmt_dask.study`, :mod:`vmt_dask.dashboard`,
  :mod:`vmt_dask.report`, :mod:`vmt_dask.calibrate`, :mod:`vmt_dask.cli`,
  :mod:`vmt_dask.bench`.

Importing the package has no side effects; submodules are imported on demand.
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("vmt-dask")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
