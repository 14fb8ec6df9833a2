"""Graph's mail routes on the sandbox, through httpx over HTTPS with tokens from the real MSAL."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import httpx

from emailbot.sandbox.state import SandboxConfig
from tests.fakes.m365 import M365Sandbox, running_sandbox

IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


def _error_code(response: httpx.Response) -> str:
    body = response.json()["error"]
    assert set(body["innerError"]) >= {"date", "request-id", "client-request-id"}
    return str(body["code"])


def test_users_by_upn_and_filter(m365_sandbox: M365Sandbox) -> None:
    with m365_sandbox.graph() as graph:
        user = graph.get(f"/users/{m365_sandbox.mailbox}", params={"$select": "displayName,mail"})
        filtered = graph.get("/users", params={"$filter": f"mail eq '{m365_sandbox.mailbox}'"})
        missing = graph.get("/users/nobody@contoso.onmicrosoft.com")

    assert {k: v for k, v in user.json().items() if not k.startswith("@")} == {
        "displayName": "Contoso Support",
        "mail": m365_sandbox.mailbox,
    }
    assert [u["mail"] for u in filtered.json()["value"]] == [m365_sandbox.mailbox]
    assert missing.status_code == 404
    assert _error_code(missing) == "Request_ResourceNotFound"


def test_missing_wrong_and_expired_tokens_get_401(m365_sandbox: M365Sandbox) -> None:
    path = f"{m365_sandbox.base_url}/users/{m365_sandbox.mailbox}/mailFolders"
    with httpx.Client(verify=m365_sandbox.ssl_context()) as plain:
        missing = plain.get(path)
        forged = plain.get(path, headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."})
    with m365_sandbox.graph() as graph:
        before = graph.get(path)
        m365_sandbox.state.expire_all_tokens()
        after = graph.get(path)

    assert [missing.status_code, forged.status_code, before.status_code, after.status_code] == [401, 401, 200, 401]
    assert _error_code(missing) == _error_code(forged) == _error_code(after) == "InvalidAuthenticationToken"
    assert "expired" in after.json()["error"]["message"]


def test_a_missing_permission_is_access_denied(m365_sandbox: M365Sandbox) -> None:
    m365_sandbox.state.set_app_permissions(["Mail.Read"])
    message_id = m365_sandbox.deliver_email()
    with m365_sandbox.graph() as graph:
        read = graph.get(f"/users/{m365_sandbox.mailbox}/messages/{message_id}")
        write = graph.patch(f"/users/{m365_sandbox.mailbox}/messages/{message_id}", json={"isRead": True})
        users = graph.get("/users")

    assert read.status_code == 200
    assert write.status_code == 403
    assert _error_code(write) == "ErrorAccessDenied"
    assert _error_code(users) == "Authorization_RequestDenied"


def test_mailbox_not_enabled_and_application_access_policy(m365_sandbox: M365Sandbox) -> None:
    other = m365_sandbox.state.add_user("sales@contoso.onmicrosoft.com").mail
    m365_sandbox.state.set_mailbox_enabled(m365_sandbox.mailbox, enabled=False)
    m365_sandbox.state.restrict_app_to_mailboxes([m365_sandbox.mailbox])
    with m365_sandbox.graph() as graph:
        disabled = graph.get(f"/users/{m365_sandbox.mailbox}/mailFolders/inbox")
        blocked = graph.get(f"/users/{other}/mailFolders/inbox")

    assert disabled.status_code == 404
    assert _error_code(disabled) == "MailboxNotEnabledForRESTAPI"
    assert blocked.status_code == 403
    assert "AccessPolicy" in blocked.json()["error"]["message"]


def test_list_with_select_top_and_next_link(m365_sandbox: M365Sandbox) -> None:
    for n in range(5):
        m365_sandbox.deliver_email(subject=f"Question {n}")
    with m365_sandbox.graph() as graph:
        first = graph.get(
            f"/users/{m365_sandbox.mailbox}/mailFolders/inbox/messages",
            params={"$select": "subject,isRead", "$top": "3", "$orderby": "receivedDateTime asc"},
        )
        second = graph.get(first.json()["@odata.nextLink"])
        bad = graph.get(f"/users/{m365_sandbox.mailbox}/messages", params={"$select": "subjekt"})
        unread = graph.get(
            f"/users/{m365_sandbox.mailbox}/messages", params={"$filter": "isRead eq false", "$top": "4"}
        ).json()
        unread_rest = graph.get(unread["@odata.nextLink"]).json()

    subjects = [m["subject"] for m in first.json()["value"] + second.json()["value"]]
    assert subjects == [f"Question {n}" for n in range(5)]
    assert set(first.json()["value"][0]) == {"@odata.etag", "id", "subject", "isRead"}
    assert "@odata.nextLink" not in second.json()
    assert bad.status_code == 400
    assert len(unread["value"]) + len(unread_rest["value"]) == 5


def test_message_json_shape_headers_and_raw_mime(m365_sandbox: M365Sandbox) -> None:
    raw = (
        b"From: Ann Lee <ann@example.com>\r\nTo: support@contoso.onmicrosoft.com\r\nCc: bob@example.com\r\n"
        b"Subject: VPN down\r\nMessage-ID: <vpn-1@example.com>\r\nX-Ticket: 42\r\nContent-Type: text/html\r\n\r\n"
        b"<p>The VPN <b>drops</b> every hour.</p>\r\n"
    )
    message_id = m365_sandbox.deliver(raw)
    with m365_sandbox.graph() as graph:
        full = graph.get(f"/users/{m365_sandbox.mailbox}/messages/{message_id}").json()
        headers = graph.get(
            f"/users/{m365_sandbox.mailbox}/messages/{message_id}",
            params={"$select": "internetMessageHeaders,uniqueBody"},
        ).json()
        as_text = graph.get(
            f"/users/{m365_sandbox.mailbox}/messages/{message_id}",
            headers={"Prefer": 'outlook.body-content-type="text"'},
        ).json()
        mime = graph.get(f"/users/{m365_sandbox.mailbox}/messages/{message_id}/$value")

    assert full["from"] == {"emailAddress": {"name": "Ann Lee", "address": "ann@example.com"}}
    assert full["ccRecipients"] == [{"emailAddress": {"name": "bob@example.com", "address": "bob@example.com"}}]
    assert full["body"]["contentType"] == "html"
    assert full["bodyPreview"] == "The VPN drops every hour."
    assert full["internetMessageId"] == "<vpn-1@example.com>"
    assert full["flag"] == {"flagStatus": "notFlagged"}
    assert full["isRead"] is False
    assert full["isDraft"] is False
    assert "internetMessageHeaders" not in full
    assert "uniqueBody" not in full
    assert {"name": "X-Ticket", "value": "42"} in headers["internetMessageHeaders"]
    assert as_text["body"] == {"contentType": "text", "content": "The VPN drops every hour."}
    assert mime.content == raw


def test_patch_categories_flag_and_read_are_visible_in_state(m365_sandbox: M365Sandbox) -> None:
    message_id = m365_sandbox.deliver_email()
    with m365_sandbox.graph() as graph:
        response = graph.patch(
            f"/users/{m365_sandbox.mailbox}/messages/{message_id}",
            json={"categories": ["EmailBot: billing"], "flag": {"flagStatus": "flagged"}, "isRead": True},
        )
        bad = graph.patch(f"/users/{m365_sandbox.mailbox}/messages/{message_id}", json={"subject": "changed"})

    stored = m365_sandbox.state.message(message_id)
    assert response.status_code == 200
    assert (stored.categories, stored.flag_status, stored.is_read) == (["EmailBot: billing"], "flagged", True)
    assert bad.status_code == 400


def test_move_changes_the_regular_id_but_not_the_immutable_one(m365_sandbox: M365Sandbox) -> None:
    first, second = m365_sandbox.deliver_email(subject="one"), m365_sandbox.deliver_email(subject="two")
    box = m365_sandbox.mailbox
    with m365_sandbox.graph() as graph:
        regular_id = graph.get(f"/users/{box}/messages/{first}").json()["id"]
        moved = graph.post(f"/users/{box}/messages/{regular_id}/move", json={"destinationId": "archive"})
        stale = graph.get(f"/users/{box}/messages/{regular_id}")
        moved_immutable = graph.post(
            f"/users/{box}/messages/{second}/move", json={"destinationId": "archive"}, headers=IMMUTABLE
        )

    assert moved.status_code == 201
    assert moved.json()["id"] != regular_id
    assert stale.status_code == 404
    assert _error_code(stale) == "ErrorItemNotFound"
    assert moved_immutable.json()["id"] == second
    assert moved_immutable.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    archive = m365_sandbox.state.user().folder("archive")
    assert archive is not None
    assert moved_immutable.json()["parentFolderId"] == archive.id
    assert [m.parsed.subject for m in m365_sandbox.state.messages_in("archive")] == ["one", "two"]


def test_create_reply_then_send_and_direct_reply_and_send_mail(m365_sandbox: M365Sandbox) -> None:
    question = m365_sandbox.deliver_email(subject="Invoice", sender="Ann <ann@example.com>", message_id="<q1@ex.com>")
    box = m365_sandbox.mailbox
    with m365_sandbox.graph() as graph:
        draft = graph.post(
            f"/users/{box}/messages/{question}/createReply", json={"comment": "Draft answer"}, headers=IMMUTABLE
        )
        drafted = m365_sandbox.state.drafts()
        sent = graph.post(f"/users/{box}/messages/{draft.json()['id']}/send")
        replied = graph.post(
            f"/users/{box}/messages/{question}/reply",
            json={
                "comment": "Direct <answer>",
                "message": {"internetMessageHeaders": [{"name": "X-EmailBot-Key", "value": "k1"}]},
            },
        )
        mailed = graph.post(
            f"/users/{box}/sendMail",
            json={
                "message": {
                    "subject": "Escalation",
                    "body": {"contentType": "Text", "content": "See above"},
                    "toRecipients": [{"emailAddress": {"address": "lead@contoso.onmicrosoft.com"}}],
                }
            },
        )
        no_recipient = graph.post(f"/users/{box}/sendMail", json={"message": {"subject": "x"}})
        six_headers = graph.post(
            f"/users/{box}/sendMail",
            json={
                "message": {
                    "subject": "x",
                    "toRecipients": [{"emailAddress": {"address": "a@example.com"}}],
                    "internetMessageHeaders": [{"name": f"X-H{n}", "value": "v"} for n in range(6)],
                }
            },
        )

    assert draft.status_code == 201
    assert draft.json()["isDraft"] is True
    assert draft.json()["subject"] == "RE: Invoice"
    assert draft.json()["toRecipients"][0]["emailAddress"]["address"] == "ann@example.com"
    assert len(drafted) == 1
    assert [sent.status_code, replied.status_code, mailed.status_code] == [202, 202, 202]
    assert no_recipient.status_code == 400
    assert six_headers.json()["error"]["code"] == "InvalidInternetMessageHeaderCollection"
    assert m365_sandbox.state.drafts() == []
    sent_items = m365_sandbox.state.sent_items()
    assert [m.parsed.subject for m in sent_items] == ["RE: Invoice", "RE: Invoice", "Escalation"]
    assert all(not m.is_draft for m in sent_items)
    assert sent_items[1].parsed.in_reply_to == "<q1@ex.com>"
    assert sent_items[1].unique_body == "Direct &lt;answer&gt;"
    assert sent_items[0].conversation_id == m365_sandbox.state.message(question).conversation_id
    assert [o["to"] for o in m365_sandbox.state.outgoing] == [
        ["ann@example.com"],
        ["ann@example.com"],
        ["lead@contoso.onmicrosoft.com"],
    ]
    assert b"In-Reply-To: <q1@ex.com>" in sent_items[1].raw
    assert b"X-EmailBot-Key: k1" in sent_items[1].raw
    assert ("X-EmailBot-Key", "k1") in sent_items[1].parsed.headers
    assert m365_sandbox.state.duplicate_replies() == {"<q1@ex.com>": 2}


def test_tokens_stop_working_when_their_lifetime_ends(tmp_path: Path) -> None:
    # Three seconds: long enough for the first call on a busy machine, short enough to wait out.
    with running_sandbox(tmp_path, SandboxConfig(token_lifetime_seconds=3)) as sandbox, sandbox.graph() as graph:
        path = f"/users/{sandbox.mailbox}/mailFolders/inbox"
        first = graph.get(path)
        sandbox.wait_for(lambda: graph.get(path).status_code == 401, timeout=10, interval=0.2)
        expired = graph.get(path)

    assert first.status_code == 200
    assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_seeding_a_folder_of_eml_files_and_attachments(m365_sandbox: M365Sandbox, tmp_path: Path) -> None:
    with_attachment = EmailMessage()
    with_attachment["From"] = "ann@example.com"
    with_attachment["To"] = m365_sandbox.mailbox
    with_attachment["Subject"] = "Invoice attached"
    with_attachment.set_content("See the PDF.")
    with_attachment.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="invoice.pdf")
    (tmp_path / "b.eml").write_bytes(with_attachment.as_bytes())
    (tmp_path / "a.eml").write_bytes(b"From: bob@example.com\r\nSubject: First\r\n\r\nplain\r\n")
    (tmp_path / "notes.txt").write_text("not an email")

    ids = m365_sandbox.state.seed(tmp_path)
    with m365_sandbox.graph() as graph:
        listed = graph.get(
            f"/users/{m365_sandbox.mailbox}/mailFolders/inbox/messages",
            params={"$select": "subject,hasAttachments,body", "$orderby": "receivedDateTime asc"},
        ).json()["value"]

    assert len(ids) == 2
    assert [(m["subject"], m["hasAttachments"]) for m in listed] == [("First", False), ("Invoice attached", True)]
    assert listed[1]["body"] == {"contentType": "text", "content": "See the PDF.\n"}


def test_custom_folders_can_be_created_found_and_moved_to(m365_sandbox: M365Sandbox) -> None:
    message_id = m365_sandbox.deliver_email()
    box = m365_sandbox.mailbox
    with m365_sandbox.graph() as graph:
        created = graph.post(f"/users/{box}/mailFolders", json={"displayName": "Handled by EmailBot"})
        again = graph.post(f"/users/{box}/mailFolders", json={"displayName": "handled by emailbot"})
        found = graph.get(f"/users/{box}/mailFolders", params={"$filter": "displayName eq 'Handled by EmailBot'"})
        moved = graph.post(f"/users/{box}/messages/{message_id}/move", json={"destinationId": created.json()["id"]})

    assert created.status_code == 201
    assert again.status_code == 409
    assert [f["id"] for f in found.json()["value"]] == [created.json()["id"]]
    assert moved.status_code == 201
    assert [m.immutable_id for m in m365_sandbox.state.messages_in(created.json()["id"])] == [message_id]
