"""The kinds of feedback a person gives; every one of them is a row the learning loop reads."""

from __future__ import annotations

from enum import StrEnum


class FeedbackKind(StrEnum):
    CATEGORY_CORRECTED = "category_corrected"
    CATEGORY_CONFIRMED = "category_confirmed"
    DRAFT_APPROVED = "draft_approved"
    DRAFT_EDITED = "draft_edited"
    DRAFT_REJECTED = "draft_rejected"
    REPLY_WRITTEN = "reply_written"
    NOT_NOISE = "not_noise"  # mail EmailBot left alone as noise was pulled back for a person: a missed request


# Feedback that takes an email out of the review queue (a correction alone leaves it there: it still needs an answer).
CLOSING = frozenset(
    {
        FeedbackKind.CATEGORY_CONFIRMED,
        FeedbackKind.DRAFT_APPROVED,
        FeedbackKind.DRAFT_EDITED,
        FeedbackKind.DRAFT_REJECTED,
        FeedbackKind.REPLY_WRITTEN,
    }
)
# Feedback that says the category was right.
CONFIRMING = CLOSING - {FeedbackKind.DRAFT_REJECTED}
