"""Training data in, a fitted TrainedModel out. Reading the files is `datafiles`' job (re-exported here)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emailbot.classifiers.datafiles import (
    DEFAULT_COLUMNS,
    Columns,
    DataError,
    Example,
    load_examples,
    load_starter,
    read_examples,
)
from emailbot.classifiers.model import (
    DEFAULT_CALIBRATION,
    DEFAULT_NULL_MARGIN,
    GENERIC_NOISE,
    HIDDEN_PREFIX,
    Calibration,
    TrainedModel,
    build_classifier,
    build_features,
    noise_class,
)
from emailbot.domain import NOISE_KINDS

__all__ = ["Columns", "DataError", "Example", "load_examples", "load_starter", "read_examples"]

STARTER_SOURCE = "starter:default"
STARTER_BACKGROUND = "starter:background"
DEFAULT_FOLDS = 5
LARGE = 5000  # from here on 3 calibration folds: each still trains on 3,300+ examples, and fitting is 1.5x faster
LARGE_FOLDS = 3


def source_of(path: Path, split: str | None = None, columns: Columns = DEFAULT_COLUMNS) -> str:
    """How a model's meta.json records its training data, so that it can be retrained from the same data:
    `<path>[#<split>]`, plus `|text=NAME|label=NAME` for columns other than the defaults."""
    source = str(path.resolve()) + (f"#{split}" if split else "")
    if columns.text:
        source += f"|text={columns.text}"
    if columns.label != DEFAULT_COLUMNS.label:
        source += f"|label={columns.label}"
    return source


def load_source(source: str) -> list[Example]:
    """Examples from a recorded source: `starter:<name>` or `<path>[#<split>][|text=..][|label=..]`. Bad rows are
    skipped, as they were when the model was first trained from that file."""
    if source.startswith("starter:"):
        return load_starter(source.removeprefix("starter:"))
    location, *options = source.split("|")
    named = dict(option.partition("=")[::2] for option in options)
    columns = Columns(text=named.get("text") or None, label=named.get("label") or DEFAULT_COLUMNS.label)
    path, _, split = location.partition("#")
    return read_examples(Path(path), split or None, columns).examples


def check_trainable(examples: Sequence[Example], folds: int) -> int:
    """The number of calibration folds to use; every category needs two examples at least (one to hold out)."""
    counts = Counter(example.category for example in examples)
    reserved = sorted(category for category in counts if category.startswith(HIDDEN_PREFIX))
    if reserved:
        raise DataError(f"names starting with {HIDDEN_PREFIX!r} are reserved for background examples: {reserved}")
    if len(counts) < 2:
        raise DataError(f"training needs at least two categories; got {sorted(counts) or 'none'}")
    rare = sorted(category for category, count in counts.items() if count < 2)
    if rare:
        raise DataError(f"categories with fewer than 2 examples cannot be calibrated: {', '.join(rare)}")
    return max(2, min(folds, min(counts.values())))


def train(
    examples: Sequence[Example],
    *,
    calibration: Calibration = DEFAULT_CALIBRATION,
    null_margin: float | None = DEFAULT_NULL_MARGIN,
    folds: int | None = None,
    source: str = "",
    cv_metrics: dict[str, float] | None = None,
    background: Sequence[Example] = (),
    background_source: str = "",
) -> TrainedModel:
    """Fit features and calibrated SVM on `examples`; their categories become the model's label set.

    `background` examples (their labels are ignored) train a hidden class that only lowers the confidence of
    out-of-scope look-alikes; see `emailbot.classifiers.model`. `folds` (calibration folds) defaults to 5, or 3
    for large sets. Folds run one after the other: in parallel on this project's 2-vCPU machines, 15,000 texts
    took 38 s instead of 28 s (measured), the SVM being memory-bound and the matrix copied to each worker.
    """
    if folds is None:
        folds = LARGE_FOLDS if len(examples) >= LARGE else DEFAULT_FOLDS
    folds = check_trainable(examples, folds)
    hidden = background_labels(background, folds)
    rows = [*examples, *(Example(e.text, label) for e, label in zip(background, hidden, strict=True))]
    if background:
        folds = max(2, min(folds, *Counter(hidden).values()))
    features = build_features()
    matrix = features.fit_transform([row.text for row in rows])
    classifier = build_classifier(calibration, folds)
    classifier.fit(matrix, [row.category for row in rows])
    return TrainedModel(
        features=features,
        classifier=classifier,
        calibration=calibration,
        null_margin=null_margin,
        training_size=len(examples),
        source=source,
        cv_metrics=dict(cv_metrics or {}),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        background_source=background_source if background else "",
    )


def background_labels(background: Sequence[Example], folds: int) -> list[str]:
    """One hidden class per kind of noise; a kind unknown, unnamed or too rare to calibrate joins not_a_request.

    An operator's background file may name the kind in `kind` or, lacking it, in `category`.
    """
    kinds = [_kind(example) for example in background]
    counts = Counter(kinds)
    return [noise_class(kind if counts[kind] >= folds else GENERIC_NOISE) for kind in kinds]


def _kind(example: Example) -> str:
    kind = (example.kind or example.category).strip().lower()
    return kind if kind in NOISE_KINDS else GENERIC_NOISE


def timed_train(examples: Sequence[Example], **options: Any) -> tuple[TrainedModel, float]:
    """`train`, plus how many seconds it took (reported by the CLI and the evaluation)."""
    start = time.perf_counter()
    model = train(examples, **options)
    return model, time.perf_counter() - start
