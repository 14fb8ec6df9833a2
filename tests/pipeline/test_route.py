"""Routing is a pure function: every case is a row of inputs and the decision they must give."""

from __future__ import annotations

from dataclasses import replace

import pytest

from emailbot.domain import Action, Address, Decision, Email, LoopSignals, Rule, RuleAction, Thresholds, Urgency
from emailbot.pipeline.route import RoutingContext, loop_guard, route, rule_matches
from tests.factories import make_classification, make_email

CONTEXT = RoutingContext(thresholds=Thresholds(), mailbox_address="helpdesk@example.com")


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [
        (100, Action.AUTO_HANDLE),
        (85, Action.AUTO_HANDLE),
        (84.9, Action.SUGGEST_RESPONSE),
        (60, Action.SUGGEST_RESPONSE),
        (59.9, Action.HUMAN_REVIEW),
        (40, Action.HUMAN_REVIEW),
        (39.9, Action.ESCALATE),
        (0, Action.ESCALATE),
    ],
)
def test_thresholds(confidence: float, expected: Action) -> None:
    assert route(make_email(), make_classification(confidence=confidence), CONTEXT).action == expected


def test_thresholds_are_configurable() -> None:
    context = RoutingContext(thresholds=Thresholds(auto=95, suggest=70, review=50), mailbox_address="h@example.com")
    assert route(make_email(), make_classification(confidence=90), context).action == Action.SUGGEST_RESPONSE
    assert route(make_email(), make_classification(confidence=45), context).action == Action.ESCALATE


@pytest.mark.parametrize(
    ("category", "urgency", "expected"),
    [
        ("ESCALATION", Urgency.LOW, Action.ESCALATE),
        ("SUPPORT", Urgency.CRITICAL, Action.ESCALATE),
        ("SUPPORT", Urgency.HIGH, Action.AUTO_HANDLE),
    ],
)
def test_policy_overrides_confidence(category: str, urgency: Urgency, expected: Action) -> None:
    classification = make_classification(category=category, confidence=99, urgency=urgency)
    assert route(make_email(), classification, CONTEXT).action == expected


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        (make_email(loop=LoopSignals(auto_submitted="auto-replied")), "automatic"),
        (make_email(loop=LoopSignals(x_autoreply=True)), "automatic"),
        (make_email(loop=LoopSignals(empty_return_path=True)), "automatic"),
        (make_email(loop=LoopSignals(precedence="bulk")), "bulk"),
        (make_email(loop=LoopSignals(list_id="<news.example.com>")), "bulk"),
        (make_email(sender="no-reply@service.example"), "does not take replies"),
        (make_email(sender="noreply+alerts@service.example"), "does not take replies"),
        (make_email(sender="MAILER-DAEMON@mx.example"), "does not take replies"),
        (make_email(sender="HelpDesk@Example.com"), "this mailbox"),
        (make_email(reply_to=(Address("helpdesk@example.com"),)), "this mailbox"),
        (make_email(sender=""), "no address"),
    ],
)
def test_loop_guards_turn_replies_and_unsure_escalations_into_review(email: Email, reason: str) -> None:
    for confidence in (95, 70, 10):
        decision = route(email, make_classification(confidence=confidence), CONTEXT)
        assert decision.action == Action.HUMAN_REVIEW
        assert reason in decision.reason


def test_auto_submitted_no_is_a_person() -> None:
    email = make_email(loop=LoopSignals(auto_submitted="no"))
    assert route(email, make_classification(confidence=95), CONTEXT).action == Action.AUTO_HANDLE


def test_loop_guard_leaves_policy_and_rule_escalations_alone() -> None:
    email = make_email(loop=LoopSignals(auto_submitted="auto-generated"))
    assert route(email, make_classification(category="ESCALATION"), CONTEXT).action == Action.ESCALATE
    critical = make_classification(confidence=60, urgency=Urgency.CRITICAL)
    assert route(email, critical, CONTEXT).action == Action.ESCALATE
    rule = _rule(1, RuleAction.ESCALATE, domain="customer.example")
    context = RoutingContext(thresholds=Thresholds(), mailbox_address="h@example.com", rules=(rule,))
    assert route(email, make_classification(confidence=95), context).action == Action.ESCALATE


@pytest.mark.parametrize(("sent", "expected"), [(2, Action.AUTO_HANDLE), (3, Action.HUMAN_REVIEW)])
def test_sender_rate_limit(sent: int, expected: Action) -> None:
    context = RoutingContext(thresholds=Thresholds(), mailbox_address="h@example.com", replies_to_sender_last_hour=sent)
    assert route(make_email(), make_classification(confidence=95), context).action == expected


def test_malformed_email_goes_to_review_whatever_the_score() -> None:
    decision = route(make_email(parse_error="bad MIME"), make_classification(confidence=99), CONTEXT)
    assert decision.action == Action.HUMAN_REVIEW
    assert "malformed" in decision.reason


def _rule(rule_id: int, action: RuleAction, priority: int = 100, **conditions: str) -> Rule:
    return Rule(id=rule_id, name=f"r{rule_id}", action=action, priority=priority, **conditions)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (_rule(1, RuleAction.SKIP, sender="ALICE@customer.example"), Action.SKIP),
        (_rule(2, RuleAction.ESCALATE, domain="customer.example"), Action.ESCALATE),
        (_rule(3, RuleAction.REVIEW, subject_contains="printer"), Action.HUMAN_REVIEW),
        (_rule(4, RuleAction.REPLY, category="support", template="Hi"), Action.AUTO_HANDLE),
        (_rule(5, RuleAction.SKIP, domain="other.example"), Action.SUGGEST_RESPONSE),
        (_rule(6, RuleAction.SKIP, domain="customer.example", subject_contains="invoice"), Action.SUGGEST_RESPONSE),
    ],
)
def test_rules_run_first(rule: Rule, expected: Action) -> None:
    context = RoutingContext(thresholds=Thresholds(), mailbox_address="h@example.com", rules=(rule,))
    assert route(make_email(), make_classification(confidence=70), context).action == expected


def test_rule_priority_and_disabled_rules() -> None:
    rules = (
        _rule(1, RuleAction.SKIP, priority=50, domain="customer.example"),
        _rule(2, RuleAction.ESCALATE, priority=10, domain="customer.example"),
        Rule(id=3, name="off", action=RuleAction.REVIEW, priority=1, domain="customer.example", enabled=False),
    )
    context = RoutingContext(thresholds=Thresholds(), mailbox_address="h@example.com", rules=rules)
    decision = route(make_email(), make_classification(), context)
    assert (decision.action, decision.rule_id) == (Action.ESCALATE, 2)


def test_reply_rule_cannot_bypass_loop_guards() -> None:
    rule = _rule(1, RuleAction.REPLY, domain="customer.example", template="Hi")
    context = RoutingContext(thresholds=Thresholds(), mailbox_address="h@example.com", rules=(rule,))
    email = make_email(loop=LoopSignals(precedence="list"))
    assert route(email, make_classification(), context).action == Action.HUMAN_REVIEW


def test_subdomains_match_domain_rules_but_lookalikes_do_not() -> None:
    rule = _rule(1, RuleAction.SKIP, domain="customer.example")
    assert rule_matches(rule, make_email(sender="a@eu.customer.example"), make_classification())
    assert not rule_matches(rule, make_email(sender="a@evilcustomer.example"), make_classification())


def test_rule_without_conditions_matches_nothing() -> None:
    assert not rule_matches(_rule(1, RuleAction.SKIP), make_email(), make_classification())


def test_category_that_never_auto_replies_gets_a_draft() -> None:
    context = RoutingContext(
        thresholds=Thresholds(), mailbox_address="h@example.com", no_auto_reply_categories=frozenset({"SUPPORT"})
    )
    assert route(make_email(), make_classification(confidence=99), context).action == Action.SUGGEST_RESPONSE


def test_loop_guard_none_for_a_person() -> None:
    assert loop_guard(make_email(), CONTEXT) is None


@pytest.mark.parametrize(("unrecognized", "expected"), [(49.9, Action.ESCALATE), (50, Action.HUMAN_REVIEW)])
def test_mail_unlike_any_category_is_reviewed_not_escalated(unrecognized: float, expected: Action) -> None:
    classification = replace(make_classification(confidence=20), unrecognized=unrecognized)
    assert route(make_email(), classification, CONTEXT).action == expected


def test_unrecognized_does_not_soften_policy_escalations() -> None:
    classification = replace(make_classification(category="ESCALATION", confidence=45), unrecognized=90)
    assert route(make_email(), classification, CONTEXT).action == Action.ESCALATE


def test_a_policy_escalation_below_the_review_threshold_is_reviewed() -> None:
    # Was ESCALATE before escalation needed evidence: a chat for an email the model barely recognises.
    classification = replace(make_classification(category="ESCALATION", confidence=20), unrecognized=90)
    assert route(make_email(), classification, CONTEXT).action == Action.HUMAN_REVIEW


@pytest.mark.parametrize("confidence", [10, 50, 70, 99])
def test_a_follow_up_in_an_escalated_thread_joins_it_whatever_the_score(confidence: float) -> None:
    context = replace(CONTEXT, active_escalation_id=7)
    decision = route(make_email(), make_classification(confidence=confidence), context)
    assert decision == Decision(Action.ESCALATE, "follow-up in escalation 7")


def test_machine_mail_in_an_escalated_thread_goes_to_a_person() -> None:
    context = replace(CONTEXT, active_escalation_id=7)
    for loop in (LoopSignals(auto_submitted="auto-replied"), LoopSignals(list_id="<list.example>")):
        decision = route(make_email(loop=loop), make_classification(category="ESCALATION"), context)
        assert decision.action == Action.HUMAN_REVIEW
        assert "thread of escalation 7" in decision.reason


def test_rules_still_win_over_a_follow_up() -> None:
    skip = Rule(id=1, name="ignore", priority=1, action=RuleAction.SKIP, sender="alice@customer.example")
    context = replace(CONTEXT, active_escalation_id=7, rules=(skip,))
    assert route(make_email(), make_classification(), context).action == Action.SKIP
