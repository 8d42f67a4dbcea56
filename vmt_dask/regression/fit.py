"""Fitting the M-factor predictors to a study's results (paper Section 2.6): the API.

:func:`fit` fits one predictor for one phase and :func:`fit_all` the whole Table 5 on a study
results Dataset (``docs/results-schema.md``): screen the structures
(:mod:`~vmt_dask.regression.screening`), split them (:mod:`~vmt_dask.regression.split`), solve
Eq. (22) on the training part (:mod:`~vmt_dask.regression.solver`) and score on the test part
(:mod:`~vmt_dask.regression.metrics`).  Module layering, no cycle:
``models <- solver <- screening <- result <- table <- fit``.
"""
from __future__ import annotations

import logging
from typing import Iterable

import numpy as np

from ..errors import InputError
from .metrics import mape, r2
from .models import MODEL_NAMES, Model, get_model, predict
from .result import FitResult, TooFewStructures
from .screening import PHASES, Exclusion, check_phase, check_results, screen, structure_labels, summarise
from .solver import Note, fit_power_law
from .split import DEFAULT_SEED, train_test_split
from .table import RegressionTable

__all__ = ["fit", "fit_all"]

log = logging.getLogger(__name__)


def fit(
    results,
    *,
    phase: str,
    model: str | Model,
    seed: int | None = DEFAULT_SEED,
    n_train: int | None = None,
    split: tuple[np.ndarray, np.ndarray] | None = None,
) -> FitResult:
    """Fit one predictor for one phase and score it on the test set.

    Parameters
    ----------
    results : xarray.Dataset
        Study results with dimension ``structure`` (``docs/results-schema.md``).
    phase : {"AM", "SE"}
        Phase whose M-factor is predicted.
    model : {"M1", "M2", "M3", "M4"}
        Predictor, Eqs. (18)-(21).
    seed : int, default 0
        Seed of the train/test split (recorded in the result).
    n_train : int, optional
        Training-set size; default 331 of 495, two thirds otherwise.
    split : (train, test) arrays of int, optional
        Explicit structure positions; overrides *seed* and *n_train* (the
        split :func:`fit_all` shares among all fits).

    Returns
    -------
    FitResult
        Coefficients (paper Table 5 order), MAPE and R^2 on the test set,
        the structures excluded and why, and the solver's report.

    Raises
    ------
    InputError
        If a needed variable is missing, the phase or model is unknown, or
        there are too few structures to split.
    TooFewStructures
        An InputError: too few usable structures remain on either side of
        the split after the exclusions (the message lists them).

    Notes
    -----
    All structures are split first, so every model and phase sees the same
    training and test structures; a structure that a model cannot use
    (see :func:`screen`) is then dropped from that model's fit and scoring
    and listed in ``exclusions``.  Fit: Eq. (22); scores: Eqs. (23), (24).
    """
    phase = check_phase(phase)
    mdl = get_model(model)
    n = check_results(results)
    usable, desc, observed, exclusions = screen(results, phase=phase, model=mdl)
    if split is None:
        try:
            train_all, test_all = train_test_split(n, seed=seed, n_train=n_train)
        except ValueError as exc:
            raise InputError(f"cannot fit {mdl.name} for {phase}: {exc}") from None
    else:
        train_all, test_all = (np.asarray(a, dtype=int) for a in split)
    train = train_all[usable[train_all]]
    test = test_all[usable[test_all]]
    need_train = mdl.n_coefficients + 1
    if train.size < need_train or test.size < 2:
        reason = (f"too few usable structures to fit {mdl.name} for {phase}: {train.size} for training "
                  f"(need {need_train}) and {test.size} for testing (need 2) of {n}")
        excl = f"; excluded {len(exclusions)} of {n}: {summarise(exclusions)}" if exclusions else ""
        raise TooFewStructures(reason + excl, reason)
    notes: list[Note] = []
    if exclusions:
        notes.append(Note("excluded", f"excluded {len(exclusions)} of {n} structures: {summarise(exclusions)}"))
        log.info("%s %s: %s", phase, mdl.name, notes[-1].text)
    d_train = {k: v[train] for k, v in desc.items()}
    d_test = {k: v[test] for k, v in desc.items()}
    plf = fit_power_law(mdl, d_train, observed[train])
    notes.extend(plf.notes)
    for note in plf.notes:
        log.info("%s %s: %s", phase, mdl.name, note.text)
    p_train = predict(mdl, plf.coefficients, d_train)
    p_test = predict(mdl, plf.coefficients, d_test)

    def score(obs, pred, which):
        try:
            r = r2(obs, pred)
        except ValueError as exc:
            notes.append(Note("r2_undefined", f"R^2 on the {which} set: {exc}"))
            r = float("nan")
        return mape(obs, pred), r

    mape_test, r2_test = score(observed[test], p_test, "test")
    mape_train, r2_train = score(observed[train], p_train, "training")
    return FitResult(
        phase=phase,
        model=mdl.name,
        coefficients=tuple(float(c) for c in plf.coefficients),
        mape=mape_test,
        r2=r2_test,
        mape_train=mape_train,
        r2_train=r2_train,
        train=train,
        test=test,
        observed_train=observed[train],
        predicted_train=p_train,
        observed_test=observed[test],
        predicted_test=p_test,
        exclusions=tuple(exclusions),
        fit=plf,
        seed=seed,
        notes=tuple(notes),
    )


def fit_all(
    results,
    *,
    phases: Iterable[str] = PHASES,
    models: Iterable[str] = MODEL_NAMES,
    seed: int | None = DEFAULT_SEED,
    n_train: int | None = None,
):
    """Fit every predictor for every phase: the whole Table 5.

    Parameters
    ----------
    results : xarray.Dataset
        Study results (``docs/results-schema.md``).
    phases : iterable of str, default ("AM", "SE")
    models : iterable of str, default ("M1", "M2", "M3", "M4")
    seed : int, default 0
        Seed of the train/test split, shared by all fits.
    n_train : int, optional
        Training-set size; default 331 of 495, two thirds otherwise.

    Returns
    -------
    RegressionTable
        The fits; a (phase, model) that cannot be fitted (missing variable,
        too few usable structures) is recorded in ``skipped`` with the reason
        instead of raising, so one bad column does not hide the others.

    Raises
    ------
    InputError
        If the results have no ``structure`` dimension or fewer than 3
        structures (nothing can be split).
    """
    phases = tuple(check_phase(p) for p in phases)
    models = tuple(get_model(m).name for m in models)
    n = check_results(results)
    try:
        split = train_test_split(n, seed=seed, n_train=n_train)
    except ValueError as exc:
        raise InputError(f"cannot fit the regression models: {exc}") from None
    fits: dict[tuple[str, str], FitResult] = {}
    skipped: dict[tuple[str, str], str] = {}
    skip_reasons: dict[tuple[str, str], str] = {}
    exclusions: dict[tuple[str, str], tuple[Exclusion, ...]] = {}
    for phase in phases:
        for model in models:
            try:
                res = fit(results, phase=phase, model=model, seed=seed, split=split)
            except InputError as exc:
                skipped[(phase, model)] = str(exc)
                skip_reasons[(phase, model)] = exc.reason if isinstance(exc, TooFewStructures) else str(exc)
                log.info("skipped %s %s: %s", phase, model, exc)
                try:
                    exclusions[(phase, model)] = tuple(screen(results, phase=phase, model=model)[3])
                except InputError:
                    exclusions[(phase, model)] = ()
                continue
            fits[(phase, model)] = res
            exclusions[(phase, model)] = res.exclusions
    labels = structure_labels(results)
    return RegressionTable(
        phases=phases,
        models=models,
        fits=fits,
        skipped=skipped,
        exclusions=exclusions,
        seed=seed,
        train=split[0],
        test=split[1],
        structure=np.asarray(results["structure"].values) if "structure" in results.coords else np.arange(n),
        labels=tuple(labels),
        skip_reasons=skip_reasons,
    )
