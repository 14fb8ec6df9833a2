"""Hybrid: the LLM decides the category, the local model's opinion of that category moves the confidence.

The request confidence (is this a request to the desk at all?) is pooled the same way, with the same weight.

The two models fail differently (the LLM on odd prompts and injected text, the local model on unseen wording), so
agreement is evidence. The raw score is a linear opinion pool, w·P_llm(c) + (1-w)·P_local(c) for the LLM's category
c (w = EMAILBOT_LLM_HYBRID_WEIGHT, 0.7): agreement keeps it high, disagreement pulls it down towards review. A
hybrid calibration map (fitted like the LLM's) then makes the number mean what it says.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emailbot.classifiers.enrich import email_text
from emailbot.classifiers.llm.classifier import LLMClassifier, fallback
from emailbot.classifiers.llm.confidence import Calibrator
from emailbot.domain import Classification, Email
from emailbot.ops.alerts import AlertSink


class HybridClassifier:
    name = "hybrid"

    def __init__(self, llm: LLMClassifier, *, weight: float = 0.7, calibrator: Calibrator | None = None) -> None:
        self.llm = llm
        self.weight = weight
        self.calibrator = calibrator or Calibrator()

    @property
    def version(self) -> str:
        return f"{self.llm.version} + local {self.llm.local.version}"

    def bind_alerts(self, alerts: AlertSink) -> None:
        self.llm.bind_alerts(alerts)

    async def classify(self, emails: Sequence[Email]) -> list[Classification]:
        local = await self.llm.local.classify(emails)
        outcomes = await self.llm.outcomes(emails)
        agreement = self.local_probabilities(emails)
        results = []
        for email, local_result, outcome, probabilities in zip(emails, local, outcomes, agreement, strict=True):
            if outcome.answer is None:
                results.append(fallback(local_result, outcome))
                continue
            llm_raw = outcome.probability if outcome.probability is not None else outcome.answer.confidence / 100
            raw = self.weight * llm_raw + (1 - self.weight) * probabilities.get(outcome.answer.category, 0.0)
            request = self.pooled_request(outcome.answer.request_confidence, local_result.request_confidence)
            finished = self.llm.finish(
                email, local_result, outcome, raw, self.calibrator(raw), self.name, request=request
            )
            results.append(finished)
        return results

    def pooled_request(self, llm_request: float, local_request: float) -> float:
        """Request confidence (0-100) pooled like the category's: the two models' mistakes differ (the LLM can be
        talked into anything by the email's text, the local model is unsure of wording it never saw)."""
        return self.weight * llm_request + (1 - self.weight) * local_request

    def local_probabilities(self, emails: Sequence[Email]) -> list[dict[str, float]]:
        """The local model's probability of every category, per email (one batch call)."""
        if not emails:
            return []
        model = self.llm.local.model
        matrix = np.asarray(model.probabilities([email_text(email) for email in emails]))
        return [dict(zip(model.categories, map(float, row), strict=False)) for row in matrix]

    async def close(self) -> None:
        await self.llm.close()
