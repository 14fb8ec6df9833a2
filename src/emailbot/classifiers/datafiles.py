"""Labelled data files in, examples out, with the bad rows reported instead of stopping the run.

Formats, chosen so that the public benchmarks and an operator's own export load without conversion:
- CSV with a header: `text,category` or `subject,body,category` (an optional `urgency` column is kept).
- JSONL: one object per line with the same fields.
- JSON: either a list of such objects, or an object of named splits whose items are `[text, label]` pairs
  (CLINC150's `data_full.json`); then a split must be chosen.
`Columns` renames the text and label fields (`--text-column`, `--label-column`); an `id` field, when present,
names the example in per-example output.

A problem with the file as a whole (missing, unknown format, a named column that is not there, no usable row)
is a DataError. A problem with one row (empty text, missing label, not UTF-8, not JSON) skips that row and is
recorded in `Loaded.skipped`: the caller reports the count and the first rows, so nothing is dropped silently,
and one blank line in a 10,000-row export no longer costs the whole run. `load_examples` is the strict form
(the first bad row is an error) for data that must be exact, such as the packaged starter set.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from emailbot.classifiers.enrich import compose_text

SHOWN_SKIPS = 5  # rows named in the summary; the rest are counted
PAIR = "__pair__"  # marks a `[text, label]` pair read as an object: its fields are fixed, whatever the columns


class DataError(ValueError):
    """A training or evaluation file cannot be used; the message names the file and the line or item."""


class RowError(ValueError):
    """One row cannot be used; it is skipped and reported."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    category: str
    urgency: str | None = None
    kind: str | None = None  # background examples: the kind of noise (spam, newsletter, thanks, ...)
    # Where the example came from (line or item number) and its id column: for per-example output only, so two
    # examples with the same text and label are still equal.
    row: int = field(default=0, compare=False)
    ident: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Columns:
    """Which fields hold the text and the label. `text=None` means `text`, or `subject` and/or `body`."""

    text: str | None = None
    label: str = "category"
    ident: str = "id"

    def describe(self) -> str:
        return f"'{self.text}'" if self.text else "'text' or 'subject'/'body'"


@dataclass(frozen=True, slots=True)
class Skipped:
    where: str  # 'file:line' or 'file: item n'
    row: int
    reason: str


@dataclass(slots=True)
class Loaded:
    examples: list[Example]
    skipped: list[Skipped] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)  # every field name seen in a JSON object

    def summary(self) -> str:
        """One line for the terminal, empty when nothing was skipped."""
        if not self.skipped:
            return ""
        total = len(self.examples) + len(self.skipped)
        shown = "; ".join(f"row {s.row}: {s.reason}" for s in self.skipped[:SHOWN_SKIPS])
        more = f"; and {len(self.skipped) - SHOWN_SKIPS} more" if len(self.skipped) > SHOWN_SKIPS else ""
        return f"skipped {len(self.skipped)} of {total} rows ({shown}{more})"


DEFAULT_COLUMNS = Columns()


def read_examples(path: Path, split: str | None = None, columns: Columns = DEFAULT_COLUMNS) -> Loaded:
    """Every usable example of a CSV, JSONL or JSON file, plus the rows that were skipped and why."""
    loaded = _read(path, split, columns)
    if not loaded.examples:
        detail = f": {loaded.summary()}" if loaded.skipped else ""
        raise DataError(f"{path}: no examples{detail}")
    return loaded


def load_examples(path: Path, split: str | None = None, columns: Columns = DEFAULT_COLUMNS) -> list[Example]:
    """The strict form of `read_examples`: the first bad row is a DataError naming the file and line."""
    loaded = _read(path, split, columns)
    if loaded.skipped:
        first = loaded.skipped[0]
        raise DataError(f"{first.where}: {first.reason}")
    if not loaded.examples:
        raise DataError(f"{path}: no examples")
    return loaded.examples


def _read(path: Path, split: str | None, columns: Columns) -> Loaded:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if split is not None and suffix != ".json":
        raise DataError(f"{path}: a split ({split!r}) can only be chosen in a .json file of named splits")
    if suffix == ".csv":
        return _collect(_csv_rows(path, columns), columns)
    if suffix == ".jsonl":
        loaded = _collect(_jsonl_rows(path), columns)
    elif suffix == ".json":
        loaded = _collect(_json_rows(path, split), columns)
    else:
        raise DataError(f"{path}: unknown format {suffix!r}; expected .csv, .jsonl or .json")
    _check_fields(path, loaded.fields, columns)
    return loaded


def load_starter(name: str = "default") -> list[Example]:
    """A packaged starter file (`default` or `background`), read through importlib.resources (works from a wheel)."""
    text = resources.files("emailbot.classifiers").joinpath("starter", f"{name}.jsonl").read_text(encoding="utf-8")
    rows = ((f"starter/{name}.jsonl:{n}", n, line) for n, line in enumerate(text.splitlines(), start=1))
    loaded = _collect(((where, n, _parse_json_line(line)) for where, n, line in rows if line.strip()), Columns())
    if loaded.skipped:
        raise DataError(f"{loaded.skipped[0].where}: {loaded.skipped[0].reason}")
    return loaded.examples


# A row source yields (where, row number, parsed row or the RowError that made it unusable).
Row = tuple[str, int, "dict[str, Any] | RowError"]


def _collect(rows: Iterator[Row], columns: Columns) -> Loaded:
    loaded = Loaded([])
    for where, number, row in rows:
        try:
            if isinstance(row, RowError):
                raise row
            loaded.fields.update(row)
            loaded.examples.append(_example(row, columns, number))
        except RowError as exc:
            loaded.skipped.append(Skipped(where, number, str(exc)))
    return loaded


def _csv_rows(path: Path, columns: Columns) -> Iterator[Row]:
    # surrogateescape keeps reading past a byte sequence that is not UTF-8; the row holding it is skipped below.
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        _check_header(path, list(reader.fieldnames or ()), columns)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if any(_undecodable(value) for value in row.values() if isinstance(value, str)):
                yield where, reader.line_num, RowError("not valid UTF-8")
            else:
                yield where, reader.line_num, row


def _check_header(path: Path, names: list[str], columns: Columns) -> None:
    present = set(names)
    has_text = columns.text in present if columns.text else "text" in present or bool({"subject", "body"} & present)
    if columns.label not in present:
        raise DataError(f"{path}:1: no label column '{columns.label}'; columns are {', '.join(names) or 'none'}")
    if not has_text:
        raise DataError(f"{path}:1: no text column {columns.describe()}; columns are {', '.join(names)}")


def _jsonl_rows(path: Path) -> Iterator[Row]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield where, number, RowError("not valid UTF-8")
                continue
            if line.strip():
                yield where, number, _parse_json_line(line)


def _check_fields(path: Path, fields: set[str], columns: Columns) -> None:
    """A named field that no object has is a typo in the command, not a thousand bad rows."""
    if not fields or PAIR in fields:
        return
    present = ", ".join(sorted(fields))
    if columns.label not in fields:
        raise DataError(f"{path}: no label field '{columns.label}' in any row; fields are {present}")
    has_text = columns.text in fields if columns.text else bool({"text", "subject", "body"} & fields)
    if not has_text:
        raise DataError(f"{path}: no text field {columns.describe()} in any row; fields are {present}")


def _parse_json_line(line: str) -> dict[str, Any] | RowError:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return RowError(f"not valid JSON ({exc.msg})")
    if not isinstance(row, dict):
        return RowError(f"expected a JSON object, got {type(row).__name__}")
    return row


def _json_rows(path: Path, split: str | None) -> Iterator[Row]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not valid UTF-8") from None
    if isinstance(data, list):
        if split is not None:
            raise DataError(f"{path}: holds one list of examples, not named splits; drop the split {split!r}")
        for n, row in enumerate(data, start=1):
            yield f"{path}: item {n}", n, row if isinstance(row, dict) else RowError("expected an object")
        return
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a list of examples or an object of named splits")
    if split is None or split not in data:
        wanted = "choose a split" if split is None else f"no split {split!r}"
        raise DataError(f"{path}: {wanted}; splits are {', '.join(sorted(data))}")
    for n, item in enumerate(data[split], start=1):
        yield f"{path}: split {split!r} item {n}", n, _pair(item)


def _pair(item: Any) -> dict[str, Any] | RowError:
    """A `[text, label]` pair, read as an object with the default fields (columns name object fields only)."""
    if isinstance(item, dict):
        return item
    if not (isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item)):
        return RowError(f"expected [text, label], got {str(item)[:80]}")
    return {"text": item[0], "category": item[1], PAIR: True}


def _example(row: dict[str, Any], columns: Columns, number: int) -> Example:
    if row.get(PAIR):
        columns = DEFAULT_COLUMNS
    label = _field(row, columns.label)
    if not label.strip():
        raise RowError(f"missing or empty '{columns.label}'")
    if columns.text:
        text = _field(row, columns.text).strip()
    else:
        text = _field(row, "text").strip() or compose_text(_field(row, "subject"), _field(row, "body"))
    if not text:
        raise RowError(f"no text (empty {columns.describe()})")
    urgency, kind = row.get("urgency"), row.get("kind")
    ident = row.get(columns.ident)
    return Example(
        text=text,
        category=label.strip(),
        urgency=urgency if isinstance(urgency, str) else None,
        kind=kind.strip().lower() if isinstance(kind, str) and kind.strip() else None,
        row=number,
        ident=str(ident) if isinstance(ident, str | int) and str(ident).strip() else None,
    )


def _field(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError(f"'{name}' must be a string")
    return str(value)


def _undecodable(value: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in value)
