"""What the feedback says: labelled examples for training, and which classifications were right.

An email's label is the category a person corrected it to, or the category they confirmed (by marking it
reviewed, or by approving its draft as it was or edited). A rejected draft says nothing certain about the
category, so it is not a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.classifiers.enrich import email_text
from emailbot.classifiers.training import Example
from emailbot.review.feedback import CONFIRMING, FeedbackKind
from emailbot.store.convert import email_from_row
from emailbot.store.tables import ClassificationRow, EmailRow, FeedbackRow


@dataclass(frozen=True, slots=True)
class Judged:
    """One reviewed email: the first classification's confidence and category, and the category a person gave."""

    email_id: int
    confidence: float
    predicted: str
    truth: str

    @property
    def correct(self) -> bool:
        return self.predicted == self.truth


async def labels(session: AsyncSession) -> dict[int, str]:
    """The latest label each reviewed email got; later feedback wins (a correction of a correction)."""
    rows = await session.execute(
        select(
            FeedbackRow.email_id, FeedbackRow.kind, FeedbackRow.original_category, FeedbackRow.corrected_category
        ).order_by(FeedbackRow.id)
    )
    found: dict[int, str] = {}
    for email_id, kind, original, corrected in rows:
        if kind == FeedbackKind.CATEGORY_CORRECTED and corrected:
            found[email_id] = corrected
        elif kind in CONFIRMING and (label := corrected or original):
            found.setdefault(email_id, label)
    return found


async def judged(session: AsyncSession) -> list[Judged]:
    """Reviewed emails with what the classifier said the first time (before any re-run)."""
    truth = await labels(session)
    if not truth:
        return []
    rows = await session.execute(
        select(ClassificationRow.email_id, ClassificationRow.confidence, ClassificationRow.category)
        .where(ClassificationRow.email_id.in_(list(truth)))
        .order_by(ClassificationRow.id.desc())
    )
    first: dict[int, tuple[float, str]] = {}
    for email_id, confidence, category in rows:
        first[email_id] = (confidence, category)  # rows come newest first: the last write is the earliest
    return [Judged(i, conf, cat, truth[i]) for i, (conf, cat) in sorted(first.items())]


async def examples(session: AsyncSession, categories: Sequence[str]) -> list[Example]:
    """Training examples from the feedback, in the text form the classifier reads; unknown labels are left out."""
    truth = {email_id: label for email_id, label in (await labels(session)).items() if label in categories}
    if not truth:
        return []
    rows = await session.scalars(select(EmailRow).where(EmailRow.id.in_(list(truth))).order_by(EmailRow.id))
    return [Example(email_text(email_from_row(row)), truth[row.id]) for row in rows if email_text(email_from_row(row))]


@dataclass(frozen=True, slots=True)
class ThresholdAdvice:
    target_precision: float
    threshold: float | None  # the lowest confidence at which the reviewed emails reach the target; None if none
    precision: float | None
    coverage: float  # share of reviewed emails at or above the threshold
    reviewed: int


def threshold_for_precision(items: Sequence[Judged], target: float) -> ThresholdAdvice:
    """The lowest threshold whose emails at or above it are right at least `target` of the time.

    Scans from the most confident email down, so the answer is exact on the feedback so far; a threshold
    reached by fewer than 5 emails is not advice, just noise, and is not offered.
    """
    ranked = sorted(items, key=lambda item: -item.confidence)
    best: ThresholdAdvice | None = None
    right = 0
    for count, item in enumerate(ranked, start=1):
        right += item.correct
        last_of_tie = count == len(ranked) or ranked[count].confidence != item.confidence
        if last_of_tie and count >= 5 and right / count >= target:
            best = ThresholdAdvice(target, item.confidence, right / count, count / len(ranked), len(ranked))
    return best or ThresholdAdvice(target, None, None, 0.0, len(ranked))
