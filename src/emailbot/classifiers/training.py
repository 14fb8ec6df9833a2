"""Training data in, a fitted TrainedModel out.

Data formats, chosen so that the public benchmarks and an operator's own export load without conversion:
- CSV with a header: `text,category` or `subject,body,category` (an optional `urgency` column is kept).
- JSONL: one object per line with the same fields.
- JSON: either a list of such objects, or an object of named splits whose items are `[text, label]` pairs
  (CLINC150's `data_full.json`); then a split must be chosen.
A bad row stops loading with the file and line (or split and item) named, because a silently skipped row in a
training file is a silent change of taxonomy.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from emailbot.classifiers.enrich import compose_text
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

STARTER_SOURCE = "starter:default"
STARTER_BACKGROUND = "starter:background"
DEFAULT_FOLDS = 5
LARGE = 5000  # from here on 3 calibration folds: each still trains on 3,300+ examples, and fitting is 1.5x faster
LARGE_FOLDS = 3


class DataError(ValueError):
    """A training or evaluation file cannot be used; the message names the file and the line or item."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    category: str
    urgency: str | None = None
    kind: str | None = None  # background examples: the kind of noise (spam, newsletter, thanks, ...)


def load_examples(path: Path, split: str | None = None) -> list[Example]:
    """Read labelled examples from a CSV, JSONL or JSON file (see the module docstring for the formats)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if split is not None and suffix != ".json":
        raise DataError(f"{path}: a split ({split!r}) can only be chosen in a .json file of named splits")
    if suffix == ".csv":
        examples = list(_read_csv(path))
    elif suffix == ".jsonl":
        examples = list(_read_jsonl(path))
    elif suffix == ".json":
        examples = _read_json(path, split)
    else:
        raise DataError(f"{path}: unknown format {suffix!r}; expected .csv, .jsonl or .json")
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def load_starter(name: str = "default") -> list[Example]:
    """A packaged starter file (`default` or `background`), read through importlib.resources (works from a wheel)."""
    text = resources.files("emailbot.classifiers").joinpath("starter", f"{name}.jsonl").read_text(encoding="utf-8")
    return [
        _example(_parse_json_line(line, f"starter/{name}.jsonl", n), f"starter/{name}.jsonl:{n}")
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


def source_of(path: Path, split: str | None = None) -> str:
    """How a model's meta.json records its training data, so that it can be retrained from the same data."""
    return str(path.resolve()) + (f"#{split}" if split else "")


def load_source(source: str) -> list[Example]:
    """Examples from a recorded source: `starter:<name>` or `<path>[#<split>]`."""
    if source.startswith("starter:"):
        return load_starter(source.removeprefix("starter:"))
    path, _, split = source.partition("#")
    return load_examples(Path(path), split or None)


def _read_csv(path: Path) -> Iterator[Example]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if "category" not in columns or not ({"text"} <= columns or {"subject", "body"} & columns):
            raise DataError(f"{path}:1: header needs 'category' and 'text' or 'subject'/'body'; got {sorted(columns)}")
        for row in reader:
            yield _example(row, f"{path}:{reader.line_num}")


def _read_jsonl(path: Path) -> Iterator[Example]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield _example(_parse_json_line(line, str(path), number), f"{path}:{number}")


def _parse_json_line(line: str, name: str, number: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{name}:{number}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise DataError(f"{name}:{number}: expected a JSON object, got {type(row).__name__}")
    return row


def _read_json(path: Path, split: str | None) -> list[Example]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, list):
        if split is not None:
            raise DataError(f"{path}: holds one list of examples, not named splits; drop the split {split!r}")
        return [_example(row, f"{path}: item {n}") for n, row in enumerate(data, start=1)]
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a list of examples or an object of named splits")
    if split is None or split not in data:
        wanted = "choose a split" if split is None else f"no split {split!r}"
        raise DataError(f"{path}: {wanted}; splits are {', '.join(sorted(data))}")
    return [_pair(item, f"{path}: split {split!r} item {n}") for n, item in enumerate(data[split], start=1)]


def _pair(item: Any, where: str) -> Example:
    if isinstance(item, dict):
        return _example(item, where)
    if not (isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item)):
        raise DataError(f"{where}: expected [text, label], got {str(item)[:80]}")
    return _example({"text": item[0], "category": item[1]}, where)


def _example(row: dict[str, Any], where: str) -> Example:
    """One validated example; `where` is 'file:line' or 'file: item n' and starts every error message."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object with 'category' and 'text' or 'subject'/'body'")
    category = row.get("category")
    if not isinstance(category, str) or not category.strip():
        raise DataError(f"{where}: missing or empty 'category'")
    fields = [row.get(key) for key in ("text", "subject", "body")]
    if any(value is not None and not isinstance(value, str) for value in fields):
        raise DataError(f"{where}: 'text', 'subject' and 'body' must be strings")
    text, subject, body = (value or "" for value in fields)
    text = text.strip() or compose_text(subject, body)
    if not text:
        raise DataError(f"{where}: no text (give 'text', or 'subject' and/or 'body')")
    urgency, kind = row.get("urgency"), row.get("kind")
    return Example(
        text=text,
        category=category.strip(),
        urgency=urgency if isinstance(urgency, str) else None,
        kind=kind.strip().lower() if isinstance(kind, str) and kind.strip() else None,
    )


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
