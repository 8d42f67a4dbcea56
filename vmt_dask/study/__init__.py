"""The parameter study of paper Section 2.4 on Dask: spec, design, tasks, coordinator, results.

Public entry points: :class:`StudySpec` / :func:`load_spec` (validated designs and the
``paper``, ``demo`` and ``smoke`` presets), :func:`run_study` (the coordinator),
:func:`study_status` (state from the verified records and the lease), :func:`verify_study`,
:func:`open_results`, :func:`read_curves` (the stored CPSD/SMIP curves) and :func:`export_csv`.  The stage table and the state machine are in
:mod:`vmt_dask.study.stages`.
"""
from .coordinator import StudyRun, read_points, read_spec, run_study, stage_totals, study_status, verify_study
from .presets import PRESETS
from .results import export_csv, open_results, read_curves
from .spec import FUNCTIONS, PARAMETERS, StudySpec, load_spec, spec_from_dict

__all__ = [
    "StudySpec", "load_spec", "spec_from_dict", "PRESETS", "FUNCTIONS", "PARAMETERS",
    "run_study", "StudyRun", "read_spec", "read_points", "stage_totals", "study_status", "verify_study",
    "open_results", "export_csv", "read_curves",
]
