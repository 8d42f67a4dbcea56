"""Label codes of the three phases; defined in :mod:`vmt_dask.domain`."""
from ..domain import AM, PHASES, PORE, SE, phase_label

__all__ = ["PORE", "SE", "AM", "PHASES", "phase_label"]
