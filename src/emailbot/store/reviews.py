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


async def reviewed_emails(session: AsyncSession) -> list[ReviewedEmail]:
    """Aggregated in SQL (one row per reviewed email comes back), so a recomputation stays cheap with many reviews."""
    first_review = (
        select(FeedbackRow.email_id, func.min(FeedbackRow.created_at).label("first_at"))
        .group_by(FeedbackRow.email_id)
        .subquery()
    )
    # The classification the person saw: the newest one made before the review (a re-run after it is not).
    judged = (
        select(func.max(ClassificationRow.id))
        .join(first_review, first_review.c.email_id == ClassificationRow.email_id)
        .where(ClassificationRow.created_at <= first_review.c.first_at)
        .group_by(ClassificationRow.email_id)
    )
    corrections = await _last_corrections(session)
    rejected = set(
        await session.scalars(
            select(FeedbackRow.email_id).where(FeedbackRow.kind == FeedbackKind.DRAFT_REJECTED.value).distinct()
        )
    )
    rows = await session.execute(
        select(ClassificationRow.email_id, ClassificationRow.category, ClassificationRow.confidence)
        .where(ClassificationRow.id.in_(judged))
        .order_by(ClassificationRow.email_id)
    )
    return [
        ReviewedEmail(email_id, category, confidence, corrections.get(email_id) or category, email_id in rejected)
        for email_id, category, confidence in rows
    ]


async def _last_corrections(session: AsyncSession) -> dict[int, str]:
    """The category each corrected email was last corrected to (a later correction wins)."""
    last = (
        select(func.max(FeedbackRow.id))
        .where(FeedbackRow.kind == FeedbackKind.CATEGORY_CORRECTED.value, FeedbackRow.corrected_category.is_not(None))
        .group_by(FeedbackRow.email_id)
    )
    rows = await session.execute(
        select(FeedbackRow.email_id, FeedbackRow.corrected_category).where(FeedbackRow.id.in_(last))
    )
    return {email_id: corrected for email_id, corrected in rows if corrected}


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
