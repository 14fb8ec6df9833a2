"""Earned autonomy in routing: the last step, after the loop guards; an automatic reply in a category that may not
auto-send becomes a draft with the reason, everything else passes unchanged."""

from __future__ import annotations

import pytest

from emailbot.domain import Action, LoopSignals, Rule, RuleAction, Thresholds, Urgency
from emailbot.pipeline.route import AutonomyGate, RoutingContext, route
from tests.factories import make_classification, make_email

WHY = "auto-send not yet earned for SUPPORT: 12 reviews, 91.7% precision"
SUPPORT_ONLY = AutonomyGate(allowed=frozenset({"SUPPORT"}))
NOTHING = AutonomyGate(why_not={"SUPPORT": WHY})


def _context(gate: AutonomyGate | None, rules: tuple[Rule, ...] = ()) -> RoutingContext:
    return RoutingContext(thresholds=Thresholds(), mailbox_address="helpdesk@example.com", rules=rules, autonomy=gate)


@pytest.mark.parametrize(
    ("gate", "category", "confidence", "expected"),
    [
        (None, "SUPPORT", 95, Action.AUTO_HANDLE),  # EMAILBOT_AUTONOMY=always: today's behaviour
        (SUPPORT_ONLY, "SUPPORT", 95, Action.AUTO_HANDLE),
        (SUPPORT_ONLY, "INFORMATION", 95, Action.SUGGEST_RESPONSE),
        (NOTHING, "SUPPORT", 95, Action.SUGGEST_RESPONSE),
        (NOTHING, "SUPPORT", 70, Action.SUGGEST_RESPONSE),
        (NOTHING, "SUPPORT", 50, Action.HUMAN_REVIEW),
        (NOTHING, "SUPPORT", 20, Action.ESCALATE),
        (NOTHING, "ESCALATION", 95, Action.ESCALATE),
    ],
)
def test_only_automatic_replies_of_categories_without_autonomy_change(
    gate: AutonomyGate | None, category: str, confidence: float, expected: Action
) -> None:
    decision = route(make_email(), make_classification(category, confidence), _context(gate))
    assert decision.action == expected


def test_the_draft_says_why_with_the_gates_own_words() -> None:
    decision = route(make_email(), make_classification("SUPPORT", 95), _context(NOTHING))
    assert decision.reason == f"confidence 95.0 >= 85; {WHY}"


def test_a_category_the_gate_does_not_mention_has_no_reviews_yet() -> None:
    decision = route(make_email(), make_classification("PURCHASING", 99), _context(NOTHING))
    assert decision.action == Action.SUGGEST_RESPONSE
    assert decision.reason.endswith("auto-send not yet earned for PURCHASING: no reviews yet")


def test_policy_escalations_are_not_touched() -> None:
    decision = route(make_email(), make_classification(urgency=Urgency.CRITICAL), _context(NOTHING))
    assert decision.action == Action.ESCALATE


def test_an_operator_reply_rule_stands() -> None:
    rule = Rule(id=7, name="faq", action=RuleAction.REPLY, category="SUPPORT", template="Hi")
    decision = route(make_email(), make_classification("SUPPORT", 30), _context(NOTHING, (rule,)))
    assert (decision.action, decision.rule_id) == (Action.AUTO_HANDLE, 7)


def test_loop_guards_come_first() -> None:
    email = make_email(loop=LoopSignals(auto_submitted="auto-replied"))
    decision = route(email, make_classification("SUPPORT", 95), _context(NOTHING))
    assert decision.action == Action.HUMAN_REVIEW
    assert decision.reason.startswith("loop guard:")
