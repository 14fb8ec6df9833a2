"""`emailbot model eval --model`, `--predictions`, `train` (candidate) / `--promote`, `promote` and `list`."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emailbot.classifiers.cli import app
from emailbot.classifiers.evaluation import evaluate
from emailbot.classifiers.model import TrainedModel
from emailbot.classifiers.model_store import ModelStore
from emailbot.classifiers.training import load_examples
from tests.classifiers.conftest import DATA
from tests.shared_data import shared_data

runner = CliRunner()
HELDOUT = DATA / "heldout.jsonl"


@pytest.fixture
def store(tmp_path: Path, starter_model: TrainedModel) -> ModelStore:
    """Two saved versions of the starter model: the first is live, the second a candidate."""
    store = ModelStore(tmp_path / "models")
    live = store.save(starter_model)
    store.save(starter_model, activate=False)
    assert store.latest_version() == live
    return store


def _live_and_candidate(store: ModelStore) -> tuple[str, str]:
    live = store.latest_version()
    (candidate,) = [version for version in store.versions() if version != live]
    assert live is not None
    return live, candidate


def _invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_eval_of_a_saved_model_scores_it_without_training(store: ModelStore) -> None:
    live, candidate = _live_and_candidate(store)
    code, out, err = _invoke("eval", str(HELDOUT), "--model", candidate, "--model-dir", str(store.model_dir), "--json")
    assert code == 0, err
    report = json.loads(out)
    expected = evaluate(store.load(candidate), load_examples(HELDOUT))
    assert report["mode"] == f"saved model {candidate}"
    for key in ("n", "accuracy", "macro_f1", "ece", "n_categories"):
        assert report[key] == getattr(expected, key)
    assert report["train_seconds"] == 0.0
    assert sorted(store.versions()) == sorted([live, candidate])  # nothing new was trained and saved
    assert store.latest_version() == live
    assert store.evals(candidate)[0]["accuracy"] == expected.accuracy
    assert store.evals(live) == []


def test_eval_accepts_a_path_a_prefix_and_live(store: ModelStore) -> None:
    live, candidate = _live_and_candidate(store)
    by_path = _invoke("eval", str(HELDOUT), "--model", str(store.model_dir / candidate), "--json")
    assert by_path[0] == 0, by_path[2]
    assert json.loads(by_path[1])["mode"] == f"saved model {candidate}"
    by_store = _invoke("eval", str(HELDOUT), "--model", str(store.model_dir), "--json")
    assert json.loads(by_store[1])["mode"] == f"saved model {live}"
    by_live = _invoke("eval", str(HELDOUT), "--model", "live", "--model-dir", str(store.model_dir), "--json")
    assert json.loads(by_live[1])["mode"] == f"saved model {live}"
    unknown = _invoke("eval", str(HELDOUT), "--model", "2001", "--model-dir", str(store.model_dir))
    assert unknown[0] == 2
    assert "no model version '2001'" in unknown[2]


def test_predictions_csv_matches_the_models_own_predictions(store: ModelStore, tmp_path: Path) -> None:
    live = store.latest_version()
    assert live is not None
    out = tmp_path / "predictions.csv"
    code, _, err = _invoke(
        "eval", str(HELDOUT), "--model", "live", "--model-dir", str(store.model_dir), "--predictions", str(out)
    )
    assert code == 0, err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    examples = load_examples(HELDOUT)
    model = store.load(live)
    probabilities = model.probabilities([e.text for e in examples])
    assert len(rows) == len(examples) == len(probabilities)
    for row, example, proba in zip(rows, examples, probabilities, strict=True):
        best, second = np.argsort(-proba)[:2]
        assert row["true_label"] == example.category
        assert row["predicted"] == model.categories[best]
        assert float(row["confidence"]) == pytest.approx(100 * proba[best], abs=0.05)
        assert row["second"] == model.categories[second]
        assert float(row["second_confidence"]) == pytest.approx(100 * proba[second], abs=0.05)
        assert row["correct"] == ("true" if model.categories[best] == example.category else "false")
        assert " ".join(example.text.split()).startswith(row["text"].rstrip("…"))
    assert [int(row["row"]) for row in rows] == list(range(1, len(rows) + 1))  # JSONL line numbers
    assert f"{len(rows)} predictions written" in err


def test_cross_validation_writes_one_out_of_fold_prediction_per_row(tmp_path: Path) -> None:
    data = tmp_path / "small.csv"
    topics = {"SUPPORT": "printer jammed", "PURCHASING": "quote for laptops", "INFORMATION": "opening hours"}
    data.write_text(
        "id,text,category\n" + "".join(f"T{c}{n},{t} {n},{c}\n" for c, t in topics.items() for n in range(6))
    )
    out = tmp_path / "cv.csv"
    code, report, err = _invoke("eval", str(data), "--cv", "3", "--predictions", str(out), "--json")
    assert code == 0, err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [row["row"] for row in rows] == [str(n) for n in range(2, 20)]
    assert rows[0]["id"] == "TSUPPORT0"
    assert rows[0]["text"] == ""  # the id names the example, so no text is copied out
    assert sum(row["correct"] == "true" for row in rows) / len(rows) == json.loads(report)["accuracy"]


def test_spreadsheet_formulas_in_text_are_neutralised(store: ModelStore, tmp_path: Path) -> None:
    data = tmp_path / "formula.csv"
    data.write_text('text,category\n"=HYPERLINK(""http://x"")",SUPPORT\nprinter jam,SUPPORT\n')
    out = tmp_path / "p.csv"
    code, _, err = _invoke(
        "eval", str(data), "--model", "live", "--model-dir", str(store.model_dir), "--predictions", str(out)
    )
    assert code == 0, err
    assert next(csv.DictReader(out.open(encoding="utf-8")))["text"].startswith("'=HYPERLINK")


def test_eval_skips_bad_rows_with_a_count(store: ModelStore, tmp_path: Path) -> None:
    data = tmp_path / "export.csv"
    data.write_text("message,label\nmy password expired,SUPPORT\n,SUPPORT\nquote for 3 laptops,PURCHASING\nhi,\n")
    args = ["eval", str(data), "--model", "live", "--model-dir", str(store.model_dir)]
    code, out, err = _invoke(*args, "--text-column", "message", "--label-column", "label", "--json")
    assert code == 0, err
    assert "skipped 2 of 4 rows (row 3: no text (empty 'message'); row 5: missing or empty 'label')" in err
    assert json.loads(out)["n"] == 2
    missing = _invoke(*args, "--label-column", "intent")
    assert missing[0] == 2
    assert "no label column 'intent'; columns are message, label" in missing[2]


def test_a_file_without_usable_rows_exits_2(store: ModelStore, tmp_path: Path) -> None:
    data = tmp_path / "nothing.csv"
    data.write_text("text,category\n,SUPPORT\nhello,\n")
    code, _, err = _invoke("eval", str(data), "--model", "live", "--model-dir", str(store.model_dir))
    assert code == 2
    assert "nothing.csv: no examples: skipped 2 of 2 rows" in err
    assert _invoke("train", str(data), "--model-dir", str(store.model_dir))[0] == 2


def test_train_saves_a_candidate_and_promote_makes_it_live(tmp_path: Path, store: ModelStore) -> None:
    live = store.latest_version()
    before = set(store.versions())
    data = tmp_path / "export.csv"
    lines = [
        f"{text} {n},{cat}" for cat, text in (("SUPPORT", "printer jam"), ("PURCHASING", "quote")) for n in range(4)
    ]
    data.write_text("body_text,intent\n" + "\n".join(lines) + "\n")
    args = ["train", str(data), "--model-dir", str(store.model_dir), "--cv", "0"]
    code, out, err = _invoke(*args, "--text-column", "body_text", "--label-column", "intent")
    assert code == 0, err
    (new,) = set(store.versions()) - before
    assert store.latest_version() == live
    assert f"saved as a candidate; the live model is still {live}" in out
    assert store.read_meta(new)["source"].endswith("export.csv|text=body_text|label=intent")
    code, out, err = _invoke("promote", new[:22], "--model-dir", str(store.model_dir))
    assert code == 0, err
    assert store.latest_version() == new
    assert f"model {new} is now live (was {live})" in out


def test_promote_refuses_what_the_service_could_not_load(store: ModelStore) -> None:
    live, candidate = _live_and_candidate(store)
    meta_path = store.model_dir / candidate / "meta.json"
    meta_path.write_text(json.dumps(json.loads(meta_path.read_text()) | {"sklearn_version": "0.1"}))
    code, _, err = _invoke("promote", candidate, "--model-dir", str(store.model_dir))
    assert code == 2
    assert "retrain it" in err
    assert store.latest_version() == live


def test_train_with_promote_goes_live_at_once(tmp_path: Path, store: ModelStore) -> None:
    before = set(store.versions())
    data = tmp_path / "d.csv"
    data.write_text("text,category\n" + "".join(f"printer {n},SUPPORT\nquote {n},PURCHASING\n" for n in range(3)))
    code, _, err = _invoke("train", str(data), "--model-dir", str(store.model_dir), "--cv", "0", "--promote")
    assert code == 0, err
    (new,) = set(store.versions()) - before
    assert store.latest_version() == new
    refused = _invoke("train", "--from-feedback", "--promote", "--model-dir", str(store.model_dir))
    assert refused[0] == 2


def test_list_shows_live_source_and_scores(store: ModelStore) -> None:
    live, candidate = _live_and_candidate(store)
    assert _invoke("eval", str(HELDOUT), "--model", candidate, "--model-dir", str(store.model_dir))[0] == 0
    code, out, err = _invoke("list", "--model-dir", str(store.model_dir))
    assert code == 0, err
    (candidate_line,) = [line for line in out.splitlines() if f" {candidate}  trained " in line]
    (live_line,) = [line for line in out.splitlines() if f" {live}  trained " in line]
    assert live_line.startswith("* live ")
    assert not candidate_line.startswith("* live")
    accuracy = store.evals(candidate)[0]["accuracy"]
    assert f"eval accuracy {accuracy:.1%} on " in candidate_line
    assert "from starter:default" in live_line
    items = json.loads(_invoke("list", "--model-dir", str(store.model_dir), "--json")[1])
    assert {item["version"]: item["live"] for item in items} == {live: True, candidate: False}


def test_banking77_subset_trains_a_candidate_and_scores_it(tmp_path: Path) -> None:
    path = shared_data("banking77", "train.csv")
    examples = load_examples(path)
    wanted = set(sorted({e.category for e in examples})[:8])
    subset = [e for e in examples if e.category in wanted]
    random.Random(0).shuffle(subset)
    for name, part in (("train.csv", subset[:320]), ("test.csv", subset[320:480])):
        with (tmp_path / name).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([("text", "category"), *((e.text, e.category) for e in part)])
    models = str(tmp_path / "models")
    code, out, err = _invoke("train", str(tmp_path / "train.csv"), "--model-dir", models, "--cv", "0")
    assert code == 0, err
    assert ModelStore(tmp_path / "models").latest_version() is None  # a candidate only
    version = ModelStore(tmp_path / "models").versions()[0]
    out_csv = tmp_path / "p.csv"
    code, out, err = _invoke(
        "eval",
        str(tmp_path / "test.csv"),
        "--model",
        version,
        "--model-dir",
        models,
        "--predictions",
        str(out_csv),
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["n"] == 160
    assert report["accuracy"] > 0.7
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert sum(row["correct"] == "true" for row in rows) / len(rows) == report["accuracy"]
