"""Expected outcomes from a CSV, and how well the replay met them.

The CSV names each email by `id`, `path`, `source_id` or `message_id` (a file's path relative to the replayed
folder, `mbox:<n>` for the n-th message of an mbox, or the Message-ID) and gives `category` and/or `action`
(also accepted: `expected_category`, `expected_action`). Precision of a value: of the labelled emails EmailBot
gave it, the share that expected it. Coverage: of the labelled emails that expected it, the share EmailBot gave it.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emailbot.store.outcomes import Outcome

ID_COLUMNS = ("id", "path", "source_id", "message_id", "message-id")
CATEGORY_COLUMNS = ("category", "expected_category")
ACTION_COLUMNS = ("action", "expected_action")


class LabelsError(Exception):
    """The labels file cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Expected:
    category: str | None
    action: str | None


@dataclass(frozen=True, slots=True)
class Score:
    value: str
    expected: int  # labelled emails that expected it
    given: int  # labelled emails EmailBot gave it
    correct: int
    precision: float | None  # 0-1; None when EmailBot never gave it
    coverage: float | None  # 0-1; None when no email expected it


def read_labels(path: Path) -> dict[str, Expected]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {name.strip().lower(): name for name in reader.fieldnames or ()}
            key, category, action = (
                _column(columns, names) for names in (ID_COLUMNS, CATEGORY_COLUMNS, ACTION_COLUMNS)
            )
            if key is None or (category is None and action is None):
                raise LabelsError(
                    f"{path}: needs an id column ({', '.join(ID_COLUMNS)}) and a category or action column"
                )
            return {
                row[key].strip(): Expected(_value(row, category), _value(row, action))
                for row in reader
                if (row.get(key) or "").strip()
            }
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LabelsError(f"{path}: {exc}") from exc


def _column(columns: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((columns[name] for name in names if name in columns), None)


def _value(row: dict[str, str], column: str | None) -> str | None:
    value = (row.get(column) or "").strip().upper() if column else ""
    return value or None


def match(outcomes: Iterable[Outcome], labels: dict[str, Expected]) -> list[tuple[Outcome, Expected]]:
    """Each outcome with its label, found by source id (path or mbox:<n>) or Message-ID."""
    pairs = []
    for outcome in outcomes:
        expected = labels.get(outcome.source_id) or (labels.get(outcome.message_id) if outcome.message_id else None)
        if expected is not None:
            pairs.append((outcome, expected))
    return pairs


def scores(pairs: list[tuple[str | None, str | None]]) -> list[Score]:
    """(expected, given) pairs, those without an expectation left out, scored per value."""
    labelled = [(expected, given or "") for expected, given in pairs if expected]
    expected_counts = Counter(expected for expected, _ in labelled)
    given_counts = Counter(given for _, given in labelled)
    correct = Counter(expected for expected, given in labelled if expected == given)
    values = sorted(set(expected_counts) | {g for g in given_counts if g})
    return [
        Score(
            value=value,
            expected=expected_counts[value],
            given=given_counts[value],
            correct=correct[value],
            precision=correct[value] / given_counts[value] if given_counts[value] else None,
            coverage=correct[value] / expected_counts[value] if expected_counts[value] else None,
        )
        for value in values
    ]
