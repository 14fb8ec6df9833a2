"""Noise and the evidence escalation needs: each row is an input and the decision it must give."""

from __future__ import annotations

from dataclasses import replace

import pytest

from emailbot.domain import Action, Classification, LoopSignals, Rule, RuleAction, Thresholds, Urgency
from emailbot.pipeline.route import RoutingContext, noise_kind, route
from tests.factories import make_classification, make_email

CONTEXT = RoutingContext(thresholds=Thresholds(), mailbox_address="helpdesk@example.com")
SPAM_VERDICT = LoopSignals(server_verdict="spam", verdict_evidence="X-Spam-Flag: YES")


def _classified(
    category: str = "SUPPORT",
    confidence: float = 90,
    request: float = 100,
    kind: str = "",
    urgency: Urgency = Urgency.MEDIUM,
) -> Classification:
    base = make_classification(category=category, confidence=confidence, urgency=urgency)
    return replace(base, request_confidence=request, noise=kind)


@pytest.mark.parametrize(
    ("classification", "expected"),
    [
        (_classified(category="ESCALATION", confidence=99), Action.NO_ACTION),
        (_classified(confidence=99), Action.NO_ACTION),
        (_classified(urgency=Urgency.CRITICAL), Action.NO_ACTION),
    ],
)
def test_a_servers_spam_verdict_is_never_answered_or_escalated(
    classification: Classification, expected: Action
) -> None:
    decision = route(make_email(loop=SPAM_VERDICT), classification, CONTEXT)
    assert decision.action == expected
    assert decision.reason == "noise: spam (X-Spam-Flag: YES)"


@pytest.mark.parametrize(
    ("requested", "expected"),
    [(29.9, Action.NO_ACTION), (30, Action.AUTO_HANDLE), (0, Action.NO_ACTION), (100, Action.AUTO_HANDLE)],
)
def test_request_confidence_below_the_noise_threshold_is_no_action(requested: float, expected: Action) -> None:
    decision = route(make_email(), _classified(request=requested, kind="newsletter"), CONTEXT)
    assert decision.action == expected


def test_the_noise_kind_leads_the_reason() -> None:
    decision = route(make_email(), _classified(request=10, kind="thanks"), CONTEXT)
    assert decision.reason == "noise: thanks (request confidence 10)"


def test_a_noise_threshold_of_zero_leaves_the_decision_to_the_rest() -> None:
    context = replace(CONTEXT, noise_threshold=0)
    bulk = make_email(loop=LoopSignals(precedence="bulk"))
    assert route(make_email(), _classified(request=5), context).action == Action.AUTO_HANDLE
    assert route(bulk, _classified(request=5), context).action == Action.HUMAN_REVIEW  # the loop guard


@pytest.mark.parametrize(
    ("loop", "requested", "expected"),
    [
        (LoopSignals(precedence="bulk"), 59.9, Action.NO_ACTION),
        (LoopSignals(list_id="<news.example.com>"), 55, Action.NO_ACTION),
        (LoopSignals(auto_submitted="auto-generated"), 55, Action.NO_ACTION),
        (LoopSignals(precedence="bulk"), 60, Action.HUMAN_REVIEW),  # a request from a list: a person, no reply
        (LoopSignals(), 55, Action.AUTO_HANDLE),
    ],
)
def test_machine_sent_mail_needs_more_request_confidence(loop: LoopSignals, requested: float, expected: Action) -> None:
    assert route(make_email(loop=loop), _classified(request=requested), CONTEXT).action == expected


@pytest.mark.parametrize(
    ("loop", "kind", "expected"),
    [
        (SPAM_VERDICT, "thanks", "spam"),
        (LoopSignals(), "thanks", "thanks"),
        (LoopSignals(list_id="<x>"), "", "newsletter"),
        (LoopSignals(auto_submitted="auto-replied"), "", "notification"),
        (LoopSignals(), "", "not_a_request"),
    ],
)
def test_noise_kind(loop: LoopSignals, kind: str, expected: str) -> None:
    assert noise_kind(make_email(loop=loop), _classified(request=0, kind=kind)) == expected


def test_operator_rules_and_follow_ups_come_before_noise() -> None:
    rule = Rule(id=1, name="vip", priority=1, action=RuleAction.ESCALATE, domain="customer.example")
    spam = make_email(loop=SPAM_VERDICT)
    assert route(spam, _classified(request=0), replace(CONTEXT, rules=(rule,))).action == Action.ESCALATE
    follow_up = route(make_email(), _classified(request=0), replace(CONTEXT, active_escalation_id=3))
    assert follow_up.action == Action.ESCALATE


def test_a_malformed_message_goes_to_a_person_even_with_a_spam_verdict() -> None:
    email = replace(make_email(loop=SPAM_VERDICT), parse_error="no RFC 822 headers found")
    assert route(email, _classified(), CONTEXT).action == Action.HUMAN_REVIEW


@pytest.mark.parametrize(
    ("confidence", "requested", "expected"),
    [
        (99, 99, Action.ESCALATE),
        (40, 50, Action.ESCALATE),
        (39.9, 99, Action.HUMAN_REVIEW),  # unsure which category: a person, not a chat
        (99, 49.9, Action.HUMAN_REVIEW),  # not more likely a request than not
        (99, 29.9, Action.NO_ACTION),  # below the noise threshold: noise comes first
    ],
)
def test_policy_escalation_needs_evidence(confidence: float, requested: float, expected: Action) -> None:
    for classification in (
        _classified(category="ESCALATION", confidence=confidence, request=requested),
        _classified(confidence=confidence, request=requested, urgency=Urgency.CRITICAL),
    ):
        assert route(make_email(), classification, CONTEXT).action == expected


def test_the_evidence_floor_is_configurable() -> None:
    strict = replace(CONTEXT, escalation_min_confidence=80)
    lenient = replace(CONTEXT, escalation_min_confidence=0, noise_threshold=0)
    classification = _classified(category="ESCALATION", confidence=70, request=75)
    assert route(make_email(), classification, strict).action == Action.HUMAN_REVIEW
    assert route(make_email(), classification, CONTEXT).action == Action.ESCALATE
    unsure = _classified(category="ESCALATION", confidence=5, request=60)
    assert route(make_email(), unsure, lenient).action == Action.ESCALATE
    # More likely noise than a request: no floor setting makes that a chat.
    weak = _classified(category="ESCALATION", confidence=90, request=45)
    assert route(make_email(), weak, lenient).action == Action.HUMAN_REVIEW


def test_the_evidence_floor_follows_the_review_threshold_by_default() -> None:
    context = replace(CONTEXT, thresholds=Thresholds(auto=95, suggest=80, review=70))
    classification = _classified(category="ESCALATION", confidence=65)
    assert route(make_email(), classification, context).action == Action.HUMAN_REVIEW


@pytest.mark.parametrize(("requested", "expected"), [(45, Action.NO_ACTION), (55, Action.ESCALATE)])
def test_a_low_confidence_escalation_needs_a_request(requested: float, expected: Action) -> None:
    context = replace(CONTEXT, noise_threshold=50)
    assert route(make_email(), _classified(confidence=20, request=requested), context).action == expected
    no_noise = replace(CONTEXT, noise_threshold=0)
    reviewed = route(make_email(), _classified(confidence=20, request=30), no_noise)
    assert reviewed.action == Action.HUMAN_REVIEW
    assert "not confidently a request" in reviewed.reason
