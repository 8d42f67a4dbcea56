"""Benchmarks: ``python -m vmt_dask.bench NAME [options]``.

Each benchmark is a module of this package exposing ``add_arguments(parser)`` and
``run(args) -> int``.  Benchmarks print figures next to peer tools measured in the
same run; nothing here is asserted in the test suite.
"""
