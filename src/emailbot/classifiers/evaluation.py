"""How good is a model, and, above all, can its confidence be trusted at the routing thresholds?

The report answers what the router needs: of the emails at or above a threshold, how many are right (precision)
and how many are there (coverage); whether "80%" means 80% (expected calibration error); and for mail that belongs
to no category, how much of it falls below each threshold (abstention recall), i.e. reaches a human.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from emailbot.classifiers.model import SEED, FloatArray, TrainedModel
from emailbot.classifiers.predictions import PredictionRow, model_rows
from emailbot.classifiers.training import Example, check_trainable, timed_train

THRESHOLDS: tuple[float, ...] = (40, 60, 85, 90, 95)
ECE_BINS = 15


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    threshold: float
    precision: float | None  # accuracy among predictions with confidence >= threshold; None if there are none
    coverage: float  # share of in-scope predictions with confidence >= threshold
    unknown_below: float | None  # share of unknown (out-of-scope) texts below threshold; None without unknowns


@dataclass(frozen=True, slots=True)
class EvalReport:
    n: int
    accuracy: float
    macro_f1: float
    ece: float
    thresholds: tuple[ThresholdRow, ...]
    n_unknown: int = 0
    n_categories: int = 0
    mode: str = ""
    train_seconds: float = 0.0  # mean seconds per model fit
    predict_ms: float = 0.0  # mean milliseconds per text, batch prediction

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Predictions:
    """Pooled predictions; confidences are percentages (0-100), as in a Classification."""

    labels: list[str]
    predicted: list[str]
    confidence: list[float]
    unknown_confidence: list[float]


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS) -> float:
    """ECE with equal-width bins over (0, 1]: bin b holds confidences in (b/bins, (b+1)/bins], 0 goes to the first.

    The weighted mean over bins of |accuracy - mean confidence|; confidences are fractions (0-1) here.
    """
    conf = np.asarray(confidence, dtype=float)
    hits = np.asarray(correct, dtype=float)
    if conf.size == 0:
        return 0.0
    index = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.mean() * abs(hits[members].mean() - conf[members].mean())
    return float(total)


def threshold_rows(
    confidence: Sequence[float],
    correct: Sequence[bool],
    unknown_confidence: Sequence[float] = (),
    thresholds: Sequence[float] = THRESHOLDS,
) -> tuple[ThresholdRow, ...]:
    """Precision, coverage and abstention recall at each threshold (confidences in percent)."""
    conf = np.asarray(confidence, dtype=float)
    hits = np.asarray(correct, dtype=bool)
    unknown = np.asarray(unknown_confidence, dtype=float)
    rows = []
    for threshold in thresholds:
        kept = conf >= threshold
        rows.append(
            ThresholdRow(
                threshold=float(threshold),
                precision=float(hits[kept].mean()) if kept.any() else None,
                coverage=float(kept.mean()) if conf.size else 0.0,
                unknown_below=float((unknown < threshold).mean()) if unknown.size else None,
            )
        )
    return tuple(rows)


def score(predictions: Predictions, thresholds: Sequence[float] = THRESHOLDS, **extra: Any) -> EvalReport:
    """Every metric of the report from pooled predictions."""
    correct = [p == t for p, t in zip(predictions.predicted, predictions.labels, strict=True)]
    n = len(correct)
    macro = f1_score(predictions.labels, predictions.predicted, average="macro", zero_division=0) if n else 0.0
    return EvalReport(
        n=n,
        accuracy=float(np.mean(correct)) if n else 0.0,
        macro_f1=float(macro),
        ece=expected_calibration_error([c / 100 for c in predictions.confidence], correct),
        thresholds=threshold_rows(predictions.confidence, correct, predictions.unknown_confidence, thresholds),
        n_unknown=len(predictions.unknown_confidence),
        n_categories=len(set(predictions.labels)),
        **extra,
    )


def predict(model: TrainedModel, texts: Sequence[str]) -> tuple[list[str], FloatArray]:
    """Top category and its confidence (percent) for each text, in one batch."""
    if not texts:
        return [], np.zeros(0)
    probabilities = model.probabilities(texts)
    best = probabilities.argmax(axis=1)
    return [model.categories[i] for i in best], probabilities.max(axis=1) * 100


def _predict_fold(model: TrainedModel, test: Sequence[Example], unknown: Sequence[Example]) -> Predictions:
    """Test rows whose label the model never saw count as unknowns, like the explicit unknown examples."""
    known = [e for e in test if e.category in model.categories]
    unseen = [e for e in test if e.category not in model.categories] + list(unknown)
    predicted, confidence = predict(model, [e.text for e in known])
    _, unknown_confidence = predict(model, [e.text for e in unseen])
    return Predictions([e.category for e in known], predicted, confidence.tolist(), unknown_confidence.tolist())


def evaluate(
    model: TrainedModel,
    test: Sequence[Example],
    unknown: Sequence[Example] = (),
    thresholds: Sequence[float] = THRESHOLDS,
) -> EvalReport:
    """Score an already trained model on `test` (and on out-of-scope `unknown` texts, if given)."""
    start = time.perf_counter()
    predictions = _predict_fold(model, test, unknown)
    elapsed = time.perf_counter() - start
    texts = len(test) + len(unknown)
    return score(predictions, thresholds, mode="test", predict_ms=1000 * elapsed / max(texts, 1))


def train_test(
    train_set: Sequence[Example],
    test: Sequence[Example],
    unknown: Sequence[Example] = (),
    thresholds: Sequence[float] = THRESHOLDS,
    **train_options: Any,
) -> EvalReport:
    """Train on one set, evaluate on another."""
    model, seconds = timed_train(train_set, **train_options)
    report = evaluate(model, test, unknown, thresholds)
    return replace(report, mode="train/test", train_seconds=seconds)


def cross_validate(
    examples: Sequence[Example],
    folds: int = 5,
    unknown: Sequence[Example] = (),
    thresholds: Sequence[float] = THRESHOLDS,
    seed: int = SEED,
    collect: list[PredictionRow] | None = None,
    **train_options: Any,
) -> EvalReport:
    """Stratified k-fold: every example is predicted once by a model that did not see it; metrics are pooled.

    Unknown examples are scored by every fold's model and pooled too (so each counts `folds` times). `collect`,
    when given, receives each example's out-of-fold prediction (for `--predictions`).
    """
    pooled, fit_seconds, predict_seconds = cross_validated_predictions(
        examples, folds, unknown, seed, collect, **train_options
    )
    texts = len(examples) + folds * len(unknown)
    return score(
        pooled,
        thresholds,
        mode=f"{folds}-fold cross-validation",
        train_seconds=fit_seconds / folds,
        predict_ms=1000 * predict_seconds / max(texts, 1),
    )


def cross_validated_predictions(
    examples: Sequence[Example],
    folds: int = 5,
    unknown: Sequence[Example] = (),
    seed: int = SEED,
    collect: list[PredictionRow] | None = None,
    **train_options: Any,
) -> tuple[Predictions, float, float]:
    """The pooled out-of-fold predictions behind `cross_validate`, plus total fit and predict seconds."""
    check_trainable(examples, folds)
    labels = [e.category for e in examples]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    pooled = Predictions([], [], [], [])
    fit_seconds = predict_seconds = 0.0
    for train_index, test_index in splitter.split(np.zeros(len(labels)), labels):
        model, seconds = timed_train([examples[i] for i in train_index], **train_options)
        fit_seconds += seconds
        start = time.perf_counter()
        _extend(pooled, _predict_fold(model, [examples[i] for i in test_index], unknown))
        predict_seconds += time.perf_counter() - start
        if collect is not None:
            collect.extend(model_rows(model, [examples[i] for i in test_index]))
    return pooled, fit_seconds, predict_seconds


def _extend(pooled: Predictions, fold: Predictions) -> None:
    pooled.labels.extend(fold.labels)
    pooled.predicted.extend(fold.predicted)
    pooled.confidence.extend(fold.confidence)
    pooled.unknown_confidence.extend(fold.unknown_confidence)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:5.1f}%"


def format_report(report: EvalReport, title: str = "") -> str:
    """A plain-text table, readable in a terminal and pasteable into Markdown."""
    lines = [title] if title else []
    lines.append(
        f"{report.mode}: n={report.n} in {report.n_categories} categories"
        + (f", {report.n_unknown} unknown" if report.n_unknown else "")
    )
    lines.append(
        f"accuracy {_percent(report.accuracy).strip()}  macro-F1 {_percent(report.macro_f1).strip()}  "
        f"ECE {_percent(report.ece).strip()}  train {report.train_seconds:.1f} s/fit  "
        f"predict {report.predict_ms:.2f} ms/text"
    )
    names = ["threshold", "precision", "coverage"] + (["unknown below"] if report.n_unknown else [])
    lines += ["", _row(names, names), "|" + "|".join("-" * (len(name) + 2) for name in names) + "|"]
    for row in report.thresholds:
        cells = [f"{row.threshold:g}", _percent(row.precision), _percent(row.coverage)]
        if report.n_unknown:
            cells.append(_percent(row.unknown_below))
        lines.append(_row(cells, names))
    return "\n".join(lines)


def _row(cells: Sequence[str], names: Sequence[str]) -> str:
    return "| " + " | ".join(cell.strip().rjust(len(name)) for cell, name in zip(cells, names, strict=True)) + " |"
