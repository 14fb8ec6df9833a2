"""LLM-written reply drafts for SUGGEST_RESPONSE: in the thread's context and the sender's language.

A draft is a suggestion for a person: it goes to the drafts folder and the review queue, never out on its own,
unless the operator lists the category in EMAILBOT_LLM_AUTO_SEND_CATEGORIES. Its recipients are never the model's
to choose: the Planner addresses it from the parsed headers like any reply. When anything fails (circuit open,
budget spent, server error) there is simply no LLM draft and the category's template is used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from emailbot.classifiers.llm.classifier import Guards
from emailbot.classifiers.llm.client import LLMClient, LLMRejected, LLMUnavailable
from emailbot.classifiers.llm.prompts import EmailData, draft_messages
from emailbot.classifiers.llm.redaction import Redaction, redact
from emailbot.classifiers.llm.tokens import cut_to_tokens, estimate_tokens, squeeze
from emailbot.domain import Classification, Email
from emailbot.pipeline.act import WrittenReply

log = logging.getLogger(__name__)
MAX_DRAFT_CHARS = 6000
THREAD_MESSAGES = 4
DRAFT_MAX_TOKENS = 700


class LLMDrafter:
    def __init__(
        self,
        client: LLMClient,
        guards: Guards,
        *,
        mailbox_name: str,
        max_input_tokens: int = 1500,
        redact_pii: bool = False,
    ) -> None:
        self.client = client
        self.guards = guards
        self.mailbox_name = mailbox_name
        self.max_input_tokens = max_input_tokens
        self.redact_pii = redact_pii

    async def write(self, email: Email, classification: Classification, thread: Sequence[Email]) -> WrittenReply | None:
        if await self.guards.budget.exhausted() or not self.guards.breaker.allow():
            return None
        redaction = Redaction()
        messages = draft_messages(
            self._data(email, redaction, self.max_input_tokens),
            [self._data(m, redaction, self.max_input_tokens // 4) for m in thread[-THREAD_MESSAGES:]],
            category=classification.category,
            summary=classification.summary,
            language=classification.language,
            mailbox_name=self.mailbox_name,
        )
        await self.guards.limiter.acquire(estimate_tokens(str(messages)) + DRAFT_MAX_TOKENS)
        try:
            completion = await self.client.text(messages, DRAFT_MAX_TOKENS)
        except (LLMUnavailable, LLMRejected) as exc:
            self.guards.breaker.record_failure(str(exc))
            log.warning("LLM draft failed, using the template: %s", exc)
            return None
        self.guards.breaker.record_success()
        cost = self.guards.prices.cost(self.client.model, completion.prompt_tokens, completion.completion_tokens)
        await self.guards.budget.add(cost)
        text = redaction.restore(completion.content).strip()[:MAX_DRAFT_CHARS]
        if not text:
            return None
        tokens = completion.prompt_tokens + completion.completion_tokens
        return WrittenReply(text=text + "\n", tokens=tokens, cost=cost, model=completion.model)

    def _data(self, email: Email, redaction: Redaction, budget: int) -> EmailData:
        """The message as the model sees it; the full body, since a reply should answer all of it."""
        body = cut_to_tokens(squeeze(email.body_text or email.clean_text), budget)
        sender = email.sender.formatted() if email.sender else ""
        if self.redact_pii:
            return EmailData(redact(email.subject, redaction), redact(sender, redaction), redact(body, redaction))
        return EmailData(email.subject, sender, body)
