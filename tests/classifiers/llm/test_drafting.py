"""LLM-written drafts through the real pipeline: SUGGEST_RESPONSE drafts, the sender's language, the thread,
templates for auto-replies, and PII redaction before text leaves the machine."""

from __future__ import annotations

import json
from typing import Any

from emailbot.classifiers.llm.redaction import Redaction, iban_valid, luhn_valid, redact
from tests.classifiers.llm.conftest import BuildRuntime, deliver, effects, process_all, stored
from tests.factories import rfc822
from tests.fakes.openai_server import FakeOpenAI, brain

FAKE_DRAFT = "thank you for your message. We are looking into it."


def _confidence(value: int) -> Any:
    return lambda text, categories: brain(text, categories) | {"confidence": value}


async def test_suggest_response_gets_an_llm_draft_in_the_senders_language(
    make_llm_runtime: BuildRuntime, openai_server: FakeOpenAI
) -> None:
    openai_server.answer = _confidence(70)
    runtime = make_llm_runtime(llm_prices={"fake-model": [1.0, 2.0]})
    body = "Hallo, mein Drucker im zweiten Stock druckt seit heute Morgen nicht mehr. Können Sie bitte helfen?"
    deliver(runtime, "1.eml", rfc822("Drucker funktioniert nicht", body, sender="Jana <jana@kunde.example>"))
    await process_all(runtime)
    ((_, result, classification),) = await stored(runtime)
    assert (result.action, classification.language) == ("SUGGEST_RESPONSE", "de")
    (draft,) = await effects(runtime, "draft")
    assert FAKE_DRAFT in draft.payload["body_text"]
    assert "[German]" in draft.payload["body_text"]
    assert [a["email"] for a in draft.payload["to"]] == ["jana@kunde.example"]
    assert result.response_text == draft.payload["body_text"]
    assert result.draft_tokens > 0
    assert result.draft_cost > 0
    assert classification.cost > 0
    assert classification.prompt_tokens > 0
    (request,) = openai_server.draft_requests()
    assert "Write the reply in German" in request.body["messages"][0]["content"]


async def test_auto_replies_come_from_templates_unless_the_operator_allows_llm_text(
    make_llm_runtime: BuildRuntime, openai_server: FakeOpenAI
) -> None:
    openai_server.answer = _confidence(97)
    runtime = make_llm_runtime(llm_auto_send_categories=["PURCHASING"])
    deliver(runtime, "1.eml", rfc822("Password reset", "Please reset my password.", sender="a@customer.example"))
    deliver(runtime, "2.eml", rfc822("Quote", "Please send a quote for 2 laptops.", sender="b@customer.example"))
    await process_all(runtime)
    replies = {r.payload["to"][0]["email"]: r.payload["body_text"] for r in await effects(runtime, "reply")}
    assert set(replies) == {"a@customer.example", "b@customer.example"}
    assert FAKE_DRAFT not in replies["a@customer.example"]  # SUPPORT: the template
    assert FAKE_DRAFT in replies["b@customer.example"]  # PURCHASING: allowed by the operator
    assert len(openai_server.draft_requests()) == 1  # no text is written that would not be used


async def test_draft_uses_the_earlier_message_of_the_thread(
    make_llm_runtime: BuildRuntime, openai_server: FakeOpenAI
) -> None:
    openai_server.answer = _confidence(70)
    runtime = make_llm_runtime()
    first = rfc822("Laptop battery swelling", "My laptop battery is swelling, is that dangerous?")
    first_id = first.split(b"Message-ID: ")[1].split(b"\n")[0].strip().decode()
    deliver(runtime, "1.eml", first)
    await process_all(runtime)
    follow_up = rfc822(
        "Re: Laptop battery swelling",
        "Any news? It got worse.",
        headers={"In-Reply-To": first_id, "References": first_id},
    )
    deliver(runtime, "2.eml", follow_up)
    await process_all(runtime)
    last = openai_server.draft_requests()[-1].body["messages"][-1]["content"]
    thread = json.loads(last.split("<thread>", 1)[1].split("</thread>", 1)[0])
    assert thread[0]["subject"] == "Laptop battery swelling"


async def test_draft_falls_back_to_the_template_when_the_llm_fails(
    make_llm_runtime: BuildRuntime, openai_server: FakeOpenAI
) -> None:
    openai_server.answer = _confidence(70)
    runtime = make_llm_runtime()
    deliver(runtime, "1.eml", rfc822("Printer error", "The printer shows error 49.", sender="c@customer.example"))

    def answer_then_die(text: str, categories: list[str]) -> dict[str, Any]:
        openai_server.down = True  # the server goes away between classifying and drafting
        return brain(text, categories) | {"confidence": 70}

    openai_server.answer = answer_then_die
    await process_all(runtime)
    ((_, result, classification),) = await stored(runtime)
    assert (classification.classifier, result.action, result.status) == ("llm", "SUGGEST_RESPONSE", "completed")
    (draft,) = await effects(runtime, "draft")
    assert FAKE_DRAFT not in draft.payload["body_text"]
    assert draft.payload["body_text"].strip()
    assert result.draft_tokens == 0


CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
PHONE = "+49 30 1234567"
PRIVATE = "bob.private@home.example"


async def test_pii_is_redacted_before_it_leaves_and_restored_in_the_draft(
    make_llm_runtime: BuildRuntime, openai_server: FakeOpenAI
) -> None:
    openai_server.answer = _confidence(70)
    runtime = make_llm_runtime(llm_redact_pii=True)
    body = f"My card {CARD} was charged twice. Refund to {IBAN} please, or call me on {PHONE} or mail {PRIVATE}."
    deliver(runtime, "1.eml", rfc822("Invoice charged twice", body, sender="Bob <bob@customer.example>"))
    await process_all(runtime)
    sent = json.dumps([r.body for r in openai_server.requests])
    for value in (CARD, IBAN, PHONE, PRIVATE, "bob@customer.example"):
        assert value not in sent
    assert "[CARD_1]" in sent
    assert "[IBAN_1]" in sent
    assert "[PHONE_1]" in sent
    (draft,) = await effects(runtime, "draft")
    for value in (CARD, IBAN, PHONE, PRIVATE):
        assert value in draft.payload["body_text"]  # the fake echoed the placeholders; they were restored


def test_checksums_keep_lookalike_numbers_unredacted() -> None:
    assert luhn_valid(CARD)
    assert not luhn_valid("4111 1111 1111 1112")
    assert iban_valid(IBAN)
    assert not iban_valid("DE89 3704 0044 0532 0130 01")
    redaction = Redaction()
    text = redact("Order 4111 1111 1111 1112 on 2025-01-15, IBAN DE89 3704 0044 0532 0130 01", redaction)
    assert text == "Order 4111 1111 1111 1112 on 2025-01-15, IBAN DE89 3704 0044 0532 0130 01"
    assert redaction.values == {}
    assert redact("Call 030 1234567 or (555) 123-4567", redaction) == "Call [PHONE_1] or [PHONE_2]"
    redaction = Redaction()
    again = redact(f"{PRIVATE} and {PRIVATE}", redaction)
    assert again == "[EMAIL_1] and [EMAIL_1]"
    assert redaction.restore(again) == f"{PRIVATE} and {PRIVATE}"
