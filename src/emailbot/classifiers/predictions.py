"""Per-example output of an evaluation (`emailbot model eval --predictions out.csv`): what the model said about
every row, so that a data scientist can read the mistakes instead of only their rate."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emailbot.classifiers.datafiles import Example
from emailbot.classifiers.model import TrainedModel

EXCERPT_CHARS = 80
HEADER = ("row", "id", "text", "true_label", "predicted", "confidence", "correct", "second", "second_confidence")
# A spreadsheet runs a cell that starts with one of these as a formula; email text is untrusted.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class PredictionRow:
    example: Example
    predicted: str
    confidence: float  # percent, as in a Classification
    second: str = ""
    second_confidence: float | None = None

    @property
    def correct(self) -> bool:
        return self.predicted == self.example.category


def model_rows(model: TrainedModel, examples: Sequence[Example]) -> list[PredictionRow]:
    """The model's top two categories and confidences for each example, one batch call."""
    if not examples:
        return []
    probabilities = model.probabilities([e.text for e in examples])
    order = np.argsort(-probabilities, axis=1)
    rows = []
    for i, example in enumerate(examples):
        best = int(order[i, 0])
        second = int(order[i, 1]) if probabilities.shape[1] > 1 else None
        rows.append(
            PredictionRow(
                example,
                model.categories[best],
                float(probabilities[i, best]) * 100,
                model.categories[second] if second is not None else "",
                float(probabilities[i, second]) * 100 if second is not None else None,
            )
        )
    return rows


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """One line, at most `limit` characters, never read as a formula by a spreadsheet."""
    line = " ".join(text.split())
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return "'" + line if line.startswith(FORMULA_START) else line


def write_predictions(path: Path, rows: Iterable[PredictionRow]) -> int:
    """Write the CSV (rows in file order); returns how many rows were written."""
    ordered = sorted(rows, key=lambda row: row.example.row)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for row in ordered:
            example = row.example
            second = "" if row.second_confidence is None else f"{row.second_confidence:.1f}"
            writer.writerow(
                [
                    example.row,
                    excerpt(example.ident) if example.ident else "",
                    "" if example.ident else excerpt(example.text),
                    example.category,
                    row.predicted,
                    f"{row.confidence:.1f}",
                    "true" if row.correct else "false",
                    row.second,
                    second,
                ]
            )
    return len(ordered)
