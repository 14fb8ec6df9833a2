"""The local model's part in noise: hidden classes per kind, a request confidence, a kind for what is no request."""

from __future__ import annotations

import numpy as np
import pytest

from emailbot.classifiers.local import LocalClassifier, request_confidence
from emailbot.classifiers.model import GENERIC_NOISE, TrainedModel, noise_class
from emailbot.classifiers.training import DataError, Example, background_labels, load_starter, train
from emailbot.domain import NOISE_KINDS
from tests.classifiers.conftest import make_email


def test_the_shipped_background_trains_one_hidden_class_per_kind(starter_model: TrainedModel) -> None:
    assert set(starter_model.noise_kinds) == set(NOISE_KINDS)
    assert not any(category.startswith("__") for category in starter_model.categories)


def test_rare_unknown_or_unnamed_kinds_join_not_a_request() -> None:
    background = [
        *(Example(f"spam {n}", "OUT_OF_SCOPE", kind="spam") for n in range(5)),
        Example("one thanks", "OUT_OF_SCOPE", kind="thanks"),
        Example("a holiday", "OUT_OF_SCOPE", kind="holiday"),
        Example("named by its category", "newsletter"),
    ]
    labels = background_labels(background, folds=5)
    assert labels == [noise_class("spam")] * 5 + [noise_class(GENERIC_NOISE)] * 3


def test_hidden_class_names_are_reserved() -> None:
    examples = [Example("a", "__noise__:spam"), Example("b", "__noise__:spam"), Example("c", "SUPPORT")] * 2
    with pytest.raises(DataError, match="reserved"):
        train(examples)


@pytest.mark.parametrize(
    ("categories", "noise", "expected"),
    [
        ([0.6, 0.2], [0.1, 0.1], 0.8),
        ([0.1, 0.0], [0.3, 0.0], 0.25),
        ([0.0, 0.0], [0.0, 0.0], 1.0),  # nothing known at all: no evidence that it is noise
        ([0.4, 0.0], [], 1.0),  # a model without background
    ],
)
def test_request_confidence_is_the_share_of_known_mass_on_categories(
    categories: list[float], noise: list[float], expected: float
) -> None:
    assert request_confidence(np.array(categories), np.array(noise)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("subject", "body", "kind"),
    [
        ("Congratulations, you have won", "You won 500,000 EUR in our lottery. Send your bank details.", "spam"),
        ("Verify your mailbox now", "Your mailbox will be closed today. Sign in here to keep it.", "phishing"),
        ("This week: 10 ideas for your team", "Our editors picked the best reads. Unsubscribe here.", "newsletter"),
        ("Re: my password reset", "That did it, thank you very much! All working again.", "thanks"),
    ],
    ids=["spam", "phishing", "newsletter", "thanks"],
)
def test_noise_gets_a_low_request_confidence(starter_model: TrainedModel, subject: str, body: str, kind: str) -> None:
    (result,) = LocalClassifier(starter_model).classify_batch([make_email(subject, body)])
    assert result.request_confidence < 30
    assert result.noise == kind


def test_held_out_requests_are_requests_and_out_of_scope_mail_mostly_is_not(
    starter_model: TrainedModel, heldout: list[Example], out_of_scope: list[Example]
) -> None:
    """Hand-written sets no training file holds: a check that the shipped sets do not merely fit the evaluation."""
    classifier = LocalClassifier(starter_model)
    requests = classifier.classify_batch([make_email("", e.text) for e in heldout])
    others = classifier.classify_batch([make_email("", e.text) for e in out_of_scope])
    assert all(r.request_confidence >= 50 and r.noise == "" for r in requests)
    assert sum(r.request_confidence < 50 for r in others) >= 0.7 * len(others)


def test_every_shipped_background_example_names_a_known_kind() -> None:
    assert {e.kind for e in load_starter("background")} <= set(NOISE_KINDS)
