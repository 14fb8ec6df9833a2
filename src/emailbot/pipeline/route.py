"""Routing: a pure function from an email and its classification to a decision.

Order matters and is the contract operators rely on:
1. a message that could not be parsed goes to a person;
2. operator rules, by priority, first match wins;
2b. a follow-up in a thread with an active escalation joins that escalation;
2c. conversations: a reply after EmailBot's automatic answer, or in a conversation a person handles, goes to a
    person (that person's queue); a "thanks, that worked" reply is left to the noise rule, which closes it;
2d. noise: mail that asks nothing of the desk (a server's spam verdict, or the classifier's low confidence that
    it is a request at all, lower still to count for bulk and automatic mail) gets NO_ACTION: recorded, left
    alone, never answered or escalated;
3. policy: category ESCALATION or urgency CRITICAL escalates, but only with evidence that the email is a real
   request (classification confidence at least `RoutingContext.evidence_floor`, request confidence at least that
   and at least 50), and never for bulk or list mail; without
   it a person reviews it, because a chat pulls people in for what may be junk the model has never seen;
4. confidence thresholds; a low-confidence escalation without that evidence becomes a review too;
5. loop guards, so that no rule, policy or score can make EmailBot reply to a machine, a list, itself, or
   the same sender too often: such a reply becomes a human review instead. A low-confidence escalation of such
   mail becomes a review too; an escalation by rule or policy (an outage alert from a monitor) stands;
6. earned autonomy last: an automatic reply in a category that has not earned auto-send from operators' reviews
   (or was not granted it, or was revoked) becomes a draft (`RoutingContext.autonomy`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from emailbot.domain import Action, Classification, Decision, Email, Rule, RuleAction, Thresholds, Urgency

ESCALATION_CATEGORY = "ESCALATION"
UNRECOGNIZED_REVIEW = 50.0
REQUEST_EVIDENCE = 50.0  # a chat needs an email more likely a request than not, whatever the evidence floor
REPLYING_ACTIONS = frozenset({Action.AUTO_HANDLE, Action.SUGGEST_RESPONSE})
_NO_REPLY_LOCAL_PART = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]daemon|postmaster|bounces?|notifications?)([-+_.].*)?$"
)


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    """What came before the email in its conversation (store/conversations.py); the defaults mean: nothing."""

    id: int | None = None
    auto_replies: int = 0
    auto_reply_email_id: int | None = None
    handled_by: str | None = None


@dataclass(frozen=True, slots=True)
class AutonomyGate:
    """The categories that may send automatic replies now; for each other one, why not (shown in the reason)."""

    allowed: frozenset[str] = frozenset()
    why_not: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoutingContext:
    thresholds: Thresholds
    mailbox_address: str
    rules: tuple[Rule, ...] = ()
    replies_to_sender_last_hour: int = 0
    max_replies_per_sender_per_hour: int = 3
    no_auto_reply_categories: frozenset[str] = frozenset()
    active_escalation_id: int | None = None  # the open escalation of the email's thread, if any
    conversation: ConversationFacts = field(default_factory=ConversationFacts)
    max_auto_replies_per_conversation: int = 1
    is_thanks: bool = False  # the email only says thanks (the noise classifier's verdict): no person needed
    autonomy: AutonomyGate | None = None  # None: every category may auto-send (EMAILBOT_AUTONOMY=always)
    # Below this request confidence (0-100) an email is noise: NO_ACTION. 0 turns the model's part off.
    noise_threshold: float = 30.0
    # Policy escalation needs confidence and request confidence >= this; None: the review threshold.
    escalation_min_confidence: float | None = None

    @property
    def evidence_floor(self) -> float:
        floor = self.escalation_min_confidence
        return self.thresholds.review if floor is None else floor


def route(email: Email, classification: Classification, context: RoutingContext) -> Decision:
    if email.parse_error:
        return Decision(Action.HUMAN_REVIEW, f"malformed message: {email.parse_error}")
    decision = (
        _by_rule(email, classification, context.rules)
        or _follow_up(email, context)
        or conversation_rule(context, thanks=_is_thanks(email, classification, context))
        or noise(email, classification, context)
        or _by_policy(email, classification, context)
    )
    if decision is not None and decision.action == Action.NO_ACTION:
        return decision
    unsure = decision is None
    if decision is None:
        decision = _without_evidence(classification, context, _by_confidence(classification, context.thresholds))
    if decision.action == Action.AUTO_HANDLE and classification.category in context.no_auto_reply_categories:
        decision = Decision(Action.SUGGEST_RESPONSE, f"{decision.reason}; category never auto-replies")
    if decision.action == Action.AUTO_HANDLE and _conversation_has_its_answers(context):
        decision = Decision(Action.SUGGEST_RESPONSE, f"{decision.reason}; conversation already answered automatically")
    # Machine mail that the classifier is merely unsure about is not worth pulling people into a chat.
    guarded = decision.action in REPLYING_ACTIONS or (unsure and decision.action == Action.ESCALATE)
    guard = loop_guard(email, context) if guarded else None
    if guard:
        return Decision(Action.HUMAN_REVIEW, f"loop guard: {guard} (instead of {decision.action})")
    decision = earned_autonomy(decision, classification.category, context.autonomy)
    if unsure and decision.action == Action.ESCALATE and classification.unrecognized >= UNRECOGNIZED_REVIEW:
        # Nothing in the taxonomy fits (spam, chit-chat, a stray newsletter): a person sorts it, no chat.
        return Decision(
            Action.HUMAN_REVIEW, f"{decision.reason}; {classification.unrecognized:.0f}% unlike any category"
        )
    return decision


def earned_autonomy(decision: Decision, category: str, gate: AutonomyGate | None) -> Decision:
    """An automatic reply only in a category that may auto-send; otherwise the same reply as a draft.

    An operator rule that replies is the operator's explicit choice for that mail and stands.
    """
    if gate is None or decision.action != Action.AUTO_HANDLE or decision.rule_id is not None:
        return decision
    if category in gate.allowed:
        return decision
    why = gate.why_not.get(category) or f"auto-send not yet earned for {category}: no reviews yet"
    return Decision(Action.SUGGEST_RESPONSE, f"{decision.reason}; {why}", decision.template)


def loop_guard(email: Email, context: RoutingContext) -> str | None:
    """Why EmailBot must not reply to this email, or None when a reply is safe."""
    target = email.reply_address
    if target is None or "@" not in target.email:
        return "no address to reply to"
    if email.loop.is_auto_reply:
        return "the email is an automatic message"
    if email.loop.is_bulk:
        return "the email is bulk or list mail"
    if _NO_REPLY_LOCAL_PART.match(target.email.partition("@")[0].lower()):
        return "the sender does not take replies"
    if _same_address(target.email, context.mailbox_address) or (
        email.sender and _same_address(email.sender.email, context.mailbox_address)
    ):
        return "the email comes from this mailbox"
    if context.replies_to_sender_last_hour >= context.max_replies_per_sender_per_hour:
        return f"{context.replies_to_sender_last_hour} replies to this sender in the last hour"
    return None


def _by_rule(email: Email, classification: Classification, rules: tuple[Rule, ...]) -> Decision | None:
    for rule in sorted(rules, key=lambda item: (item.priority, item.id)):
        if rule.enabled and rule_matches(rule, email, classification):
            return Decision(_RULE_ACTIONS[rule.action], f"rule {rule.name!r}", rule.template, rule.id)
    return None


_RULE_ACTIONS = {
    RuleAction.REPLY: Action.AUTO_HANDLE,
    RuleAction.ESCALATE: Action.ESCALATE,
    RuleAction.REVIEW: Action.HUMAN_REVIEW,
    RuleAction.SKIP: Action.SKIP,
}


def rule_matches(rule: Rule, email: Email, classification: Classification) -> bool:
    """Every condition that is set must hold; a rule with no condition matches nothing."""
    sender = email.sender.email.lower() if email.sender else ""
    checks: list[tuple[str | None, Callable[[str], bool]]] = [
        (rule.sender, lambda value: sender == value.lower()),
        (rule.domain, lambda value: _in_domain(sender, value)),
        (rule.subject_contains, lambda value: value.lower() in email.subject.lower()),
        (rule.category, lambda value: classification.category.upper() == value.upper()),
    ]
    conditions = [(value, check) for value, check in checks if value]
    return bool(conditions) and all(check(value) for value, check in conditions)


def _follow_up(email: Email, context: RoutingContext) -> Decision | None:
    """A person's reply in an escalated thread belongs in that escalation's chat, not in a new one or a reply.

    Machine mail in the thread (an out-of-office quoting the outage) would only add noise to the chat or, by
    policy, open a second one: a person looks at it instead.
    """
    escalation_id = context.active_escalation_id
    if escalation_id is None:
        return None
    if email.loop.is_auto_reply or email.loop.is_bulk:
        return Decision(Action.HUMAN_REVIEW, f"automatic message in the thread of escalation {escalation_id}")
    return Decision(Action.ESCALATE, f"follow-up in escalation {escalation_id}")


def conversation_rule(context: RoutingContext, *, thanks: bool = False) -> Decision | None:
    """A conversation that already has a person or an automatic answer gets a person, not another answer.

    A sender writing back after the automatic answer ("restarting did not help") means the answer did not
    settle it; a second automatic one (with a new reference) would be worse than none. A conversation a person
    answered stays with that person. A plain "thanks" is the exception: nobody needs to read it.
    """
    facts = context.conversation
    if thanks or context.is_thanks:
        return None
    if facts.handled_by:
        return Decision(
            Action.HUMAN_REVIEW,
            f"conversation {facts.id} is handled by {facts.handled_by}",
            assigned_to=facts.handled_by,
        )
    if facts.auto_replies and facts.auto_replies >= context.max_auto_replies_per_conversation:
        earlier = f" to email {facts.auto_reply_email_id}" if facts.auto_reply_email_id else ""
        return Decision(Action.HUMAN_REVIEW, f"reply after the automatic answer{earlier} in conversation {facts.id}")
    return None


def _conversation_has_its_answers(context: RoutingContext) -> bool:
    return context.conversation.auto_replies >= context.max_auto_replies_per_conversation


def _is_thanks(email: Email, classification: Classification, context: RoutingContext) -> bool:
    """A "thanks, that worked" that the noise rule leaves alone: it closes the conversation, nobody reads it."""
    if context.is_thanks:
        return True
    left_alone = noise(email, classification, context)
    return left_alone is not None and left_alone.noise == "thanks"


def noise(email: Email, classification: Classification, context: RoutingContext) -> Decision | None:
    """NO_ACTION for mail that asks nothing of the desk, with the kind of noise first in the reason.

    A server's spam or phishing verdict decides alone. Otherwise the classifier's request confidence does: below
    `noise_threshold`, or below the suggest threshold for bulk, list and automatic mail (a newsletter or an
    out-of-office that happens to mention a printer is still not a request). The kind travels on the decision
    (`Decision.noise`, stored with the result): a conversation rule can close a thread on a "thanks" reply.
    """
    kind = noise_kind(email, classification)
    if email.loop.server_verdict:
        return Decision(Action.NO_ACTION, f"noise: {kind} ({email.loop.verdict_evidence})", noise=kind)
    request = classification.request_confidence
    if request < context.noise_threshold:
        return Decision(Action.NO_ACTION, f"noise: {kind} (request confidence {request:.0f})", noise=kind)
    machine = email.loop.is_bulk or email.loop.is_auto_reply
    if machine and context.noise_threshold > 0 and request < context.thresholds.suggest:
        reason = f"noise: {kind} (machine-sent, request confidence {request:.0f})"
        return Decision(Action.NO_ACTION, reason, noise=kind)
    return None


def noise_kind(email: Email, classification: Classification) -> str:
    """The kind of noise: a server's verdict, else the classifier's kind, else what the headers say."""
    if email.loop.server_verdict:
        return email.loop.server_verdict
    if classification.noise:
        return classification.noise
    if email.loop.is_bulk:
        return "newsletter"
    return "notification" if email.loop.is_auto_reply else "not_a_request"


def has_request_evidence(email: Email, classification: Classification, context: RoutingContext) -> bool:
    """Is the classifier sure enough of this email, and that it is a request at all, to pull people in?

    Bulk and list mail never is: it was written to many readers, not to the desk (a monitor's alert is
    Auto-Submitted, not bulk, and still escalates; an operator's rule can escalate a list on purpose).
    """
    floor = context.evidence_floor
    confident = classification.confidence >= floor and classification.request_confidence >= _request_floor(context)
    return confident and not email.loop.is_bulk


def _request_floor(context: RoutingContext) -> float:
    """The request confidence a chat needs: the evidence floor, and in any case more likely a request than not."""
    return max(context.evidence_floor, REQUEST_EVIDENCE)


def _by_policy(email: Email, classification: Classification, context: RoutingContext) -> Decision | None:
    if classification.category == ESCALATION_CATEGORY:
        reason = "policy: category ESCALATION"
    elif classification.urgency == Urgency.CRITICAL:
        reason = "policy: urgency CRITICAL"
    else:
        return None
    if has_request_evidence(email, classification, context):
        return Decision(Action.ESCALATE, reason)
    if email.loop.is_bulk:
        return Decision(Action.HUMAN_REVIEW, f"{reason}, but bulk or list mail: review instead of a chat")
    return Decision(Action.HUMAN_REVIEW, f"{reason}, {_weak_evidence(classification)}")


def _without_evidence(classification: Classification, context: RoutingContext, decision: Decision) -> Decision:
    """A confidence-based escalation of an email that may not be a request at all goes to a person instead."""
    if decision.action != Action.ESCALATE or classification.request_confidence >= _request_floor(context):
        return decision
    return Decision(Action.HUMAN_REVIEW, f"{decision.reason}, {_weak_evidence(classification)}")


def _weak_evidence(classification: Classification) -> str:
    return (
        f"but not confidently a request (confidence {classification.confidence:.0f}, "
        f"request confidence {classification.request_confidence:.0f}): review instead of a chat"
    )


def _by_confidence(classification: Classification, thresholds: Thresholds) -> Decision:
    score = classification.confidence
    if score >= thresholds.auto:
        return Decision(Action.AUTO_HANDLE, f"confidence {score:.1f} >= {thresholds.auto:g}")
    if score >= thresholds.suggest:
        return Decision(Action.SUGGEST_RESPONSE, f"confidence {score:.1f} >= {thresholds.suggest:g}")
    if score >= thresholds.review:
        return Decision(Action.HUMAN_REVIEW, f"confidence {score:.1f} >= {thresholds.review:g}")
    return Decision(Action.ESCALATE, f"confidence {score:.1f} < {thresholds.review:g}")


def _in_domain(address: str, domain: str) -> bool:
    host = address.rpartition("@")[2]
    wanted = domain.lower().lstrip("@")
    return host == wanted or host.endswith("." + wanted)


def _same_address(left: str, right: str) -> bool:
    return left.strip().lower() == right.strip().lower()
