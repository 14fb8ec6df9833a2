"""Fixtures for the classifier tests: one model trained on the packaged starter set, shared by the session.

Training it takes well under a second, but sharing it keeps the whole classifier suite fast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from emailbot.classifiers.model import TrainedModel
from emailbot.classifiers.training import Example, load_examples, load_starter, train
from emailbot.domain import Email

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def starter_model() -> TrainedModel:
    return train(load_starter(), background=load_starter("background"), source="starter:default")


@pytest.fixture(scope="session")
def heldout() -> list[Example]:
    """Hand-written clear cases, not in the starter set."""
    return load_examples(DATA / "heldout.jsonl")


@pytest.fixture(scope="session")
def out_of_scope() -> list[Example]:
    """Hand-written out-of-scope mail (ads, chit-chat, non-IT business), not in the starter's background set."""
    return load_examples(DATA / "out_of_scope.jsonl")


def make_email(subject: str, body: str, *, importance: str = "normal", source_id: str = "1") -> Email:
    return Email(
        source_id=source_id,
        subject=subject,
        sender=None,
        received_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        body_text=body,
        clean_text=body,
        importance=importance,
    )
