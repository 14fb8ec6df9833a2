"""The nouns of EmailBot, shared by every layer.

Everything here is frozen and free of I/O so that the pipeline's pure parts (routing above all) can be tested
with plain values, and so that a value handed from one stage to the next cannot be changed behind its back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

DEFAULT_CATEGORIES: tuple[str, ...] = ("PURCHASING", "SUPPORT", "INFORMATION", "ESCALATION", "CONSULTATION")


class Urgency(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class Action(StrEnum):
    """What the router decided to do with an email."""

    AUTO_HANDLE = "AUTO_HANDLE"
    SUGGEST_RESPONSE = "SUGGEST_RESPONSE"
    HUMAN_REVIEW = "HUMAN_REVIEW"
    ESCALATE = "ESCALATE"
    SKIP = "SKIP"
    NO_ACTION = "NO_ACTION"  # mail that asks nothing of the desk (spam, newsletters, thanks): recorded, left alone


class Status(StrEnum):
    """Where an email is in the pipeline; `completed` and `failed` are final."""

    RECEIVED = "received"
    CLASSIFYING = "classifying"
    ROUTING = "routing"
    RESPONDING = "responding"
    ESCALATING = "escalating"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED)


@dataclass(frozen=True, slots=True)
class Address:
    email: str
    name: str = ""

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2].lower()

    def formatted(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata only: attachments are never opened."""

    filename: str
    content_type: str
    size: int
    is_inline: bool = False


@dataclass(frozen=True, slots=True)
class LoopSignals:
    """Headers that tell a person's mail from machine-sent mail (RFC 3834, RFC 2369, common practice), and the
    verdicts receiving servers add (SpamAssassin, Exchange Online Protection, Authentication-Results)."""

    auto_submitted: str | None = None
    precedence: str | None = None
    list_id: str | None = None
    x_autoreply: bool = False
    empty_return_path: bool = False
    server_verdict: str | None = None  # "spam" | "phishing" when a receiving server said so
    verdict_evidence: str = ""  # which header said it, e.g. "X-Spam-Flag: YES", "SCL 7", "dmarc=fail"

    @property
    def is_auto_reply(self) -> bool:
        auto = (self.auto_submitted or "no").strip().lower()
        return auto != "no" or self.x_autoreply or self.empty_return_path

    @property
    def is_bulk(self) -> bool:
        precedence = (self.precedence or "").strip().lower()
        return precedence in {"bulk", "list", "junk"} or bool(self.list_id)


@dataclass(frozen=True, slots=True)
class Email:
    """A normalized email. `clean_text` is what classification reads; `body_text` is the full body."""

    source_id: str
    subject: str
    sender: Address | None
    received_at: datetime
    body_text: str = ""
    clean_text: str = ""
    body_html: str | None = None
    message_id: str | None = None
    thread_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    importance: str = "normal"
    attachments: tuple[Attachment, ...] = ()
    loop: LoopSignals = field(default_factory=LoopSignals)
    parse_error: str | None = None
    source_conversation_id: str | None = None  # the connector's conversation id (Graph's conversationId)

    @property
    def reply_address(self) -> Address | None:
        """Where a reply goes: Reply-To when given, else the sender."""
        return self.reply_to[0] if self.reply_to else self.sender


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    confidence: float  # 0-100
    classifier: str
    model: str
    reasoning: str = ""
    urgency: Urgency = Urgency.MEDIUM
    suggested_action: str = ""
    required_expertise: tuple[str, ...] = ()
    estimated_effort: str = ""
    language: str = ""
    summary: str = ""
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    unrecognized: float = 0.0  # 0-100: how much of the email matches no category at all (spam, chit-chat, ...)
    prompt_version: str = ""  # the LLM prompts' version (classifiers/llm/prompts.py); empty for the local model
    raw_confidence: float | None = None  # 0-100, before calibration (LLM and hybrid); what calibration is fitted on
    cost: float = 0.0  # what the LLM request cost, from the configured price table
    # 0-100: how sure the classifier is that the email asks something of the desk at all (not spam, not a
    # newsletter, not a "thanks"). 100 by default so that a classifier that cannot tell changes no decision.
    request_confidence: float = 100.0
    noise: str = ""  # when it looks like no request: spam|phishing|newsletter|notification|thanks|not_a_request


NOISE_KINDS: tuple[str, ...] = ("spam", "phishing", "newsletter", "notification", "thanks", "not_a_request")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Confidence cut-offs: >= auto answers, >= suggest drafts, >= review flags, below escalates."""

    auto: float = 85
    suggest: float = 60
    review: float = 40

    def __post_init__(self) -> None:
        if not 0 <= self.review <= self.suggest <= self.auto <= 100:
            raise ValueError("thresholds must satisfy 0 <= review <= suggest <= auto <= 100")


class RuleAction(StrEnum):
    REPLY = "reply"
    ESCALATE = "escalate"
    REVIEW = "review"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Rule:
    """An operator's rule. Every condition that is set must match (case-insensitive)."""

    id: int
    name: str
    action: RuleAction
    priority: int = 100
    sender: str | None = None
    domain: str | None = None
    subject_contains: str | None = None
    category: str | None = None
    template: str | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    template: str | None = None
    rule_id: int | None = None
    assigned_to: str | None = None  # the person whose review queue the email goes to (who handles its conversation)
    noise: str = ""  # NO_ACTION: the kind of noise (spam, newsletter, thanks, ...), for the list and other rules


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A reply or draft, before a connector turns it into its wire form."""

    to: tuple[Address, ...]
    subject: str
    body_text: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    body_html: str | None = None
    # Set by the planner so that an answer to this reply can be found in its conversation; None: the connector's.
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class RawMessage:
    """What a connector hands over before parsing: the source's own id and the untouched bytes."""

    source_id: str
    raw: bytes
    received_at: datetime | None = None
    conversation_id: str | None = None  # the connector's own conversation id, when it has one
