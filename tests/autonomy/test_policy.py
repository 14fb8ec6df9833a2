"""The autonomy rule, pure: which reviews count, when precision earns auto-send, and how overrides win."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emailbot.autonomy.policy import Target, assess, gate
from emailbot.store.autonomy import Override, OverrideState
from emailbot.store.reviews import ReviewedEmail

TARGET = Target(precision=0.9, min_reviews=10)
WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def _reviews(category: str, right: int, wrong: int, confidence: float = 95) -> list[ReviewedEmail]:
    good = [ReviewedEmail(n, category, confidence, category, rejected=False) for n in range(right)]
    bad = [ReviewedEmail(100 + n, category, confidence, "OTHER", rejected=False) for n in range(wrong)]
    return good + bad


@pytest.mark.parametrize(
    ("item", "confirms"),
    [
        (ReviewedEmail(1, "SUPPORT", 90, "SUPPORT", rejected=False), True),
        (ReviewedEmail(1, "SUPPORT", 90, "PURCHASING", rejected=False), False),  # corrected
        (ReviewedEmail(1, "SUPPORT", 90, "SUPPORT", rejected=True), False),  # draft rejected
    ],
)
def test_a_review_confirms_when_the_category_is_kept_and_no_draft_rejected(item: ReviewedEmail, confirms: bool) -> None:
    assert item.confirms is confirms


@pytest.mark.parametrize(
    ("right", "wrong", "earned"),
    [
        (9, 0, False),  # 100% but only 9 reviews
        (9, 1, True),  # 10 reviews, exactly 90%
        (18, 2, True),
        (17, 2, False),  # 89.5%
        (8, 2, False),  # 10 reviews, 80%
    ],
)
def test_earned_needs_both_the_precision_and_the_number_of_reviews(right: int, wrong: int, earned: bool) -> None:
    (row,) = assess(["SUPPORT"], _reviews("SUPPORT", right, wrong), {}, {}, 85, TARGET)
    assert (row.reviews, row.confirmed, row.earned, row.allowed) == (right + wrong, right, earned, earned)


def test_only_reviews_at_or_above_the_threshold_and_of_the_predicted_category_count() -> None:
    reviewed = _reviews("SUPPORT", 10, 0, confidence=85) + _reviews("SUPPORT", 0, 5, confidence=84.9)
    reviewed += [ReviewedEmail(500, "PURCHASING", 99, "SUPPORT", rejected=False)]  # counts for PURCHASING only
    support, purchasing = assess(["SUPPORT", "PURCHASING"], reviewed, {}, {}, 85, TARGET)
    assert (support.reviews, support.precision, support.earned) == (10, 1.0, True)
    assert (purchasing.reviews, purchasing.precision) == (1, 0.0)


def test_coverage_is_the_share_at_or_above_the_threshold() -> None:
    (row, empty) = assess(["SUPPORT", "INFORMATION"], [], {"SUPPORT": (40, 30)}, {}, 85, TARGET)
    assert (row.emails, row.above_threshold, row.coverage) == (40, 30, 0.75)
    assert empty.coverage is None
    assert empty.precision is None


def test_a_revoke_wins_over_earned_precision_and_a_grant_allows_before_it() -> None:
    overrides = {
        "SUPPORT": Override(OverrideState.REVOKED, "alice", "template outdated", WHEN),
        "INFORMATION": Override(OverrideState.GRANTED, "bob", "", WHEN),
    }
    reviewed = _reviews("SUPPORT", 30, 0)
    support, information, purchasing = assess(
        ["SUPPORT", "INFORMATION", "PURCHASING"], reviewed, {}, overrides, 85, TARGET
    )
    assert (support.earned, support.allowed, support.status) == (True, False, "revoked by alice")
    assert (information.earned, information.allowed, information.status) == (False, True, "granted by bob")
    assert purchasing.status == "not yet earned"
    decided = gate([support, information, purchasing])
    assert decided.allowed == frozenset({"INFORMATION"})
    assert decided.why_not["SUPPORT"] == "auto-send revoked for SUPPORT by alice"
    assert decided.why_not["PURCHASING"] == "auto-send not yet earned for PURCHASING: 0 reviews (needs 90.0% over 10)"


def test_the_reason_names_the_reviews_and_the_measured_precision() -> None:
    (row,) = assess(["SUPPORT"], _reviews("SUPPORT", 11, 1), {}, {}, 85, Target(0.95, 30))
    assert row.why_not() == "auto-send not yet earned for SUPPORT: 12 reviews, 91.7% precision (needs 95.0% over 30)"
