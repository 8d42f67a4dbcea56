"""Statistics of label volumes used for model calibration (pure kernels: numpy in, numpy out)."""
from .two_point import lag_pair_counts, two_point_correlation, two_point_probability

__all__ = ["two_point_probability", "two_point_correlation", "lag_pair_counts"]
