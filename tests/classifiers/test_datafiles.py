"""Reading labelled files: chosen columns, bad rows skipped and reported, whole-file problems as clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emailbot.classifiers.datafiles import Columns, DataError, Example, read_examples
from emailbot.classifiers.training import load_source, source_of


def test_csv_with_chosen_columns_and_an_id(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("id,message,intent,category\nT-1,printer jam,SUPPORT,ignored\nT-2,need a quote,PURCHASING,x\n")
    loaded = read_examples(path, columns=Columns(text="message", label="intent"))
    assert loaded.examples == [Example("printer jam", "SUPPORT"), Example("need a quote", "PURCHASING")]
    assert [(e.row, e.ident) for e in loaded.examples] == [(2, "T-1"), (3, "T-2")]
    assert loaded.skipped == []


def test_jsonl_with_chosen_fields(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    rows = [{"body_text": "vpn down", "label": "SUPPORT"}, {"body_text": "opening hours?", "label": "INFORMATION"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    loaded = read_examples(path, columns=Columns(text="body_text", label="label"))
    assert loaded.examples == [Example("vpn down", "SUPPORT"), Example("opening hours?", "INFORMATION")]


@pytest.mark.parametrize(
    ("name", "content", "columns", "message"),
    [
        ("a.csv", "text,category\nhi,A\n", Columns(label="intent"), r"no label column 'intent'; columns are text, cat"),
        ("a.csv", "body_text,category\nhi,A\n", Columns(), r"no text column 'text' or 'subject'/'body'; columns are"),
        ("a.csv", "text,category\nhi,A\n", Columns(text="msg"), r"no text column 'msg'; columns are text, category"),
        ("a.jsonl", '{"text": "hi", "category": "A"}\n', Columns(label="y"), r"no label field 'y' in any row; fields"),
        ("a.jsonl", '{"text": "hi", "category": "A"}\n', Columns(text="t"), r"no text field 't' in any row; fields"),
    ],
)
def test_a_missing_column_names_it_and_the_ones_present(
    tmp_path: Path, name: str, content: str, columns: Columns, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_examples(path, columns=columns)


def test_bad_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    lines = [b"text,category", b"printer jam,SUPPORT", b",SUPPORT", b"no label,", b"caf\xe9 order,PURCHASING"]
    lines += [b"quote please,PURCHASING", b"   ,INFORMATION"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    loaded = read_examples(path)
    assert [e.text for e in loaded.examples] == ["printer jam", "quote please"]
    assert [(s.row, s.reason) for s in loaded.skipped] == [
        (3, "no text (empty 'text' or 'subject'/'body')"),
        (4, "missing or empty 'category'"),
        (5, "not valid UTF-8"),
        (7, "no text (empty 'text' or 'subject'/'body')"),
    ]
    assert loaded.summary().startswith("skipped 4 of 6 rows (row 3: no text")


def test_bad_jsonl_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b'{"text": "vpn down", "category": "SUPPORT"}\nnot json\n\n[1, 2]\n{"text": "\xff", "category": "X"}\n'
        b'{"text": "quote", "category": "PURCHASING"}\n{"text": "", "category": "SUPPORT"}\n'
    )
    loaded = read_examples(path)
    assert [e.text for e in loaded.examples] == ["vpn down", "quote"]
    assert [s.row for s in loaded.skipped] == [2, 4, 5, 7]  # the blank line 3 is not a row
    assert loaded.skipped[0].reason.startswith("not valid JSON")
    assert loaded.skipped[2].reason == "not valid UTF-8"


def test_the_summary_names_the_first_rows_only(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("text,category\nfine,A\n" + "".join(f"row {n},\n" for n in range(12)))
    summary = read_examples(path).summary()
    assert summary.startswith("skipped 12 of 13 rows (row 3:")
    assert "row 7:" in summary
    assert "row 8:" not in summary
    assert summary.endswith("and 7 more)")


def test_a_file_without_a_usable_row_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty_rows.csv"
    path.write_text("text,category\n,A\nhello,\n")
    with pytest.raises(DataError, match=r"empty_rows\.csv: no examples: skipped 2 of 2 rows"):
        read_examples(path)


def test_the_recorded_source_keeps_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("message,intent\nprinter jam,SUPPORT\nquote,PURCHASING\n")
    columns = Columns(text="message", label="intent")
    source = source_of(path, None, columns)
    assert source.endswith("export.csv|text=message|label=intent")
    assert load_source(source) == read_examples(path, columns=columns).examples
