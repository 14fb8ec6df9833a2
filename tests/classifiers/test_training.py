from __future__ import annotations

import json
from pathlib import Path

import pytest

from emailbot.classifiers.model import BACKGROUND
from emailbot.classifiers.training import DataError, Example, load_examples, load_starter, train


def test_starter_set_is_big_varied_and_balanced() -> None:
    examples = load_starter()
    counts = {c: sum(e.category == c for e in examples) for c in {e.category for e in examples}}
    assert set(counts) == {"PURCHASING", "SUPPORT", "INFORMATION", "ESCALATION", "CONSULTATION"}
    assert min(counts.values()) >= 60
    assert len({e.text for e in examples}) == len(examples)
    assert all(e.urgency in {"LOW", "MEDIUM", "HIGH", "CRITICAL"} for e in examples)


def test_csv_with_text_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('text,category\n"hello, world",A\nbye,B\n')
    assert load_examples(path) == [Example("hello, world", "A"), Example("bye", "B")]


def test_csv_with_subject_and_body(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("subject,body,category,urgency\nPrinter,It jams,SUPPORT,LOW\n")
    assert load_examples(path) == [Example("Printer\nIt jams", "SUPPORT", "LOW")]


def test_jsonl_and_json_list(tmp_path: Path) -> None:
    rows = [{"subject": "VPN", "body": "down", "category": "SUPPORT"}, {"text": "quote", "category": "PURCHASING"}]
    jsonl, plain = tmp_path / "d.jsonl", tmp_path / "d.json"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    plain.write_text(json.dumps(rows))
    expected = [Example("VPN\ndown", "SUPPORT"), Example("quote", "PURCHASING")]
    assert load_examples(jsonl) == expected == load_examples(plain)


def test_json_splits_need_a_split(tmp_path: Path) -> None:
    path = tmp_path / "data_full.json"
    path.write_text(json.dumps({"train": [["book a flight", "travel"]], "oos_val": [["how tall is k2", "oos"]]}))
    assert load_examples(path, "oos_val") == [Example("how tall is k2", "oos")]
    with pytest.raises(DataError, match="choose a split; splits are oos_val, train"):
        load_examples(path)
    with pytest.raises(DataError, match="no split 'test'"):
        load_examples(path, "test")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"text": "a", "category": "X"}\n{"text": "b", "category": \n', r"bad\.jsonl:2: not valid JSON"),
        ("bad.jsonl", '{"text": "a", "category": "X"}\n{"text": "b"}\n', r"bad\.jsonl:2: missing or empty 'category'"),
        (
            "bad.jsonl",
            '{"category": "X"}\n',
            r"bad\.jsonl: no text field 'text' or 'subject'/'body' in any row; fields are category",
        ),
        ("bad.jsonl", '["a", "X"]\n', r"bad\.jsonl:1: expected a JSON object"),
        ("bad.csv", "text,category\nfine,A\nno label,\n", r"bad\.csv:3: missing or empty 'category'"),
        ("bad.csv", "message,label\nhi,A\n", r"bad\.csv:1: no label column 'category'; columns are message, label"),
        ("bad.json", '{"train": [["only text"]]}', r"bad\.json: split 'train' item 1: expected \[text, label\]"),
        ("bad.txt", "hello", r"bad\.txt: unknown format"),
        ("empty.csv", "text,category\n", r"empty\.csv: no examples"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_examples(path, "train" if name.endswith(".json") else None)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_examples(tmp_path / "nope.csv")


def test_split_only_for_json(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,category\na,B\n")
    with pytest.raises(DataError, match="can only be chosen in a .json"):
        load_examples(path, "train")


def test_training_needs_two_categories_and_two_examples_each() -> None:
    with pytest.raises(DataError, match="at least two categories"):
        train([Example("a", "X"), Example("b", "X")])
    with pytest.raises(DataError, match="fewer than 2 examples cannot be calibrated: Y"):
        train([Example("a", "X"), Example("b", "X"), Example("c", "Y")])
    with pytest.raises(DataError, match="reserved"):
        train([Example("a", BACKGROUND), Example("b", BACKGROUND), Example("c", "Y"), Example("d", "Y")])


def test_small_classes_still_train_with_fewer_folds() -> None:
    examples = [Example(f"printer jam {i}", "SUPPORT") for i in range(3)]
    examples += [Example(f"quote for laptops {i}", "PURCHASING") for i in range(3)]
    model = train(examples)
    assert model.categories == ("PURCHASING", "SUPPORT")
    assert model.probabilities(["the printer jams again"])[0].argmax() == 1
