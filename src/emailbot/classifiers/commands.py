"""What `emailbot model train|eval|promote|list` do, kept out of `cli.py` so that the CLI imports no scikit-learn
until a command runs. Data problems end the command with exit code 2 and one line, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from emailbot.classifiers.datafiles import Columns, DataError, Example, read_examples
from emailbot.classifiers.evaluation import EvalReport, cross_validate, evaluate, format_report
from emailbot.classifiers.model_store import ModelStore, ModelStoreError
from emailbot.classifiers.predictions import PredictionRow, model_rows, write_predictions
from emailbot.classifiers.training import source_of, timed_train

T = TypeVar("T")


def fail(message: object) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def guarded(action: Callable[[], T]) -> T:
    """Run a step, turning a data or model-store problem into a one-line error instead of a traceback."""
    try:
        return action()
    except (DataError, ModelStoreError) as exc:
        fail(exc)


def load(path: Path | None, split: str | None, role: str, columns: Columns) -> list[Example]:
    """Usable examples of a file; skipped rows are reported on stderr (so `--json` output stays clean)."""
    if path is None:
        raise typer.BadParameter(f"no file for the {role} data: give DATA or --{role}")
    loaded = guarded(lambda: read_examples(path, split, columns))
    if loaded.skipped:
        typer.echo(f"{path}: {loaded.summary()}", err=True)
    return loaded.examples


def default_model_dir() -> Path:
    from emailbot.settings import SettingsError, load_settings

    try:
        return load_settings().model_dir
    except SettingsError as exc:
        fail(exc)


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


def resolve(reference: str, model_dir: Path | None) -> tuple[ModelStore, str]:
    """A saved model from a version id (or unique prefix, or `live`) in the model store, or a path to one."""
    path = Path(reference)
    if (path / "meta.json").is_file():
        store = ModelStore(path.resolve().parent)
        return store, path.resolve().name
    if (path / "LATEST").is_file():
        store = ModelStore(path)
        return store, guarded(lambda: store.resolve("live"))
    store = ModelStore(model_dir or default_model_dir())
    return store, guarded(lambda: store.resolve(reference))


def eval_saved(
    reference: str, model_dir: Path | None, test: list[Example], unknown: list[Example], data: str
) -> tuple[EvalReport, list[PredictionRow]]:
    """Score a saved model without training anything; the result is recorded for `model list`."""
    store, version = resolve(reference, model_dir)
    model = guarded(lambda: store.load(version))
    if not any(e.category in model.categories for e in test):
        fail(f"none of the {len(test)} test labels is a category of model {version} ({', '.join(model.categories)})")
    report = replace(evaluate(model, test, unknown), mode=f"saved model {version}")
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
    return report, model_rows(model, test)


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


def promote(reference: str, model_dir: Path | None) -> None:
    """Make a saved version live; it must load with this scikit-learn, or the service could not use it."""
    store, version = resolve(reference, model_dir)
    guarded(lambda: store.load(version))
    previous = store.latest_version()
    store.activate(version)
    typer.echo(f"model {version} is now live (was {previous or 'none'}); the running service picks it up shortly")


def list_versions(model_dir: Path | None, *, as_json: bool) -> None:
    store = ModelStore(model_dir or default_model_dir())
    live = store.latest_version()
    items = [_describe(store, version, live) for version in store.versions()]
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    if not items:
        typer.echo(f"no saved models in {store.model_dir}")
        return
    for item in reversed(items):
        typer.echo(_line(item))


def _describe(store: ModelStore, version: str, live: str | None) -> dict[str, Any]:
    try:
        meta = store.read_meta(version)
    except (ModelStoreError, ValueError) as exc:
        return {"version": version, "live": version == live, "error": str(exc)}
    return {
        "version": version,
        "live": version == live,
        "trained_at": meta.get("trained_at") or meta.get("created_at"),
        "source": meta.get("source", ""),
        "training_size": meta.get("training_size"),
        "categories": len(meta.get("categories", [])),
        "cv_metrics": meta.get("cv_metrics", {}),
        "evals": store.evals(version),
    }


def _line(item: dict[str, Any]) -> str:
    marker = "* live" if item["live"] else "      "
    if "error" in item:
        return f"{marker} {item['version']}  unreadable: {item['error']}"
    scores = []
    cv = item["cv_metrics"]
    if cv.get("accuracy") is not None:
        scores.append(f"CV accuracy {cv['accuracy']:.1%}")
    if item["evals"]:
        last = item["evals"][-1]
        scores.append(f"eval accuracy {last['accuracy']:.1%} on {last['n']} of {last['data']}")
    return (
        f"{marker} {item['version']}  trained {item['trained_at']}  {item['training_size']} examples, "
        f"{item['categories']} categories from {item['source'] or '?'}" + (f"; {'; '.join(scores)}" if scores else "")
    )
