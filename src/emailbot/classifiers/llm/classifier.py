"""The LLM classifier: one request per email (cached, rate-limited, budgeted), the local model as the safety net.

Every email of a batch gets a classification in the same call, whatever happens: when the LLM is down (circuit
open), over budget, or answers twice with something that does not validate, the local model's classification of
that email is used, and its reasoning says why.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from emailbot.classifiers.llm.breaker import CircuitBreaker
from emailbot.classifiers.llm.cache import ResponseCache, cache_key
from emailbot.classifiers.llm.client import Completion, LLMClient, LLMRejected, LLMUnavailable
from emailbot.classifiers.llm.confidence import Calibrator, category_probability
from emailbot.classifiers.llm.cost import DailyBudget, PriceTable, today
from emailbot.classifiers.llm.guard import SUSPECT_CONFIDENCE_CAP, injection_signals
from emailbot.classifiers.llm.limits import RateLimiter
from emailbot.classifiers.llm.prompts import (
    PROMPT_VERSION,
    CategoryPrompt,
    EmailData,
    Message,
    classification_messages,
    classification_system_prompt,
)
from emailbot.classifiers.llm.redaction import Redaction, redact
from emailbot.classifiers.llm.schema import InvalidAnswer, LLMAnswer, answer_schema, parse_answer
from emailbot.classifiers.llm.tokens import classification_body, estimate_tokens
from emailbot.classifiers.local import LocalClassifier
from emailbot.classifiers.model import GENERIC_NOISE
from emailbot.domain import Classification, Email
from emailbot.ops.alerts import Alert, AlertSink

log = logging.getLogger(__name__)
ANSWER_ATTEMPTS = 2  # an invalid answer is asked for once more, then the local model decides
ANSWER_TOKENS_ESTIMATE = 300  # a classification answer is ~150-250 tokens; the TPM limiter counts both ways


@dataclass
class Outcome:
    """One email's LLM attempt: the answer (None when the local model must take over) and what it cost."""

    answer: LLMAnswer | None = None
    probability: float | None = None  # from logprobs, 0-1
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    model: str = ""
    fallback_reason: str = ""


@dataclass
class Guards:
    """What keeps the LLM affordable and the pipeline alive: cache, breaker, budget, limits, prices."""

    cache: ResponseCache
    breaker: CircuitBreaker
    budget: DailyBudget
    limiter: RateLimiter
    prices: PriceTable


class LLMClassifier:
    name = "llm"

    def __init__(
        self,
        client: LLMClient,
        local: LocalClassifier,
        categories: Sequence[CategoryPrompt],
        guards: Guards,
        *,
        calibrator: Calibrator | None = None,
        max_input_tokens: int = 1500,
        concurrency: int = 10,
        redact_pii: bool = False,
    ) -> None:
        self.client = client
        self.local = local
        self.categories = tuple(categories)
        self.names = tuple(category.name for category in categories)
        self.schema = answer_schema(self.names)
        # The system prompt is the same for every email: built once per structured-output mode, not per request.
        self.system_prompts = {
            described: classification_system_prompt(self.categories, self.schema, describe_schema=described)
            for described in (False, True)
        }
        self.system_tokens = estimate_tokens(self.system_prompts[True])
        self.guards = guards
        self.calibrator = calibrator or Calibrator()
        self.max_input_tokens = max_input_tokens
        self.redact_pii = redact_pii
        self._limit = asyncio.Semaphore(concurrency)
        self.alerts: AlertSink | None = None
        self._budget_alerted_on = ""

    @property
    def version(self) -> str:
        return f"{self.client.model} (prompt {PROMPT_VERSION})"

    def bind_alerts(self, alerts: AlertSink) -> None:
        self.alerts = alerts

    async def classify(self, emails: Sequence[Email]) -> list[Classification]:
        local = await self.local.classify(emails)
        outcomes = await self.outcomes(emails)
        return [self.combine(e, fallback, o) for e, fallback, o in zip(emails, local, outcomes, strict=True)]

    async def outcomes(self, emails: Sequence[Email]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._outcome(email) for email in emails)))

    def combine(self, email: Email, local: Classification, outcome: Outcome) -> Classification:
        if outcome.answer is None:
            return fallback(local, outcome)
        raw = outcome.probability if outcome.probability is not None else outcome.answer.confidence / 100
        return self.finish(email, local, outcome, raw, self.calibrator(raw), self.name)

    def finish(
        self,
        email: Email,
        local: Classification,
        outcome: Outcome,
        raw: float,
        calibrated: float,
        name: str,
        *,
        request: float | None = None,
    ) -> Classification:
        """The Classification of an LLM answer; `request` (0-100) overrides the model's own request confidence
        (the hybrid pools it with the local model's)."""
        answer = outcome.answer
        assert answer is not None
        confidence, reasoning = calibrated * 100, answer.reasoning
        request = float(answer.request_confidence) if request is None else request
        signals = injection_signals(email)
        if signals:
            confidence = min(confidence, SUSPECT_CONFIDENCE_CAP)
            reasoning = f"Possible prompt injection ({', '.join(signals)}): a person should check. {reasoning}"
        return Classification(
            category=answer.category,
            confidence=round(confidence, 1),
            classifier=name,
            model=outcome.model or self.client.model,
            reasoning=reasoning,
            urgency=answer.urgency,
            suggested_action=answer.suggested_action,
            required_expertise=tuple(answer.required_expertise[:3]),
            estimated_effort=answer.estimated_effort,
            language=local.language or answer.language.lower()[:2],  # py3langid measures; the model's is a guess
            summary=answer.summary,
            latency_ms=round(outcome.latency_ms, 3),
            prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens,
            unrecognized=local.unrecognized,
            prompt_version=PROMPT_VERSION,
            raw_confidence=round(raw * 100, 2),
            cost=outcome.cost,
            request_confidence=round(request, 1),
            noise=noise_kind(request, answer.noise_kind, local.noise),
        )

    async def _outcome(self, email: Email) -> Outcome:
        async with self._limit:
            try:
                return await self._ask(email)
            except Exception as exc:  # noqa: BLE001 - whatever breaks here, the local model answers
                log.exception("LLM classification failed unexpectedly")
                return Outcome(fallback_reason=f"unexpected error: {type(exc).__name__}")

    async def _ask(self, email: Email) -> Outcome:
        data = self.email_data(email, Redaction())
        key = cache_key(
            PROMPT_VERSION, self.client.model, self.names, data.subject, data.sender, data.body, data.attachments
        )
        cached = await self.guards.cache.get(key)
        hit = _from_cache(cached, self.names) if cached is not None else None
        if hit is not None:
            return hit
        if await self.guards.budget.exhausted():
            await self._alert_budget()
            return Outcome(fallback_reason="the daily LLM budget is spent")
        if not self.guards.breaker.allow():
            return Outcome(fallback_reason=f"LLM circuit open ({self.guards.breaker.last_error})")
        outcome = await self._request(data)
        if outcome.answer is not None:
            await self.guards.cache.set(key, _to_cache(outcome))
        return outcome

    def email_data(self, email: Email, redaction: Redaction) -> EmailData:
        """The email as the model sees it: cleaned, cut to the token budget, optionally redacted."""
        body = classification_body(email, self.max_input_tokens)
        sender = email.sender.formatted() if email.sender else ""
        names = tuple(a.filename[:200] for a in email.attachments[:20])
        if self.redact_pii:
            subject, sender, body = (redact(text, redaction) for text in (email.subject, sender, body))
            return EmailData(subject[:500], sender, body, tuple(redact(n, redaction) for n in names))
        return EmailData(email.subject[:500], sender, body, names)

    async def _request(self, data: EmailData) -> Outcome:
        outcome = Outcome()

        def messages(mode: str) -> list[Message]:
            """JSON mode and tool calls cannot enforce the schema, so it is spelled out in the prompt for them."""
            described = mode != "json_schema"
            system = self.system_prompts[described]
            return classification_messages(self.categories, self.schema, data, describe_schema=described, system=system)

        estimate = self.system_tokens + estimate_tokens(data.subject + data.body) + ANSWER_TOKENS_ESTIMATE
        for attempt in range(ANSWER_ATTEMPTS):
            await self.guards.limiter.acquire(estimate)
            try:
                completion = await self.client.structured(messages, self.schema)
            except (LLMUnavailable, LLMRejected) as exc:
                self.guards.breaker.record_failure(str(exc))
                await self._alert_breaker()
                outcome.fallback_reason = f"LLM request failed: {exc}"
                return outcome
            self.guards.breaker.record_success()
            await self._account(outcome, completion)
            try:
                outcome.answer = parse_answer(completion.content, self.names)
            except InvalidAnswer as exc:
                log.warning("LLM answer invalid (attempt %d): %s", attempt + 1, exc)
                outcome.fallback_reason = f"invalid LLM answer twice: {exc}"
                continue
            outcome.probability = category_probability(completion.content, completion.logprobs, outcome.answer.category)
            return outcome
        return outcome

    async def _account(self, outcome: Outcome, completion: Completion) -> None:
        cost = self.guards.prices.cost(completion.model, completion.prompt_tokens, completion.completion_tokens)
        if not cost and completion.model != self.client.model:  # servers may answer with a dated model name
            cost = self.guards.prices.cost(self.client.model, completion.prompt_tokens, completion.completion_tokens)
        outcome.prompt_tokens += completion.prompt_tokens
        outcome.completion_tokens += completion.completion_tokens
        outcome.cost += cost
        outcome.latency_ms += completion.latency_ms
        outcome.model = completion.model
        await self.guards.budget.add(cost)

    async def _alert_breaker(self) -> None:
        if self.alerts is not None and self.guards.breaker.state != "closed":
            error = self.guards.breaker.last_error or ""
            await self.alerts.raise_alert(
                Alert("warning", "llm_service", "LLM failing: classifying with the local model", {"error": error})
            )

    async def _alert_budget(self) -> None:
        if self.alerts is not None and self._budget_alerted_on != today():
            self._budget_alerted_on = today()
            limit = self.guards.budget.limit
            await self.alerts.raise_alert(
                Alert("warning", "llm_service", "daily LLM budget spent: the local model classifies", {"limit": limit})
            )

    async def close(self) -> None:
        await self.client.close()


NOISE_KIND_BELOW = 50.0  # request confidence (0-100) under which an email is named a kind of noise


def noise_kind(request: float, llm_kind: str, local_kind: str) -> str:
    """A kind of noise only for an email that looks more like noise than a request: the LLM's, else the local's."""
    if request >= NOISE_KIND_BELOW:
        return ""
    return llm_kind or local_kind or GENERIC_NOISE


def fallback(local: Classification, outcome: Outcome) -> Classification:
    """The local model's classification, saying why the LLM did not decide, with any tokens already spent."""
    reason = outcome.fallback_reason or "LLM unavailable"
    return replace(
        local,
        reasoning=f"Local model ({reason}). {local.reasoning}".strip(),
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        cost=outcome.cost,
        prompt_version=PROMPT_VERSION if outcome.prompt_tokens else "",
    )


def _to_cache(outcome: Outcome) -> dict[str, Any]:
    assert outcome.answer is not None
    return {
        "answer": outcome.answer.model_dump(mode="json"),
        "probability": outcome.probability,
        "model": outcome.model,
    }


def _from_cache(value: dict[str, Any], names: Sequence[str]) -> Outcome | None:
    """A cached answer, re-validated (the taxonomy may have changed since); None makes it a miss."""
    try:
        answer = parse_answer(json.dumps(value["answer"]), names)
    except (InvalidAnswer, KeyError, TypeError):
        return None
    probability = value.get("probability")
    return Outcome(
        answer=answer,
        probability=float(probability) if probability is not None else None,
        model=str(value.get("model") or ""),
    )
