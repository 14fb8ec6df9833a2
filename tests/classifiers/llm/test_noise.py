"""The LLM and the hybrid say whether an email is a request at all, and what kind of noise it is otherwise."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emailbot.classifiers.llm.hybrid import HybridClassifier
from emailbot.classifiers.llm.prompts import PROMPT_VERSION
from emailbot.classifiers.llm.schema import InvalidAnswer, parse_answer
from tests.classifiers.conftest import make_email
from tests.classifiers.llm.conftest import BuildLLM
from tests.fakes.openai_server import FakeOpenAI, brain

NEWSLETTER = make_email("Our spring edition", "Ten tips for your garden. Unsubscribe at any time.")
VPN = make_email("VPN broken", "My VPN client shows an error since this morning and I cannot connect.")


async def test_the_llm_gives_request_confidence_and_noise_kind(make_llm: BuildLLM, openai_server: FakeOpenAI) -> None:
    newsletter, vpn = await make_llm().classify([NEWSLETTER, VPN])
    assert (newsletter.request_confidence, newsletter.noise) == (5, "newsletter")
    assert (vpn.request_confidence, vpn.noise) == (95, "")
    schema = openai_server.requests[0].body["response_format"]["json_schema"]["schema"]
    assert {"request_confidence", "noise"} <= set(schema["required"])
    assert "thanks" in schema["properties"]["noise"]["enum"]
    assert "request_confidence" in openai_server.requests[0].body["messages"][0]["content"]
    assert newsletter.prompt_version == PROMPT_VERSION


async def test_the_hybrid_pools_request_confidence_with_the_local_model(
    make_llm: BuildLLM, openai_server: FakeOpenAI
) -> None:
    def talked_into_it(text: str, categories: list[str]) -> dict[str, Any]:
        return brain(text, categories) | {"request_confidence": 100, "noise": "none"}

    openai_server.answer = talked_into_it
    llm = make_llm()
    spam = make_email("You are our lucky winner", "Claim your lottery prize of 1,000,000 EUR, send your bank details.")
    (local,) = await llm.local.classify([spam])
    (pooled,) = await HybridClassifier(llm, weight=0.7).classify([spam])
    assert local.request_confidence < 30
    assert pooled.request_confidence == pytest.approx(0.7 * 100 + 0.3 * local.request_confidence, abs=0.1)


def test_an_unknown_noise_kind_is_refused() -> None:
    answer = brain("VPN broken\nMy VPN does not connect.", ["SUPPORT"]) | {"noise": "vacation"}
    with pytest.raises(InvalidAnswer):
        parse_answer(json.dumps(answer), ["SUPPORT"])
