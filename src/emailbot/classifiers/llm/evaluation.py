"""`emailbot model eval --classifier llm|hybrid` and `emailbot model calibrate`: the LLM judged like the local model.

Evaluation sends every labelled example through the configured classifier (the real server, or any compatible
one), so it costs what classifying that many emails costs: `--limit` caps it. The report is the local model's
(accuracy, macro-F1, ECE, precision and coverage per threshold) plus the ECE before calibration and how many
examples fell back to the local model.

Calibration fits the isotonic map on the raw confidences of labelled examples and of operators' feedback (a
person confirming or correcting a category, in the `feedback` table), and saves it beside the local models, where
the classifier loads it on start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emailbot.classifiers.base import Classifier
from emailbot.classifiers.evaluation import EvalReport, Predictions, expected_calibration_error, score
from emailbot.classifiers.training import Example
from emailbot.domain import Classification, Email
from emailbot.store.db import Database
from emailbot.store.reviews import calibration_pairs
from emailbot.store.tables import utcnow

BATCH = 25


@dataclass
class LabelledRun:
    """What the classifier said about each labelled example."""

    examples: list[Example]
    results: list[Classification]

    def raw_pairs(self, kind: str) -> list[tuple[float, bool]]:
        """(raw confidence 0-1, correct) for the examples the LLM itself classified."""
        return [
            (r.raw_confidence / 100, r.category == e.category)
            for e, r in zip(self.examples, self.results, strict=True)
            if r.classifier == kind and r.raw_confidence is not None
        ]

    @property
    def fallbacks(self) -> int:
        return sum(1 for r in self.results if r.classifier == "local")


def as_email(example: Example, index: int) -> Email:
    subject, _, body = example.text.partition("\n")
    return Email(
        source_id=f"eval-{index}", subject=subject, sender=None, received_at=utcnow(), body_text=body, clean_text=body
    )


async def run_labelled(classifier: Classifier, examples: Sequence[Example]) -> LabelledRun:
    results: list[Classification] = []
    for start in range(0, len(examples), BATCH):
        chunk = examples[start : start + BATCH]
        results += await classifier.classify([as_email(e, start + i) for i, e in enumerate(chunk)])
    return LabelledRun(list(examples), results)


def report(run: LabelledRun, categories: Sequence[str], kind: str) -> tuple[EvalReport, float, int]:
    """The usual report over in-taxonomy examples (others count as unknown), the raw ECE, and the fallbacks."""
    known = [(e, r) for e, r in zip(run.examples, run.results, strict=True) if e.category in categories]
    unknown = [r.confidence for e, r in zip(run.examples, run.results, strict=True) if e.category not in categories]
    predictions = Predictions(
        [e.category for e, _ in known], [r.category for _, r in known], [r.confidence for _, r in known], unknown
    )
    pairs = run.raw_pairs(kind)
    raw_ece = expected_calibration_error([p for p, _ in pairs], [c for _, c in pairs]) if pairs else 0.0
    return score(predictions, mode=f"{kind} classifier on labelled data"), raw_ece, run.fallbacks


async def feedback_pairs(database_url: str, kind: str) -> list[tuple[float, bool]]:
    """(raw confidence 0-1, correct) from operators' feedback on emails the `kind` classifier decided."""
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            return await calibration_pairs(session, kind)
    finally:
        await db.dispose()
