"""Retraining on the feedback: starter data (or the model's own training data) plus every labelled review.

A quarter of the feedback is held out; the candidate is trained on the rest and both it and the active model are
scored on the held-out emails. The candidate becomes active only if it is not worse there, so a handful of odd
corrections cannot make EmailBot worse overnight. Calibration is refitted with every training (see `train`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from emailbot.classifiers.model import TrainedModel
from emailbot.classifiers.model_store import ModelNotFoundError, ModelStore
from emailbot.classifiers.training import STARTER_BACKGROUND, STARTER_SOURCE, Example, load_source, train
from emailbot.learning.feedback_data import examples as feedback_examples
from emailbot.store.db import Database

log = logging.getLogger(__name__)
FEEDBACK_SOURCE = "feedback"
HOLDOUT_SHARE = 4  # every 4th labelled email (by a stable hash) is held out


@dataclass(frozen=True, slots=True)
class RetrainReport:
    version: str | None
    activated: bool
    previous_version: str | None
    feedback_examples: int
    training_examples: int
    held_out: int
    accuracy_before: float | None
    accuracy_after: float | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def held_out(example: Example) -> bool:
    """A stable split: the same email is held out every time, whatever else arrives."""
    return int(hashlib.sha256(example.text.encode()).hexdigest()[:8], 16) % HOLDOUT_SHARE == 0


def accuracy(model: TrainedModel, items: list[Example]) -> float:
    matrix = model.features.transform([item.text for item in items])
    predicted = np.argmax(model.probabilities_of(matrix), axis=1)
    return float(np.mean([model.categories[p] == item.category for p, item in zip(predicted, items, strict=True)]))


def base_examples(current: TrainedModel | None) -> tuple[list[Example], list[Example], str]:
    """What the active model was trained on (when it can still be read), else the starter set; plus background."""
    source = current.source if current and current.source and current.source != FEEDBACK_SOURCE else STARTER_SOURCE
    background_source = current.background_source if current else STARTER_BACKGROUND
    try:
        base = load_source(source.split("+")[0])
    except (OSError, ValueError):
        source, base = STARTER_SOURCE, load_source(STARTER_SOURCE)
    background = load_source(background_source) if background_source else []
    return base, background, background_source


def retrain_sync(model_dir: Path, feedback: list[Example]) -> RetrainReport:
    """CPU-bound: train, compare on held-out feedback, save, and activate when not worse."""
    store = ModelStore(model_dir)
    try:
        current: TrainedModel | None = store.load_latest()
    except ModelNotFoundError:
        current = None
    previous = current.version if current else None
    if not feedback:
        message = "No feedback with a category yet: nothing to learn."
        return RetrainReport(
            None,
            activated=False,
            previous_version=previous,
            feedback_examples=0,
            training_examples=0,
            held_out=0,
            accuracy_before=None,
            accuracy_after=None,
            message=message,
        )
    base, background, background_source = base_examples(current)
    holdout = [item for item in feedback if held_out(item)]
    learn = [item for item in feedback if not held_out(item)]
    training = base + learn
    source = (current.source if current and current.source else STARTER_SOURCE).split("+")[0] + "+" + FEEDBACK_SOURCE
    candidate = train(training, source=source, background=background, background_source=background_source)
    before = accuracy(current, holdout) if current and holdout else None
    after = accuracy(candidate, holdout) if holdout else None
    better = before is None or after is None or after >= before
    version = store.save(candidate, activate=better)
    if after is not None:
        # The gate's score is this version's evaluation: `emailbot model list` shows it.
        at = datetime.now(UTC).isoformat(timespec="seconds")
        store.record_eval(version, {"at": at, "data": "held-out feedback", "n": len(holdout), "accuracy": after})
    message = (
        f"Model {version} is active" if better else f"Model {version} was kept inactive: worse on held-out feedback"
    )
    return RetrainReport(version, better, previous, len(feedback), len(training), len(holdout), before, after, message)


async def retrain_from_feedback(db: Database, model_dir: Path, categories: tuple[str, ...]) -> RetrainReport:
    async with db.transaction() as session:
        feedback = await feedback_examples(session, categories)
    report = await asyncio.to_thread(retrain_sync, model_dir, feedback)
    log.info("retraining: %s", report.message)
    return report
