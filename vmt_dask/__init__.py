"""vmt-dask: distributed virtual materials testing of all-solid-state battery cathodes.

Layers, importing one way only:

* pure kernels (numpy in, numbers/arrays out): :mod:`vmt_dask.model`,
  :mod:`vmt_dask.descriptors`, :mod:`vmt_dask.conductivity`, :mod:`vmt_dask.regression`;
* storage and chunked wrappers: :mod:`vmt_dask.store`, :mod:`vmt_dask.volumes`,
  :func:`vmt_dask.model.realize_dask`;
* orchestration, CLI and service: :mod:`vmt_dask.study`, :mod:`vmt_dask.cli`.

Importing the package has no side effects; submodules are imported on demand.
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("vmt-dask")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
