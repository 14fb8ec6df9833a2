"""The shipped defaults on third-party mail, counted against the aims (bench/triage.py; no timing asserted).

Spam and business mail from the SpamAssassin corpus, real support requests from the Tobi-Bueck and Endava ticket
sets: none of it trains the model. Each kind of mail is pooled over its sets (per-set numbers are in
docs/classifier-evaluation.md).
"""

from __future__ import annotations

from collections import Counter

import pytest
from bench.triage import AIMS, Sample, misses, pooled, run

from emailbot.domain import Action
from tests.shared_data import shared_data

Results = list[tuple[Sample, Counter[Action]]]
PER_SET = 300  # emails drawn (seeded) from each ticket set: enough for 1-2 points of precision, a few seconds


@pytest.fixture(scope="module")
def results() -> Results:
    folders = ("spamassassin_sample", "customer_support_tickets_tobi_bueck", "it_service_tickets_endava")
    data = {shared_data(folder).parent for folder in folders}.pop()
    return run(data, PER_SET)


def test_every_kind_of_mail_was_read(results: Results) -> None:
    kinds = pooled(results)
    assert set(kinds) == {aim.kind for aim in AIMS}
    assert sum(kinds["spam"].values()) == 100
    assert sum(kinds["business"].values()) == 250
    assert sum(kinds["request"].values()) == 3 * PER_SET


def test_the_aims_are_met(results: Results) -> None:
    assert misses(results) == []


def test_noise_is_left_alone_and_requests_are_not(results: Results) -> None:
    """Beyond the aims' limits: most spam needs nobody, and no request is the kind of mail EmailBot ignores."""
    kinds = pooled(results)
    spam, requests = kinds["spam"], kinds["request"]
    assert spam[Action.NO_ACTION] > sum(spam.values()) / 2
    assert requests[Action.NO_ACTION] < requests[Action.AUTO_HANDLE] + requests[Action.SUGGEST_RESPONSE]
