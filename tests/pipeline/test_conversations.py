"""Conversations through the real pipeline: Maildir in and out, parser, starter model, database, API.

The finding behind them: a sender answering EmailBot's automatic reply with "restarting did not help" got a
second automatic reply. Now such an answer goes to a person, with the first answer beside it.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import timedelta

import httpx
from sqlalchemy import select

from emailbot.api.app import create_app
from emailbot.auth.keys import Role, create_key
from emailbot.domain import RawMessage
from emailbot.review import actions
from emailbot.runtime import Runtime
from emailbot.store import conversations, work
from emailbot.store.db import Database
from emailbot.store.tables import EmailRow, ProcessingResultRow
from tests.factories import make_email, rfc822
from tests.runtime_fixtures import deliver, sent_messages

QUESTION = ("How do I reset my password?", "I forgot my password. How do I reset it?")


async def _process(runtime: Runtime) -> None:
    await runtime.engine.poll_once()
    await runtime.engine.drain()


async def _by_subject(runtime: Runtime) -> dict[str, tuple[int, ProcessingResultRow]]:
    async with runtime.db.sessions() as session:
        rows = await session.execute(
            select(EmailRow.subject, EmailRow.id, ProcessingResultRow).join(ProcessingResultRow)
        )
        return {subject: (email_id, result) for subject, email_id, result in rows}


async def dashboard_page(runtime: Runtime, path: str) -> str:
    """The page as a signed-in operator's browser gets it."""
    app = create_app(runtime, run_engine=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        async with runtime.db.transaction() as session:
            key = await create_key(session, "operator person", Role.OPERATOR)
        form = await http.get("/ui/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token
        await http.post("/ui/login", data={"login_token": token.group(1), "api_key": key})
        response = await http.get(path)
        assert response.status_code == 200
        return response.text


def _message_id(raw: bytes) -> str:
    return str(email.message_from_bytes(raw)["Message-ID"])


async def test_an_answer_to_the_automatic_reply_goes_to_a_person(runtime: Runtime, client: httpx.AsyncClient) -> None:
    deliver(runtime, "1.a", rfc822(*QUESTION))
    await _process(runtime)
    [reply] = sent_messages(runtime)
    first_id, first = (await _by_subject(runtime))[QUESTION[0]]
    assert (first.action, first.response_sent) == ("AUTO_HANDLE", True)

    # New subject and only In-Reply-To naming EmailBot's own reply, as many clients write it.
    answer = rfc822("still broken", "Restarting did not help.", headers={"In-Reply-To": str(reply["Message-ID"])})
    deliver(runtime, "2.a", answer)
    await _process(runtime)

    answer_id, result = (await _by_subject(runtime))["still broken"]
    assert result.action == "HUMAN_REVIEW"
    assert f"automatic answer to email {first_id}" in (result.reason or "")
    assert len(sent_messages(runtime)) == 1  # no second automatic reply
    detail = (await client.get(f"/emails/{answer_id}")).json()
    conversation = detail["conversation"]
    assert conversation["automatic_answer"]["email_id"] == first_id
    assert conversation["automatic_answer"]["response_text"] == first.response_text
    assert [m["email_id"] for m in conversation["messages"]] == [first_id, answer_id]
    page = await dashboard_page(runtime, f"/ui/emails/{answer_id}")
    assert "The automatic answer before this email" in page
    assert "Restarting did not help." in page


async def test_an_answer_in_the_same_batch_as_its_question_is_not_answered_twice(runtime: Runtime) -> None:
    question = rfc822(*QUESTION)
    answer = rfc822(
        "Re: " + QUESTION[0], "Also, how do I reset it on my phone?", headers={"References": _message_id(question)}
    )
    deliver(runtime, "1.a", question)
    deliver(runtime, "2.a", answer)
    await _process(runtime)
    results = await _by_subject(runtime)
    assert results[QUESTION[0]][1].action == "AUTO_HANDLE"
    assert results["Re: " + QUESTION[0]][1].action == "HUMAN_REVIEW"
    assert len(sent_messages(runtime)) == 1


async def test_a_conversation_a_person_answered_goes_to_their_queue(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    question = rfc822(*QUESTION)
    deliver(runtime, "1.a", question)
    await _process(runtime)
    follow = rfc822("still broken", "Restarting did not help.", headers={"References": _message_id(question)})
    deliver(runtime, "2.a", follow)
    await _process(runtime)
    follow_id, _ = (await _by_subject(runtime))["still broken"]
    await actions.approve(runtime, follow_id, "Please try the blue kiosk on floor 3.", "alice")
    await runtime.engine.drain()
    approved = [m for m in sent_messages(runtime) if "blue kiosk" in m.get_content()]
    assert len(approved) == 1

    # The sender answers the person's reply, naming only it.
    later = rfc822(
        "thanks but no", "The portal says my account is locked.", headers={"In-Reply-To": approved[0]["Message-ID"]}
    )
    deliver(runtime, "3.a", later)
    await _process(runtime)
    later_id, result = (await _by_subject(runtime))["thanks but no"]
    assert (result.action, result.assigned_to) == ("HUMAN_REVIEW", "alice")
    assert "handled by alice" in (result.reason or "")
    alice = (await client.get("/review/queue", params={"assigned_to": "alice"})).json()
    assert [item["id"] for item in alice["items"]] == [later_id]
    assert (await client.get("/review/queue", params={"assigned_to": "bob"})).json()["total"] == 0
    assert (await client.get(f"/emails/{later_id}")).json()["processing_result"]["assigned_to"] == "alice"


async def test_the_connectors_conversation_id_joins_mail_without_shared_message_ids(db: Database) -> None:
    base = make_email()
    emails = {
        1: replace(base, message_id="<a@x>", source_conversation_id="AAQk1"),
        2: replace(
            base, message_id="<b@x>", source_conversation_id="AAQk1", received_at=base.received_at + timedelta(1)
        ),
        3: replace(base, message_id="<c@x>", source_conversation_id="AAQk2"),
        4: replace(base, message_id="<d@x>"),
    }
    async with db.transaction() as session:
        raw = [(RawMessage(source_id=str(i), raw=b"x"), e) for i, e in emails.items()]
        ids = await work.ingest(session, "local", raw)
        placed = await conversations.place(session, dict(zip(ids, emails.values(), strict=True)))
        again = await conversations.place(session, dict(zip(ids, emails.values(), strict=True)))
    first, second, third, fourth = (placed[i] for i in ids)
    assert first == second
    assert len({first, third, fourth}) == 3
    assert again == placed
