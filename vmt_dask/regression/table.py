"""The regression table (paper Table 5) and its exports."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

import numpy as np

from .models import MODELS, get_model
from .result import FitResult
from .screening import Exclusion

__all__ = ["RegressionTable", "MAX_COEFFICIENTS"]

#: M4 has the most coefficients (c1..c5).
MAX_COEFFICIENTS = max(m.n_coefficients for m in MODELS.values())


def _fmt(x: float, spec: str = ".4g") -> str:
    return "–" if x is None or not np.isfinite(x) else format(x, spec)


def _fmt_coef(c: float) -> str:
    """Three decimals like Table 5 (1.98, -21.52, -0.002); small ones with
    two significant digits so they do not print as 0.000."""
    if not np.isfinite(c):
        return "–"
    return f"{c:.3f}" if abs(c) >= 0.01 or c == 0 else f"{c:.2g}"


@dataclass(frozen=True)
class RegressionTable:
    """All fitted predictors: coefficients, MAPE and R^2 per phase and model.

    Built by :func:`vmt_dask.regression.fit_all`.

    Attributes
    ----------
    phases, models : tuple of str
        Table layout (``("AM", "SE")``, ``("M1", .., "M4")``).
    fits : dict
        ``(phase, model) -> FitResult`` for every fit that could be done.
    skipped : dict
        ``(phase, model) -> reason`` for the others (the full one-line message).
    exclusions : dict
        ``(phase, model) -> tuple of Exclusion``: structures left out of a fit.
    seed : int or None
        Seed of the shared train/test split.
    train, test : ndarray of int
        The split of all structures (before exclusions).
    structure : ndarray
        The results' ``structure`` coordinate.
    labels : tuple of str
        Readable structure labels (coordinate and provenance).
    skip_reasons : dict
        ``(phase, model) -> reason`` without the exclusion summary, for :meth:`notes`
        (which lists exclusions per structure); falls back to ``skipped``.
    """

    phases: tuple[str, ...]
    models: tuple[str, ...]
    fits: dict[tuple[str, str], FitResult]
    skipped: dict[tuple[str, str], str]
    exclusions: dict[tuple[str, str], tuple[Exclusion, ...]]
    seed: int | None
    train: np.ndarray
    test: np.ndarray
    structure: np.ndarray
    labels: tuple[str, ...] = field(default=())
    skip_reasons: dict[tuple[str, str], str] = field(default_factory=dict)

    # -- queries ---------------------------------------------------------

    @property
    def n_structures(self) -> int:
        return int(self.structure.size)

    def status(self, phase: str, model: str) -> str:
        """``"ok"``, ``"not converged: ..."`` or ``"skipped: ..."``."""
        if (phase, model) in self.skipped:
            return f"skipped: {self.skipped[(phase, model)]}"
        res = self.fits[(phase, model)]
        if not res.converged:
            return f"not converged: {res.fit.message}"
        return "ok"

    @property
    def ok(self) -> bool:
        """Every fit was done and converged."""
        return not self.skipped and all(r.converged for r in self.fits.values())

    def notes(self) -> list[str]:
        """Everything the user must be told: skipped fits, exclusions, warnings.

        Exclusions are listed once per phase and structure, with the union of
        the reasons and the models they affect.
        """
        lines: list[str] = []
        for (phase, model), reason in self.skipped.items():
            lines.append(f"{phase} {model} not fitted: {self.skip_reasons.get((phase, model), reason)}")
        for phase in self.phases:
            by_pos: dict[int, tuple[Exclusion, list[str], list[str]]] = {}
            for model in self.models:
                for e in self.exclusions.get((phase, model), ()):
                    first, reasons, models = by_pos.setdefault(e.position, (e, [], []))
                    models.append(model)
                    reasons.extend(r for r in e.reasons if r not in reasons)
            if not by_pos:
                continue
            lines.append(f"{phase}: {len(by_pos)} of {self.n_structures} structure(s) excluded:")
            for pos in sorted(by_pos):
                e, reasons, models = by_pos[pos]
                which = "all models" if len(models) == len(self.models) else ", ".join(models)
                lines.append(f"  - {e.label} [{which}]: {'; '.join(reasons)}")
        for (phase, model), res in self.fits.items():
            for note in res.notes:
                if note.kind != "excluded":  # listed per structure above
                    lines.append(f"{phase} {model}: {note.text}")
        return lines

    # -- exports -----------------------------------------------------------

    def records(self) -> list[dict]:
        """One flat record per (phase, model), table order."""
        out = []
        for phase in self.phases:
            for model in self.models:
                rec: dict = {"phase": phase, "model": model, "formula": get_model(model).formula()}
                res = self.fits.get((phase, model))
                coefs = res.coefficients if res else ()
                for i in range(MAX_COEFFICIENTS):
                    rec[f"c{i + 1}"] = coefs[i] if i < len(coefs) else None
                rec.update(
                    mape_percent=res.mape if res else None,
                    r2=res.r2 if res else None,
                    mape_train_percent=res.mape_train if res else None,
                    r2_train=res.r2_train if res else None,
                    n_train=res.n_train if res else 0,
                    n_test=res.n_test if res else 0,
                    n_excluded=len(self.exclusions.get((phase, model), ())),
                    converged=bool(res.converged) if res else False,
                    status=self.status(phase, model),
                )
                out.append(rec)
        return out

    def to_csv(self) -> str:
        """The table in long form (one row per phase and model) as CSV text."""
        recs = self.records()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(recs[0]), lineterminator="\n")
        writer.writeheader()
        for r in recs:
            writer.writerow({k: ("" if v is None or (isinstance(v, float) and not np.isfinite(v)) else
                                 (repr(float(v)) if isinstance(v, float) else v)) for k, v in r.items()})
        return buf.getvalue()

    def to_json(self) -> dict:
        """JSON-serialisable dict: the records, the split, and all notes."""

        def clean(v):
            if isinstance(v, float) and not np.isfinite(v):
                return None
            return v

        return {
            "seed": self.seed,
            "n_structures": self.n_structures,
            "n_train": int(self.train.size),
            "n_test": int(self.test.size),
            "table": [{k: clean(v) for k, v in r.items()} for r in self.records()],
            "fits": {f"{p} {m}": r.to_dict() for (p, m), r in self.fits.items()},
            "skipped": {f"{p} {m}": reason for (p, m), reason in self.skipped.items()},
            "notes": self.notes(),
        }

    def _wide_rows(self, percent: str = "%") -> tuple[list[str], list[list[str]]]:
        header = ["model"]
        for phase in self.phases:
            header += [f"{phase} c{i + 1}" for i in range(MAX_COEFFICIENTS)]
            header += [f"{phase} MAPE", f"{phase} R²"]
        rows = []
        for model in self.models:
            row = [model]
            for phase in self.phases:
                res = self.fits.get((phase, model))
                coefs = res.coefficients if res else ()
                row += [_fmt_coef(coefs[i]) if i < len(coefs) else "" for i in range(MAX_COEFFICIENTS)]
                if res is None:
                    row += ["skipped", ""]
                else:
                    flag = "" if res.converged else "*"
                    row += [_fmt(res.mape, ".2f") + percent + flag, _fmt(res.r2, ".3f") + flag]
            rows.append(row)
        return header, rows

    def to_markdown(self) -> str:
        """Table-5-like Markdown: one row per model, AM and SE side by side,
        followed by the split, the formulas and every note."""
        header, rows = self._wide_rows()
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines.append("")
        lines.append(self._caption())
        lines.append("")
        for model in self.models:
            mdl = get_model(model)
            lines.append(f"- {model} (Eq. {mdl.equation}): M = {mdl.formula()}")
        notes = self.notes()
        if notes:
            lines.append("")
            lines.append("Notes:")
            lines.append("")
            lines += [f"- {n}" if not n.startswith("  ") else f"  {n}" for n in notes]
        return "\n".join(lines) + "\n"

    def _caption(self) -> str:
        n_excl = sum(len(v) for v in self.exclusions.values())
        text = (f"Coefficients fitted by least squares (Eq. 22, trust-region reflective) on the training set; MAPE (Eq. 23) "
                f"and R² (Eq. 24) on the test set. {self.n_structures} structures split with seed {self.seed}: "
                f"{self.train.size} training / {self.test.size} test.")
        if n_excl:
            text += " Structures a model cannot use are left out of its fit and scores (see the notes)."
        if any(not r.converged for r in self.fits.values()):
            text += " * = optimizer did not converge."
        return text

    def format_text(self) -> str:
        """Fixed-width text table for the terminal, then the notes."""
        header, rows = self._wide_rows()
        cols = list(zip(header, *rows))
        widths = [max(len(c) for c in col) for col in cols]
        out = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
        out += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
        out.append(self._caption())
        notes = self.notes()
        if notes:
            out.append("Notes:")
            out += [f"  {n}" for n in notes]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.format_text()

    def to_dataset(self):
        """The table as an :class:`xarray.Dataset`.

        Dimensions ``phase``, ``model``, ``coefficient`` (c1..c5) and
        ``structure``.  Variables: ``coefficient_value``, ``start_value``
        (NaN where a model has fewer coefficients or was skipped), ``mape``,
        ``r2``, ``mape_train``, ``r2_train``, ``n_train``, ``n_test``,
        ``n_excluded``, ``converged``, ``objective``, ``status``, ``formula``;
        per structure ``in_train`` (the shared split), ``predicted`` (NaN
        where not used) and ``exclusion_reason`` ("" where used).  Strings
        are stored as object arrays (Zarr v3 variable-length strings).
        """
        import xarray as xr

        P, M, C, N = len(self.phases), len(self.models), MAX_COEFFICIENTS, self.n_structures
        coef = np.full((P, M, C), np.nan)
        start = np.full((P, M, C), np.nan)
        scal = {k: np.full((P, M), np.nan) for k in ("mape", "r2", "mape_train", "r2_train", "objective")}
        ints = {k: np.zeros((P, M), dtype=np.int64) for k in ("n_train", "n_test", "n_excluded", "n_iter")}
        converged = np.zeros((P, M), dtype=bool)
        status = np.empty((P, M), dtype=object)
        predicted = np.full((P, M, N), np.nan)
        reason = np.full((P, M, N), "", dtype=object)
        for i, phase in enumerate(self.phases):
            for k, model in enumerate(self.models):
                status[i, k] = self.status(phase, model)
                excl = self.exclusions.get((phase, model), ())
                ints["n_excluded"][i, k] = len(excl)
                for e in excl:
                    reason[i, k, e.position] = e.reason
                res = self.fits.get((phase, model))
                if res is None:
                    continue
                coef[i, k, : len(res.coefficients)] = res.coefficients
                start[i, k, : len(res.fit.start)] = res.fit.start
                for name in ("mape", "r2", "mape_train", "r2_train"):
                    scal[name][i, k] = getattr(res, name)
                scal["objective"][i, k] = res.fit.objective
                ints["n_train"][i, k] = res.n_train
                ints["n_test"][i, k] = res.n_test
                ints["n_iter"][i, k] = res.fit.n_iter
                converged[i, k] = res.converged
                predicted[i, k, res.train] = res.predicted_train
                predicted[i, k, res.test] = res.predicted_test
        in_train = np.zeros(N, dtype=bool)
        in_train[self.train] = True
        pm = ("phase", "model")
        ds = xr.Dataset(
            {
                "coefficient_value": (pm + ("coefficient",), coef,
                                      {"long_name": "fitted coefficients c1..c5 (paper Table 5 order)"}),
                "start_value": (pm + ("coefficient",), start,
                                {"long_name": "starting values from log-linear least squares"}),
                "mape": (pm, scal["mape"], {"units": "percent", "long_name": "MAPE on the test set (Eq. 23)"}),
                "r2": (pm, scal["r2"], {"long_name": "R^2 on the test set (Eq. 24)"}),
                "mape_train": (pm, scal["mape_train"], {"units": "percent"}),
                "r2_train": (pm, scal["r2_train"]),
                "objective": (pm, scal["objective"], {"long_name": "g(C) of Eq. 22 at the solution"}),
                "n_train": (pm, ints["n_train"]),
                "n_test": (pm, ints["n_test"]),
                "n_excluded": (pm, ints["n_excluded"]),
                "n_iter": (pm, ints["n_iter"]),
                "converged": (pm, converged),
                "status": (pm, status),
                "formula": (("model",), np.array([get_model(m).formula() for m in self.models], dtype=object)),
                "in_train": (("structure",), in_train, {"long_name": "structure belongs to the training split"}),
                "predicted": (pm + ("structure",), predicted,
                              {"long_name": "predicted M-factor (NaN where the structure was not used)"}),
                "exclusion_reason": (pm + ("structure",), reason),
            },
            coords={
                "phase": np.array(self.phases, dtype=object),
                "model": np.array(self.models, dtype=object),
                "coefficient": np.array([f"c{i + 1}" for i in range(C)], dtype=object),
                "structure": self.structure,
            },
            attrs={
                "description": "M-factor regression (paper Section 2.6, Table 5)",
                "seed": -1 if self.seed is None else int(self.seed),
                "notes": json.dumps(self.notes()),
            },
        )
        return ds
