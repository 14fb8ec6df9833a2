"""Conversation rules of routing, as rows: what came before in the conversation and the decision it must give."""

from __future__ import annotations

import pytest

from emailbot.domain import Action, Rule, RuleAction, Thresholds, Urgency
from emailbot.pipeline.route import ConversationFacts, RoutingContext, route
from tests.factories import make_classification, make_email

BASE = RoutingContext(thresholds=Thresholds(), mailbox_address="helpdesk@example.com")
ANSWERED_ONCE = ConversationFacts(id=7, auto_replies=1, auto_reply_email_id=41)
HANDLED = ConversationFacts(id=7, handled_by="alice")


def context(facts: ConversationFacts, **values: object) -> RoutingContext:
    return RoutingContext(
        thresholds=Thresholds(),
        mailbox_address="helpdesk@example.com",
        conversation=facts,
        **values,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("facts", "extra", "confidence", "urgency", "expected", "reason_part", "assigned"),
    [
        # nothing before: today's behaviour
        (ConversationFacts(), {}, 95, Urgency.MEDIUM, Action.AUTO_HANDLE, "confidence", None),
        (ConversationFacts(id=3), {}, 95, Urgency.MEDIUM, Action.AUTO_HANDLE, "confidence", None),
        # the sender writes back after the automatic answer: a person, whatever the score or policy says
        (ANSWERED_ONCE, {}, 99, Urgency.MEDIUM, Action.HUMAN_REVIEW, "automatic answer to email 41", None),
        (ANSWERED_ONCE, {}, 10, Urgency.MEDIUM, Action.HUMAN_REVIEW, "automatic answer", None),
        (ANSWERED_ONCE, {}, 99, Urgency.CRITICAL, Action.HUMAN_REVIEW, "automatic answer", None),
        # a person answered in it: their queue
        (HANDLED, {}, 99, Urgency.MEDIUM, Action.HUMAN_REVIEW, "handled by alice", "alice"),
        # two automatic replies allowed: the second one may go out, the third not
        (ANSWERED_ONCE, {"max_auto_replies_per_conversation": 2}, 95, Urgency.MEDIUM, Action.AUTO_HANDLE, "", None),
        (
            ConversationFacts(id=7, auto_replies=2),
            {"max_auto_replies_per_conversation": 2},
            95,
            Urgency.MEDIUM,
            Action.HUMAN_REVIEW,
            "automatic answer",
            None,
        ),
        # no automatic replies at all: a confident answer becomes a draft
        (
            ConversationFacts(id=3),
            {"max_auto_replies_per_conversation": 0},
            95,
            Urgency.MEDIUM,
            Action.SUGGEST_RESPONSE,
            "already answered automatically",
            None,
        ),
        # "thanks, that worked": the conversation rule steps aside (the noise rule closes it)
        (ANSWERED_ONCE, {"is_thanks": True}, 70, Urgency.MEDIUM, Action.SUGGEST_RESPONSE, "confidence", None),
        (
            ANSWERED_ONCE,
            {"is_thanks": True},
            95,
            Urgency.MEDIUM,
            Action.SUGGEST_RESPONSE,
            "answered automatically",
            None,
        ),
        (HANDLED, {"is_thanks": True}, 50, Urgency.MEDIUM, Action.HUMAN_REVIEW, "confidence", None),
    ],
)
def test_conversation_rules(
    facts: ConversationFacts,
    extra: dict[str, object],
    confidence: float,
    urgency: Urgency,
    expected: Action,
    reason_part: str,
    assigned: str | None,
) -> None:
    decision = route(make_email(), make_classification(confidence=confidence, urgency=urgency), context(facts, **extra))
    assert decision.action == expected
    assert reason_part in decision.reason
    assert decision.assigned_to == assigned


def test_operator_rules_and_escalation_follow_ups_come_first() -> None:
    rule = Rule(id=1, name="vip", action=RuleAction.ESCALATE, sender="boss@example.com")
    email = make_email(sender="boss@example.com")
    by_rule = route(email, make_classification(confidence=99), context(ANSWERED_ONCE, rules=(rule,)))
    assert (by_rule.action, by_rule.rule_id) == (Action.ESCALATE, 1)
    follow_up = route(make_email(), make_classification(), context(HANDLED, active_escalation_id=5))
    assert follow_up.action == Action.ESCALATE
    assert "escalation 5" in follow_up.reason


def test_malformed_mail_stays_a_review_without_assignment() -> None:
    decision = route(make_email(parse_error="bad MIME"), make_classification(), context(HANDLED))
    assert decision.action == Action.HUMAN_REVIEW
    assert decision.assigned_to is None
