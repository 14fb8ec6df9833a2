"""The learning loop: feedback becomes labels, accuracy and threshold advice; retraining keeps only better models."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from emailbot.classifiers.model_store import ModelStore
from emailbot.classifiers.training import Example
from emailbot.cli import app as cli
from emailbot.learning.feedback_data import Judged, examples, judged, labels, threshold_for_precision
from emailbot.learning.retrain import held_out, retrain_sync
from emailbot.learning.schedule import due, retrain_now
from emailbot.review import actions
from emailbot.runtime import Runtime, build_runtime
from emailbot.store.tables import EmailRow
from tests.factories import rfc822
from tests.runtime_fixtures import settings_for

NEW_WORDS = "Zorblax"  # a product the starter set has never heard of


def _judged(rows: list[tuple[float, bool]]) -> list[Judged]:
    return [
        Judged(n, confidence, "SUPPORT", "SUPPORT" if right else "PURCHASING")
        for n, (confidence, right) in enumerate(rows)
    ]


def test_threshold_for_a_target_precision() -> None:
    rows = [(90.0 + n, True) for n in range(10)]
    rows += [(74, True), (73, False), (72, True), (71, True), (70, False)]
    rows += [(50.0 + n, False) for n in range(5)]
    items = _judged(rows)
    ninety = threshold_for_precision(items, 0.90)
    assert (ninety.threshold, ninety.precision, ninety.coverage, ninety.reviewed) == (71, 13 / 14, 14 / 20, 20)
    assert threshold_for_precision(items, 0.95).threshold == 74
    assert threshold_for_precision(items, 0.5).threshold == 50
    assert threshold_for_precision(_judged([(99, True)] * 4), 0.9).threshold is None  # too few to be advice
    assert threshold_for_precision([], 0.9).threshold is None


async def _process(runtime: Runtime, subjects: list[str]) -> list[int]:
    folder = Path(runtime.settings.local_mailbox_dir) / "new"
    folder.mkdir(parents=True, exist_ok=True)
    for n, subject in enumerate(subjects):
        (folder / f"{n}.eml").write_bytes(rfc822(subject, f"{subject}. Could you sort this out, please?"))
    await runtime.engine.poll_once()
    await runtime.engine.drain()
    async with runtime.db.transaction() as session:
        return list(await session.scalars(select(EmailRow.id).order_by(EmailRow.id)))


async def test_feedback_gives_labels_judgements_and_training_text(runtime: Runtime) -> None:
    first, second, third = await _process(runtime, ["Printer jammed", "Order 3 monitors", "Opening hours?"])
    await actions.confirm(runtime, first, "op")
    await actions.correct_category(runtime, second, "CONSULTATION", "op")
    await actions.correct_category(runtime, second, "PURCHASING", "op")  # a correction of a correction
    async with runtime.db.transaction() as session:
        found = await labels(session)
        reviewed = await judged(session)
        texts = await examples(session, ("SUPPORT", "PURCHASING", "INFORMATION", "ESCALATION", "CONSULTATION"))
    assert third not in found
    assert found[second] == "PURCHASING"
    assert [item.email_id for item in reviewed] == [first, second]
    assert reviewed[0].correct
    assert {example.category for example in texts} == {found[first], "PURCHASING"}
    assert any(example.text.startswith("Order 3 monitors") for example in texts)


async def test_retraining_learns_the_corrections_and_the_service_uses_it(runtime: Runtime) -> None:
    subjects = [f"{NEW_WORDS} seat {n} for the {team} team" for n, team in enumerate(["sales", "hr", "it", "ops"] * 4)]
    email_ids = await _process(runtime, subjects)
    for email_id in email_ids:  # the starter model reads "seat" as purchasing; this team calls it consultation
        await actions.correct_category(runtime, email_id, "CONSULTATION", "op")
    before = runtime.classifier.version  # type: ignore[attr-defined]
    report = await retrain_now(runtime)
    assert report.activated, report
    assert report.feedback_examples == 16
    assert 0 < report.held_out < 16
    assert report.accuracy_after is not None
    assert report.accuracy_before is not None
    assert report.accuracy_after > report.accuracy_before
    assert runtime.classifier.version == report.version != before  # type: ignore[attr-defined]
    assert ModelStore(runtime.settings.model_dir).latest_version() == report.version
    meta = ModelStore(runtime.settings.model_dir).read_meta(str(report.version))
    assert meta["source"] == "starter:default+feedback"


def test_a_candidate_worse_on_held_out_feedback_is_kept_inactive(tmp_path: Path) -> None:
    runtime = build_runtime(settings_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    active = ModelStore(runtime.settings.model_dir).latest_version()
    model = runtime.classifier.model  # type: ignore[attr-defined]
    texts = [f"The printer on floor {n} is jammed again and prints nothing" for n in range(80)]
    held = [text for text in texts if held_out(Example(text, ""))]
    predicted = model.categories[int(model.probabilities_of(model.features.transform(held[:1])).argmax())]
    # The held-out emails say what the model says; the rest, word for word the same, say something else.
    feedback = [Example(text, predicted if text in held else "PURCHASING") for text in texts]
    report = retrain_sync(runtime.settings.model_dir, feedback)
    assert not report.activated
    assert report.accuracy_after is not None
    assert report.accuracy_before is not None
    assert report.accuracy_after < report.accuracy_before
    assert ModelStore(runtime.settings.model_dir).latest_version() == active
    assert report.version in ModelStore(runtime.settings.model_dir).versions()  # kept for inspection
    (recorded,) = ModelStore(runtime.settings.model_dir).evals(str(report.version))  # shown by `model list`
    assert (recorded["data"], recorded["accuracy"]) == ("held-out feedback", report.accuracy_after)
    asyncio.run(runtime.close())


async def test_the_schedule_waits_for_enough_new_feedback(runtime: Runtime) -> None:
    runtime.overrides["retrain_interval_hours"] = 0
    assert not await due(runtime)
    runtime.overrides["retrain_interval_hours"] = 0.0001  # due as soon as there is feedback enough
    assert not await due(runtime)
    email_ids = await _process(runtime, [f"Printer jam {n}" for n in range(runtime.settings.retrain_min_feedback)])
    for email_id in email_ids:
        await actions.confirm(runtime, email_id, "op")
    assert await due(runtime)


def test_cli_train_from_feedback(tmp_path: Path, sqlite_template: Path) -> None:
    database = tmp_path / "emailbot.db"
    database.write_bytes(sqlite_template.read_bytes())
    env = {
        "EMAILBOT_DATABASE_URL": f"sqlite:///{database}",
        "EMAILBOT_MODEL_DIR": str(tmp_path / "models"),
        "EMAILBOT_DATA_DIR": str(tmp_path / "var"),
        "EMAILBOT_LOCAL_MAILBOX_DIR": str(tmp_path / "mailbox"),
    }
    runner = CliRunner()
    empty = runner.invoke(cli, ["model", "train", "--from-feedback"], env=env)
    assert empty.exit_code == 0, empty.output
    assert "No feedback with a category yet" in empty.output

    async def review() -> None:
        runtime = build_runtime(settings_for(tmp_path, f"sqlite+aiosqlite:///{database}"))
        try:
            for email_id in await _process(runtime, [f"{NEW_WORDS} licence {n} renewal" for n in range(8)]):
                await actions.correct_category(runtime, email_id, "PURCHASING", "op")
        finally:
            await runtime.close()

    asyncio.run(review())
    trained = runner.invoke(cli, ["model", "train", "--from-feedback"], env=env)
    assert trained.exit_code == 0, trained.output
    assert "feedback examples 8" in trained.output
    version = (tmp_path / "models" / "LATEST").read_text().strip()
    assert json.loads((tmp_path / "models" / version / "meta.json").read_text())["source"].endswith("+feedback")
    neither = runner.invoke(cli, ["model", "train"], env=env)
    assert neither.exit_code == 2
    assert "--from-feedback" in neither.output
