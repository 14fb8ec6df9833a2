"""Mail a client writes through Graph: recipients and custom headers checked by Graph's rules, replies quoting
their original, the MIME the sandbox stores, and storing it as a draft or a sent item."""

from __future__ import annotations

import html
import uuid
from typing import Any

from emailbot.sandbox.graph.pipeline import Context, GraphError
from emailbot.sandbox.graph.render import html_body
from emailbot.sandbox.mime import Address, ParsedMail, build_mime, conversation_id_for, conversation_key
from emailbot.sandbox.state import MailMessage, User
from emailbot.sandbox.state.tenant import graph_time

MAX_CUSTOM_HEADERS = 5


def address_from_graph(value: Any) -> Address:
    email_address = (value or {}).get("emailAddress") or {}
    return Address(str(email_address.get("name") or ""), str(email_address.get("address") or ""))


def compose(
    user: User,
    fields: dict[str, Any],
    *,
    subject: str,
    to: list[Address],
    body_type: str,
    body: str,
    cc: list[Address] | None = None,
    in_reply_to: str = "",
    references: list[str] | None = None,
    message_id: str = "",
) -> ParsedMail:
    def recipients(name: str, default: list[Address]) -> list[Address]:
        if name not in fields:
            return list(default)
        values = fields[name]
        if not isinstance(values, list):
            raise GraphError(400, "ErrorInvalidRecipients", f"{name} must be a list of recipients.")
        addresses = [address_from_graph(v) for v in values]
        if any("@" not in a.address for a in addresses):
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        return addresses

    domain = user.mail.split("@")[-1]
    extra_headers = _custom_headers(fields.get("internetMessageHeaders"))
    parsed = ParsedMail(
        subject=subject,
        sender=Address(user.display_name, user.mail),
        to=recipients("toRecipients", to),
        cc=recipients("ccRecipients", cc or []),
        bcc=recipients("bccRecipients", []),
        reply_to=recipients("replyTo", []),
        body_type=body_type,
        body=body,
        internet_message_id=message_id or f"<{uuid.uuid4().hex}@{domain}>",
        in_reply_to=in_reply_to,
        references=list(references or []),
    )
    parsed.headers = [
        ("From", parsed.sender.formatted() if parsed.sender else ""),
        ("Subject", subject),
        ("Message-ID", parsed.internet_message_id),
        *extra_headers,
    ]
    if in_reply_to:
        parsed.headers.append(("In-Reply-To", in_reply_to))
    return parsed


def _custom_headers(raw: Any) -> list[tuple[str, str]]:
    """Graph's rules for internetMessageHeaders on new mail: at most 5, each named x-…"""
    headers = raw or []
    if not isinstance(headers, list) or not all(isinstance(h, dict) for h in headers):
        raise GraphError(400, "InvalidInternetMessageHeaderCollection", "internetMessageHeaders must be a list.")
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise GraphError(
            400,
            "InvalidInternetMessageHeaderCollection",
            f"Maximum number of headers in one message should be less than or equal to {MAX_CUSTOM_HEADERS}.",
        )
    if any(not str(h.get("name", "")).lower().startswith("x-") for h in headers):
        raise GraphError(
            400, "InvalidInternetMessageHeader", "The internet message header name should start with 'x-' or 'X-'."
        )
    return [(str(h["name"]), str(h.get("value", ""))) for h in headers]


def reply_to(user: User, original: MailMessage, payload: dict[str, Any], *, reply_all: bool) -> tuple[ParsedMail, str]:
    overrides = payload.get("message") or {}
    if not isinstance(overrides, dict):
        raise GraphError(400, "BadRequest", "message must be an object.")
    comment = payload.get("comment")
    if comment is not None and overrides.get("body"):
        raise GraphError(400, "ErrorInvalidRequest", "Specify either the comment or the body property, not both.")
    source = original.parsed
    to = list(source.reply_to or ([source.sender] if source.sender else []))
    cc: list[Address] = []
    if reply_all:
        mine = user.mail.lower()
        to += [a for a in source.to if a.address.lower() != mine and a not in to]
        cc = [a for a in source.cc if a.address.lower() != mine]
    subject = source.subject if source.subject.lower().startswith("re:") else f"RE: {source.subject}"
    if overrides.get("body"):
        unique_type = content_type(overrides["body"].get("contentType", "html"))
        unique = str(overrides["body"].get("content") or "")
    else:
        unique_type, unique = "html", html.escape(str(comment or "")).replace("\n", "<br>")
    unique_html = unique if unique_type == "html" else html.escape(unique).replace("\n", "<br>")
    sender = source.sender.formatted() if source.sender else ""
    quoted = (
        f"<div>{unique_html}</div><hr><div><b>From:</b> {html.escape(sender)}<br>"
        f"<b>Sent:</b> {graph_time(original.received)}<br><b>Subject:</b> {html.escape(source.subject)}</div>"
        f"<div>{html_body(source.body_type, source.body)}</div>"
    )
    references = [*source.references, source.internet_message_id] if source.internet_message_id else source.references
    parsed = compose(
        user,
        overrides,
        subject=str(overrides.get("subject") or subject),
        to=to,
        cc=cc,
        body_type="html",
        body=f"<html><body>{quoted}</body></html>",
        in_reply_to=source.internet_message_id,
        references=references,
    )
    return parsed, unique_html


def require_recipients(parsed: ParsedMail) -> None:
    if not (parsed.to or parsed.cc or parsed.bcc):
        raise GraphError(
            400,
            "ErrorInvalidRecipients",
            "At least one recipient isn't valid., Message must have at least one recipient.",
        )


def content_type(value: Any) -> str:
    return "html" if str(value).lower() == "html" else "text"


def mime_of(parsed: ParsedMail) -> bytes:
    assert parsed.sender is not None
    return build_mime(
        sender=parsed.sender,
        to=parsed.to,
        cc=parsed.cc,
        subject=parsed.subject,
        body_type=parsed.body_type,
        body=parsed.body,
        message_id=parsed.internet_message_id,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        extra_headers=[(name, value) for name, value in parsed.headers if name.lower().startswith("x-")],
    )


def store_composed(
    ctx: Context,
    user: User,
    parsed: ParsedMail,
    *,
    folder: str,
    conversation_id: str | None,
    is_draft: bool,
    unique: str | None,
) -> MailMessage:
    conversation = conversation_id or conversation_id_for(conversation_key(parsed))
    return ctx.state.store_composed(
        user,
        parsed,
        mime_of(parsed),
        folder=folder,
        conversation_id=conversation,
        is_draft=is_draft,
        unique_body=unique,
    )
