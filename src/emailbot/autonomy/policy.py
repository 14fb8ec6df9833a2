"""The rule, pure: from reviews, coverage and an admin's override to whether a category may auto-send.

Precision of a category = of the reviewed emails the classifier put in that category at or above the auto
threshold, the share whose review confirms it (category kept, no draft rejected). Only those emails count because
they are exactly the ones auto-send would answer; while a category has not earned it, they become drafts and so
get reviewed. See docs/decisions.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from emailbot.pipeline.route import AutonomyGate
from emailbot.store.autonomy import Override, OverrideState
from emailbot.store.reviews import ReviewedEmail


@dataclass(frozen=True, slots=True)
class Target:
    precision: float = 0.95  # 0-1
    min_reviews: int = 30


@dataclass(frozen=True, slots=True)
class CategoryAutonomy:
    category: str
    reviews: int  # reviewed emails of the category at or above the auto threshold
    confirmed: int
    emails: int  # the category's emails in the coverage window
    above_threshold: int
    target: Target
    override: Override | None = None

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.reviews if self.reviews else None

    @property
    def coverage(self) -> float | None:
        return self.above_threshold / self.emails if self.emails else None

    @property
    def earned(self) -> bool:
        precision = self.precision
        return self.reviews >= self.target.min_reviews and precision is not None and precision >= self.target.precision

    @property
    def allowed(self) -> bool:
        """A revoke wins over the reviews; a grant allows before they earn it."""
        if self.override is not None:
            return self.override.state == OverrideState.GRANTED
        return self.earned

    @property
    def status(self) -> str:
        if self.override is not None:
            return f"{self.override.state.value} by {self.override.actor}"
        return "earned" if self.earned else "not yet earned"

    def why_not(self) -> str | None:
        """The words a draft's reason carries when this category may not auto-send; None when it may."""
        if self.allowed:
            return None
        if self.override is not None:
            return f"auto-send revoked for {self.category} by {self.override.actor}"
        measured = f", {self.precision:.1%} precision" if self.precision is not None else ""
        wanted = f"{self.target.precision:.1%} over {self.target.min_reviews}"
        return f"auto-send not yet earned for {self.category}: {self.reviews} reviews{measured} (needs {wanted})"


def assess(
    categories: Iterable[str],
    reviewed: Sequence[ReviewedEmail],
    coverage: Mapping[str, tuple[int, int]],
    overrides: Mapping[str, Override],
    threshold: float,
    target: Target,
) -> list[CategoryAutonomy]:
    counted: dict[str, list[int]] = {}
    for item in reviewed:
        if item.confidence >= threshold:
            tally = counted.setdefault(item.predicted, [0, 0])
            tally[0] += 1
            tally[1] += item.confirms
    table = []
    for category in categories:
        reviews, confirmed = counted.get(category, [0, 0])
        emails, above = coverage.get(category, (0, 0))
        table.append(CategoryAutonomy(category, reviews, confirmed, emails, above, target, overrides.get(category)))
    return table


def gate(table: Iterable[CategoryAutonomy]) -> AutonomyGate:
    rows = list(table)
    why_not = {row.category: reason for row in rows if (reason := row.why_not()) is not None}
    return AutonomyGate(frozenset(row.category for row in rows if row.allowed), why_not)
