"""Acting on a decision: first plan the side effects as data (stored as intents), then carry them out.

Planning is pure apart from template rendering, so what a retry does is exactly what was stored the first time.
Each effect has an idempotency key; connectors and notifiers honour it, so carrying out an effect twice (after a
crash between doing it and recording it) acts once.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from emailbot.domain import Action, Address, Classification, Decision, Email, OutgoingMessage
from emailbot.mail.base import Mailbox
from emailbot.notify.base import EscalationNotice, Notifier, NotifyError
from emailbot.pipeline.templates import ReplyContext, ReplyTemplates
from emailbot.taxonomy import Taxonomy

ESCALATION_PREFIX = "IT-ESCALATION"
NOISE_CATEGORY = "NOISE"  # the mailbox category of mail left alone (EmailBot/NOISE), whatever the classifier said


@dataclass(frozen=True, slots=True)
class Effect:
    kind: str  # reply | draft | notify | mark
    key: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EscalationPlan:
    name: str
    members: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class WrittenReply:
    """Reply text written by a model (an LLM draft), with what it cost; it never carries recipients."""

    text: str
    tokens: int = 0
    cost: float = 0.0
    model: str = ""


class ReplyWriter(Protocol):
    """Writes a reply's text for an email (the LLM drafter); None means: use the template."""

    async def write(
        self, email: Email, classification: Classification, thread: Sequence[Email]
    ) -> WrittenReply | None: ...


@dataclass(frozen=True, slots=True)
class Plan:
    effects: tuple[Effect, ...]
    response_text: str | None = None
    escalation: EscalationPlan | None = None


class Planner:
    def __init__(
        self,
        taxonomy: Taxonomy,
        templates: ReplyTemplates,
        *,
        mailbox_name: str,
        default_members: Sequence[str] = (),
        base_url: str = "",
        written_auto_send: frozenset[str] = frozenset(),
        mailbox_address: str = "",
        noise_folder: str | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        self.templates = templates
        self.mailbox_name = mailbox_name
        self.default_members = tuple(default_members)
        self.base_url = base_url
        # Categories whose model-written text may be sent without a person (EMAILBOT_LLM_AUTO_SEND_CATEGORIES).
        self.written_auto_send = written_auto_send
        self.mailbox_address = mailbox_address
        self.noise_folder = noise_folder  # where NO_ACTION mail is moved (EMAILBOT_NOISE_FOLDER); None: left in place

    def wants_written_reply(self, classification: Classification, decision: Decision) -> bool:
        """Would a model-written text be used for this decision? Drafts yes; auto-replies only where allowed.

        A rule's own template always wins: the operator wrote it for exactly this mail.
        """
        if decision.rule_id is not None and decision.template:
            return False
        if decision.action == Action.SUGGEST_RESPONSE:
            return True
        return decision.action == Action.AUTO_HANDLE and classification.category in self.written_auto_send

    def escalation(self, email: Email, classification: Classification) -> EscalationPlan:
        spec = self.taxonomy.get(classification.category)
        members = (spec.escalation_members if spec else ()) + self.default_members
        return EscalationPlan(
            name=escalation_name(email),
            members=tuple(dict.fromkeys(members)),
            summary=classification.summary or email.subject,
        )

    def plan(
        self,
        email_id: int,
        email: Email,
        classification: Classification,
        decision: Decision,
        escalation_id: int | None = None,
        written: WrittenReply | None = None,
        *,
        follow_up: bool = False,
    ) -> Plan:
        """The side effects of `decision`. `written` (a model's text) is used only where `wants_written_reply`
        allows it; the recipients are always the parsed Reply-To or sender, whatever any text says."""
        if decision.action == Action.NO_ACTION:
            move = {"move_to": self.noise_folder} if self.noise_folder else {}
            return Plan((Effect("mark", f"mark:{email_id}", {"category": NOISE_CATEGORY, "flagged": False, **move}),))
        category = classification.category
        flagged = decision.action in (Action.HUMAN_REVIEW, Action.ESCALATE, Action.SUGGEST_RESPONSE)
        mark = Effect("mark", f"mark:{email_id}", {"category": category, "flagged": flagged})
        if decision.action in (Action.AUTO_HANDLE, Action.SUGGEST_RESPONSE):
            text = self._reply_text(email_id, email, classification, decision)
            if written is not None and self.wants_written_reply(classification, decision):
                text = written.text
            kind = "reply" if decision.action == Action.AUTO_HANDLE else "draft"
            key = f"{kind}:{email_id}"
            message = reply_to(email, text, planned_message_id(key, self.mailbox_address))
            reply = Effect(kind, key, outgoing_payload(message))
            return Plan((reply, mark), response_text=text)
        if decision.action == Action.ESCALATE and escalation_id is not None:
            notice = self._notice(email_id, escalation_id, email, classification, decision, follow_up=follow_up)
            # A follow-up reuses its thread's escalation; its notice is its own side effect.
            key = f"notify:{escalation_id}:email:{email_id}" if follow_up else f"notify:{escalation_id}"
            notify = Effect("notify", key, {"notice": asdict(notice)})
            return Plan((notify, mark), escalation=self.escalation(email, classification))
        return Plan((mark,))

    def _reply_text(self, email_id: int, email: Email, classification: Classification, decision: Decision) -> str:
        context = ReplyContext(
            email_id=email_id,
            subject=email.subject,
            sender_name=email.sender.name if email.sender else "",
            sender_email=email.sender.email if email.sender else "",
            category=classification.category,
            mailbox_name=self.mailbox_name,
        )
        if decision.template and decision.rule_id is not None:
            return self.templates.render_string(decision.template, context)
        spec = self.taxonomy.get(classification.category)
        return self.templates.render(spec.template if spec else "generic.txt.j2", context)

    def _notice(
        self,
        email_id: int,
        escalation_id: int,
        email: Email,
        classification: Classification,
        decision: Decision,
        *,
        follow_up: bool,
    ) -> EscalationNotice:
        plan = self.escalation(email, classification)
        return EscalationNotice(
            escalation_id=escalation_id,
            email_id=email_id,
            name=plan.name,
            subject=email.subject,
            sender=email.sender.email if email.sender else "",
            category=classification.category,
            confidence=classification.confidence,
            urgency=str(classification.urgency),
            summary=plan.summary,
            reasoning=f"{decision.reason}. {classification.reasoning}".strip(),
            required_expertise=classification.required_expertise,
            members=plan.members,
            recommended_actions=tuple(a for a in (classification.suggested_action,) if a),
            link=f"{self.base_url}/ui/emails/{email_id}",
            follow_up=follow_up,
        )


def reply_to(email: Email, text: str, message_id: str | None = None) -> OutgoingMessage:
    """A reply in the thread of `email`, to its Reply-To or sender."""
    target = email.reply_address
    subject = email.subject.strip()
    if not re.match(r"^(re|aw|sv|antw)\s*:", subject, re.IGNORECASE):
        subject = f"Re: {subject}"
    references = email.references + ((email.message_id,) if email.message_id else ())
    return OutgoingMessage(
        to=(target,) if target else (),
        subject=subject,
        body_text=text,
        in_reply_to=email.message_id,
        references=tuple(dict.fromkeys(references)),
        message_id=message_id,
    )


def planned_message_id(key: str, address: str) -> str:
    """The Message-ID of the reply written under idempotency `key` from `address`: same key, same id.

    Known before sending, so the conversation records it with the plan and a sender's answer that names only
    this id (clients that cut References) still finds its conversation.
    """
    domain = address.rpartition("@")[2].strip().lower()
    if not re.fullmatch(r"[A-Za-z0-9.-]+", domain):
        domain = "emailbot.invalid"
    return f"<emailbot.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def outgoing_payload(message: OutgoingMessage) -> dict[str, Any]:
    return asdict(message)


def outgoing_from_payload(payload: dict[str, Any]) -> OutgoingMessage:
    return OutgoingMessage(
        to=tuple(Address(**item) for item in payload["to"]),
        subject=payload["subject"],
        body_text=payload["body_text"],
        in_reply_to=payload.get("in_reply_to"),
        references=tuple(payload.get("references") or ()),
        body_html=payload.get("body_html"),
        message_id=payload.get("message_id"),
    )


def escalation_name(email: Email) -> str:
    """A chat topic like IT-ESCALATION-2025-01-15-server-outage."""
    return f"{ESCALATION_PREFIX}-{email.received_at:%Y-%m-%d}-{slug(email.subject) or 'email'}"


def slug(text: str, limit: int = 40) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return words[:limit].rstrip("-")


class EffectRunner:
    """Carries out one stored effect through the mailbox or the notifiers."""

    def __init__(self, mailbox: Mailbox, notifiers: Sequence[Notifier]) -> None:
        self.mailbox = mailbox
        self.notifiers = tuple(notifiers)

    async def run(self, effect: Effect, source_id: str) -> str:
        if effect.kind == "reply":
            return await self.mailbox.send_reply(source_id, outgoing_from_payload(effect.payload), effect.key)
        if effect.kind == "draft":
            return await self.mailbox.save_draft(source_id, outgoing_from_payload(effect.payload), effect.key)
        if effect.kind == "mark":
            flagged = bool(effect.payload["flagged"])
            move_to = effect.payload.get("move_to")
            category = str(effect.payload["category"])
            if move_to:
                await self.mailbox.mark_handled(source_id, category, flagged=flagged, move_to=str(move_to))
            else:
                await self.mailbox.mark_handled(source_id, category, flagged=flagged)
            return "marked"
        if effect.kind == "notify":
            return await self._notify(effect)
        raise ValueError(f"unknown effect kind {effect.kind!r}")

    async def _notify(self, effect: Effect) -> str:
        """Every notifier gets the notice; it counts as done when one reached people and none can still succeed.

        A permanent failure of one target (a rejected webhook) must not hold back the others; a transient one
        (Graph busy) fails the effect so it is retried, and the notifiers that already delivered answer the retry
        from their record instead of notifying twice.
        """
        if not self.notifiers:
            raise NotifyError("no notifier is configured", permanent=True)
        notice = EscalationNotice.from_payload(effect.payload["notice"])
        references: list[str] = []
        errors: list[NotifyError] = []
        for notifier in self.notifiers:
            try:
                references.append(f"{notifier.name}:{await notifier.notify(notice, f'{effect.key}:{notifier.name}')}")
            except NotifyError as exc:
                errors.append(exc)
        transient = [e for e in errors if not e.permanent]
        if transient or not references:
            raise NotifyError("; ".join(str(e) for e in errors), permanent=not transient)
        return ", ".join(references)


class ShadowRunner:
    """The runner of shadow mode: carries nothing out.

    The processor stores no intents in shadow mode, so this only meets an intent made elsewhere (a reply a person
    approved in the dashboard): it is recorded as not carried out instead of reaching a mailbox or a chat.
    """

    async def run(self, effect: Effect, source_id: str) -> str:
        return f"shadow: {effect.kind} not carried out"
