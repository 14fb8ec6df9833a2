"""What acting on NO_ACTION plans: one mark (EmailBot/NOISE, read, not flagged), moved only when configured."""

from __future__ import annotations

import pytest

from emailbot.domain import Action, Decision
from emailbot.pipeline.act import NOISE_CATEGORY, Planner
from emailbot.pipeline.templates import ReplyTemplates
from emailbot.taxonomy import load_taxonomy
from tests.factories import make_classification, make_email


def _planner(noise_folder: str | None) -> Planner:
    taxonomy = load_taxonomy()
    return Planner(taxonomy, ReplyTemplates(taxonomy.template_dirs), mailbox_name="Help", noise_folder=noise_folder)


@pytest.mark.parametrize(
    ("folder", "payload"),
    [
        (None, {"category": NOISE_CATEGORY, "flagged": False}),
        ("junkemail", {"category": NOISE_CATEGORY, "flagged": False, "move_to": "junkemail"}),
    ],
)
def test_noise_is_marked_and_moved_only_when_configured(folder: str | None, payload: dict[str, object]) -> None:
    decision = Decision(Action.NO_ACTION, "noise: spam (X-Spam-Flag: YES)", noise="spam")
    plan = _planner(folder).plan(7, make_email(), make_classification(category="ESCALATION"), decision)
    assert [(effect.kind, effect.key, effect.payload) for effect in plan.effects] == [("mark", "mark:7", payload)]
    assert plan.response_text is None
    assert plan.escalation is None


def test_other_decisions_are_not_moved_to_the_noise_folder() -> None:
    decision = Decision(Action.HUMAN_REVIEW, "confidence 50.0 >= 40")
    plan = _planner("junkemail").plan(8, make_email(), make_classification(), decision)
    assert [effect.payload for effect in plan.effects] == [{"category": "SUPPORT", "flagged": True}]
