"""What operators' reviews say about the classifier, read for earned autonomy and for refitting calibration.

All of it comes from the `feedback` table and the classifications the reviewed emails had (see docs/autonomy.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.review.feedback import FeedbackKind
from emailbot.store.tables import ClassificationRow, FeedbackRow


@dataclass(frozen=True, slots=True)
class ReviewedEmail:
    """One reviewed email: what the classifier said before the review, and what the person did."""

    email_id: int
    predicted: str  # the category of the newest classification made before the first review
    confidence: float
    label: str  # the category the person left it with: the last correction, or the predicted one
    rejected: bool  # a draft of it was rejected

    @property
    def confirms(self) -> bool:
        """The category was kept and no draft was refused: an automatic reply would have been right."""
        return self.label == self.predicted and not self.rejected


@dataclass
class _Verdict:
    first_at: datetime
    corrected_to: str | None = None
    rejected: bool = False


async def reviewed_emails(session: AsyncSession) -> list[ReviewedEmail]:
    verdicts = await _verdicts(session)
    if not verdicts:
        return []
    rows = await session.execute(
        select(
            ClassificationRow.email_id,
            ClassificationRow.category,
            ClassificationRow.confidence,
            ClassificationRow.created_at,
        )
        .where(ClassificationRow.email_id.in_(select(FeedbackRow.email_id)))
        .order_by(ClassificationRow.id)
    )
    before: dict[int, tuple[str, float]] = {}
    for email_id, category, confidence, created_at in rows:
        verdict = verdicts.get(email_id)
        # The classification the person saw: the newest one made before the review (a re-run after it is not).
        if verdict is not None and (email_id not in before or created_at <= verdict.first_at):
            before[email_id] = (category, confidence)
    return [
        ReviewedEmail(i, category, confidence, verdicts[i].corrected_to or category, verdicts[i].rejected)
        for i, (category, confidence) in sorted(before.items())
    ]


async def _verdicts(session: AsyncSession) -> dict[int, _Verdict]:
    rows = await session.execute(
        select(FeedbackRow.email_id, FeedbackRow.kind, FeedbackRow.corrected_category, FeedbackRow.created_at).order_by(
            FeedbackRow.id
        )
    )
    verdicts: dict[int, _Verdict] = {}
    for email_id, kind, corrected, created_at in rows:
        verdict = verdicts.setdefault(email_id, _Verdict(created_at))
        if kind == FeedbackKind.CATEGORY_CORRECTED and corrected:
            verdict.corrected_to = corrected  # a later correction wins
        elif kind == FeedbackKind.DRAFT_REJECTED:
            verdict.rejected = True
    return verdicts


async def category_coverage(session: AsyncSession, threshold: float, since: datetime) -> dict[str, tuple[int, int]]:
    """Per category: emails classified since `since` (newest classification each) and how many at >= threshold."""
    newest = (
        select(func.max(ClassificationRow.id))
        .where(ClassificationRow.created_at >= since)
        .group_by(ClassificationRow.email_id)
    )
    above = func.sum(case((ClassificationRow.confidence >= threshold, 1), else_=0))
    rows = await session.execute(
        select(ClassificationRow.category, func.count(ClassificationRow.id), above)
        .where(ClassificationRow.id.in_(newest))
        .group_by(ClassificationRow.category)
    )
    return {category: (int(total), int(high or 0)) for category, total, high in rows}


async def calibration_pairs(session: AsyncSession, kind: str) -> list[tuple[float, bool]]:
    """(raw confidence 0-1, correct) from operators' feedback on emails the `kind` classifier decided."""
    rows = await session.execute(
        select(ClassificationRow, FeedbackRow)
        .join(FeedbackRow, FeedbackRow.email_id == ClassificationRow.email_id)
        .where(ClassificationRow.classifier == kind, ClassificationRow.raw_confidence.is_not(None))
        .order_by(FeedbackRow.id)
    )
    truth: dict[int, tuple[ClassificationRow, str]] = {}
    for classification, feedback in rows:
        current = truth.get(classification.id, (classification, classification.category))[1]
        if feedback.kind == FeedbackKind.CATEGORY_CORRECTED and feedback.corrected_category:
            current = feedback.corrected_category
        truth[classification.id] = (classification, current)
    return [((c.raw_confidence or 0) / 100, c.category == label) for c, label in truth.values()]
