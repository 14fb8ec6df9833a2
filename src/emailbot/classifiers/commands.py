"""What `emailbot model train|eval` do, kept out of `cli.py` so that the CLI imports no scikit-learn
until a command runs. Data problems end the command with exit code 2 and one line, never a traceback."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from emailbot.classifiers.datafiles import Columns, Example, read_examples
from emailbot.classifiers.evaluation import EvalReport, Predictions, cross_validate, evaluate, format_report, score
from emailbot.classifiers.model_store import ModelStore
from emailbot.classifiers.predictions import PredictionRow, model_rows, write_predictions
from emailbot.classifiers.training import source_of, timed_train
from emailbot.classifiers.versions import default_model_dir, fail, guarded, resolve


def load(path: Path | None, split: str | None, role: str, columns: Columns) -> list[Example]:
    """Usable examples of a file; skipped rows are reported on stderr (so `--json` output stays clean)."""
    if path is None:
        raise typer.BadParameter(f"no file for the {role} data: give DATA or --{role}")
    loaded = guarded(lambda: read_examples(path, split, columns))
    if loaded.skipped:
        typer.echo(f"{path}: {loaded.summary()}", err=True)
    return loaded.examples


@dataclass(frozen=True, slots=True)
class TrainRequest:
    data: Path
    split: str | None
    columns: Columns
    model_dir: Path | None
    cv: int
    promote: bool
    options: dict[str, Any]


def train(request: TrainRequest, examples: list[Example]) -> None:
    """Fit on all examples and save a candidate (or, with promote, the live model); report CV metrics if asked."""
    metrics: dict[str, float] = {}
    if request.cv:
        report = guarded(lambda: cross_validate(examples, request.cv, **request.options))
        metrics = {"folds": request.cv, "accuracy": report.accuracy, "macro_f1": report.macro_f1, "ece": report.ece}
    source = source_of(request.data, request.split, request.columns)
    model, seconds = guarded(lambda: timed_train(examples, source=source, cv_metrics=metrics, **request.options))
    store = ModelStore(request.model_dir or default_model_dir())
    live = store.latest_version()
    version = store.save(model, activate=request.promote)
    typer.echo(
        f"model {version}: {len(examples)} examples, {len(model.categories)} categories, trained in {seconds:.1f} s"
    )
    if metrics:
        typer.echo(
            f"{request.cv}-fold CV accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.1%}, "
            f"ECE {metrics['ece']:.1%}"
        )
    if request.promote:
        typer.echo(f"model {version} is now live (was {live or 'none'})")
    else:
        typer.echo(
            f"saved as a candidate; the live model is still {live or 'none'}. "
            f"Make it live with: emailbot model promote {version}"
        )


def eval_saved(
    reference: str,
    model_dir: Path | None,
    test_file: Path | None,
    test_part: str | None,
    columns: Columns,
    unknown: list[Example],
) -> tuple[EvalReport, list[PredictionRow]]:
    """Score a saved model without training anything; the result is recorded for `model list`."""
    test = load(test_file, test_part, "test", columns)
    data = f"{test_file}#{test_part}" if test_part else str(test_file)
    store, version = resolve(reference, model_dir)
    model = guarded(lambda: store.load(version))
    if not any(e.category in model.categories for e in test):
        fail(f"none of the {len(test)} test labels is a category of model {version} ({', '.join(model.categories)})")
    start = time.perf_counter()
    rows = model_rows(model, test)  # one prediction pass serves both the report and the predictions file
    known = [row for row in rows if row.example.category in model.categories]
    unseen = [row.confidence for row in rows if row.example.category not in model.categories]
    unseen += [row.confidence for row in model_rows(model, unknown)]
    labels, predicted = [row.example.category for row in known], [row.predicted for row in known]
    pooled = Predictions(labels, predicted, [row.confidence for row in known], unseen)
    per_text = 1000 * (time.perf_counter() - start) / max(len(test) + len(unknown), 1)
    report = score(pooled, mode=f"saved model {version}", predict_ms=per_text)
    store.record_eval(
        version,
        {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "data": data,
            "n": report.n,
            "accuracy": report.accuracy,
            "macro_f1": report.macro_f1,
            "ece": report.ece,
        },
    )
    return report, rows


def eval_train_test(
    train_set: list[Example], test: list[Example], unknown: list[Example], options: dict[str, Any]
) -> tuple[EvalReport, list[PredictionRow]]:
    model, seconds = guarded(lambda: timed_train(train_set, **options))
    report = replace(evaluate(model, test, unknown), mode="train/test", train_seconds=seconds)
    return report, model_rows(model, test)


def eval_cv(
    examples: list[Example], folds: int, unknown: list[Example], options: dict[str, Any]
) -> tuple[EvalReport, list[PredictionRow]]:
    rows: list[PredictionRow] = []
    report = guarded(lambda: cross_validate(examples, folds, unknown, collect=rows, **options))
    return report, rows


def show(report: EvalReport, rows: list[PredictionRow], predictions: Path | None, *, as_json: bool) -> None:
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_report(report))
    if predictions is not None:
        count = write_predictions(predictions, rows)
        typer.echo(f"{count} predictions written to {predictions}", err=True)
