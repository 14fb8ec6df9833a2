"""Confidence: the category token's probability, calibration on labelled data and feedback, the hybrid pool,
and `emailbot model eval/calibrate --classifier llm` against the fake server."""

from __future__ import annotations

import csv
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emailbot.classifiers.cli import app
from emailbot.classifiers.evaluation import expected_calibration_error
from emailbot.classifiers.llm.confidence import Calibrator, TokenLogprob, category_probability, fit_calibrator
from emailbot.classifiers.llm.evaluation import feedback_pairs
from emailbot.classifiers.llm.hybrid import HybridClassifier
from emailbot.classifiers.training import load_examples
from emailbot.domain import RawMessage
from emailbot.store.convert import classification_row, email_row
from emailbot.store.db import Database
from emailbot.store.tables import ClassificationRow, EmailRow, FeedbackRow
from emailbot.taxonomy import load_taxonomy
from tests.classifiers.conftest import DATA, make_email
from tests.classifiers.llm.conftest import BuildLLM
from tests.factories import make_classification
from tests.factories import make_email as make_full_email
from tests.fakes.openai_server import FakeOpenAI, brain

runner = CliRunner()


def test_category_probability_is_the_product_over_the_value_tokens() -> None:
    content = '{"category": "SUPPORT", "confidence": 90}'
    pieces = ['{"', "category", '": "', "SUP", "PORT", '", "', "confidence", '": ', "90", "}"]
    logprobs = [0.0, 0.0, 0.0, math.log(0.8), math.log(0.9), 0.0, 0.0, 0.0, math.log(0.5), 0.0]
    tokens = [TokenLogprob(t, lp) for t, lp in zip(pieces, logprobs, strict=True)]
    assert category_probability(content, tokens, "SUPPORT") == pytest.approx(0.72)
    assert category_probability(content, tokens[:-1], "SUPPORT") is None  # tokens do not spell the content
    assert category_probability(content, tokens, "INFORMATION") is None


def test_isotonic_calibration_fixes_an_overconfident_model(tmp_path: Path) -> None:
    raw = [0.95] * 50 + [0.6] * 50
    correct = [i % 5 < 3 for i in range(50)] + [i % 5 < 1 for i in range(50)]  # 60% and 20% right
    before = expected_calibration_error(raw, correct)
    calibrator = fit_calibrator(raw, correct)
    after = expected_calibration_error([calibrator(r) for r in raw], correct)
    assert before > 0.3
    assert after < 0.01
    assert calibrator(0.95) == pytest.approx(0.6)
    calibrator.save(tmp_path / "c.json")
    assert Calibrator.load(tmp_path / "c.json")(0.95) == pytest.approx(0.6)
    assert Calibrator.load(tmp_path / "missing.json")(0.42) == 0.42  # identity until fitted
    with pytest.raises(ValueError, match="at least"):
        fit_calibrator([0.5], [True])


async def test_hybrid_lowers_confidence_when_the_local_model_disagrees(
    make_llm: BuildLLM, openai_server: FakeOpenAI
) -> None:
    def always_purchasing(text: str, categories: list[str]) -> dict[str, Any]:
        return brain(text, categories) | {"category": "PURCHASING", "confidence": 90}

    openai_server.answer = always_purchasing
    hybrid = HybridClassifier(make_llm(), weight=0.7)
    agree, disagree = await hybrid.classify(
        [
            make_email("Quote for laptops", "Please send a quote for 10 laptops and docking stations."),
            make_email("VPN broken", "My VPN client shows an error and I cannot connect to the network."),
        ]
    )
    assert (agree.category, agree.classifier) == ("PURCHASING", "hybrid")
    assert disagree.category == "PURCHASING"
    assert agree.confidence > 80 > disagree.confidence
    local = hybrid.local_probabilities([make_email("VPN broken", "My VPN client shows an error.")])[0]
    assert disagree.raw_confidence == pytest.approx(100 * (0.7 * 0.9 + 0.3 * local["PURCHASING"]), abs=1)


async def test_feedback_gives_calibration_pairs(db: Database) -> None:
    async with db.transaction() as session:
        for n, (raw, corrected) in enumerate([(90.0, None), (80.0, "SUPPORT"), (70.0, "PURCHASING")]):
            email = make_full_email(subject=f"mail {n}")
            row = EmailRow(**email_row("local", RawMessage(f"s{n}", b"x"), email))
            session.add(row)
            await session.flush()
            classification = classification_row(row.id, make_classification("PURCHASING", raw))
            classification |= {"classifier": "llm", "raw_confidence": raw}
            session.add(ClassificationRow(**classification))
            kind = "category_corrected" if corrected else "draft_approved"
            session.add(
                FeedbackRow(email_id=row.id, kind=kind, original_category="PURCHASING", corrected_category=corrected)
            )
    pairs = await feedback_pairs(db.url, "llm")
    assert sorted(pairs) == [(0.7, True), (0.8, False), (0.9, True)]


def _env(monkeypatch: pytest.MonkeyPatch, server: FakeOpenAI, tmp_path: Path) -> None:
    values = {
        "EMAILBOT_LLM_BASE_URL": server.url,
        "EMAILBOT_LLM_API_KEY": "test-key",
        "EMAILBOT_LLM_MODEL": "fake-model",
        "EMAILBOT_MODEL_DIR": str(tmp_path / "models"),
        "EMAILBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_model_eval_reports_accuracy_and_calibration_for_the_llm(
    openai_server: FakeOpenAI, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, openai_server, tmp_path)
    data = str(DATA / "heldout.jsonl")
    result = runner.invoke(app, ["eval", data, "--classifier", "llm", "--limit", "8", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n"] == 8
    assert 0 <= report["ece"] <= 1
    assert 0 <= report["accuracy"] <= 1
    assert report["fallbacks"] == 0
    assert len(openai_server.classification_requests()) == 8
    out = tmp_path / "llm-predictions.csv"
    text = runner.invoke(app, ["eval", data, "--classifier", "hybrid", "--limit", "4", "--predictions", str(out)])
    assert text.exit_code == 0, text.output
    assert "ECE before calibration" in text.stdout
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    examples = load_examples(DATA / "heldout.jsonl")[:4]
    assert [row["true_label"] for row in rows] == [e.category for e in examples]
    assert all(row["predicted"] in load_taxonomy(None).names and 0 <= float(row["confidence"]) <= 100 for row in rows)
    assert all(row["correct"] == str(row["predicted"] == row["true_label"]).lower() for row in rows)


def test_model_calibrate_saves_a_map_the_classifier_loads(
    openai_server: FakeOpenAI, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, openai_server, tmp_path)
    from emailbot.store.migrate import upgrade

    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    starter = resources.files("emailbot.classifiers").joinpath("starter", "default.jsonl").read_text().splitlines()
    data = tmp_path / "labelled.jsonl"
    data.write_text("\n".join(starter[::12]) + "\n")  # 26 examples from every category
    result = runner.invoke(app, ["calibrate", str(data), "--classifier", "llm"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "models" / "calibration-llm.json").read_text())
    assert saved["n"] >= 20
    assert saved["prompt_version"]
    missing = runner.invoke(app, ["calibrate", "--classifier", "llm", "--no-feedback"])
    assert missing.exit_code == 2
    assert "at least" in missing.output
