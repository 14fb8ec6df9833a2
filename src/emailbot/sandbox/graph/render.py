"""Graph's JSON for messages and folders, honouring `$select` and the Prefer headers like Graph does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emailbot.sandbox.mime import Address, html_to_text, text_to_html
from emailbot.sandbox.state import Folder, MailMessage, User
from emailbot.sandbox.state.tenant import graph_time

# Properties Graph returns when no $select is given (internetMessageHeaders and uniqueBody only on request).
DEFAULT_MESSAGE_PROPERTIES = (
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "conversationIndex",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
)
SELECTABLE = frozenset(DEFAULT_MESSAGE_PROPERTIES) | {"uniqueBody", "internetMessageHeaders", "id"}


def message_json(
    message: MailMessage,
    *,
    select: list[str] | None,
    immutable_ids: bool,
    body_as_text: bool,
    folder_id_for: dict[str, str] | None = None,
) -> dict[str, Any]:
    names = DEFAULT_MESSAGE_PROPERTIES if not select else [n for n in select if n != "id"]
    out: dict[str, Any] = {"@odata.etag": message.etag, "id": message.id_for(immutable=immutable_ids)}
    for name in names:
        out[name] = _property(message, name, body_as_text=body_as_text)
    if "parentFolderId" in out and folder_id_for:
        out["parentFolderId"] = folder_id_for.get(message.folder_id, message.folder_id)
    return out


def _property(message: MailMessage, name: str, *, body_as_text: bool) -> Any:
    read = _PROPERTIES.get(name)
    return read(message, body_as_text) if read is not None else None


def _unique_body(message: MailMessage, *, as_text: bool) -> dict[str, str]:
    parsed = message.parsed
    unique = message.unique_body if message.unique_body is not None else parsed.body
    return _body(parsed.body_type, unique, as_text=as_text)


def _web_link(message: MailMessage) -> str:
    return f"https://outlook.office365.com/owa/?ItemID={message.rest_id}&exvsurl=1&viewmodel=ReadMessageItem"


def _addresses(addresses: list[Address]) -> list[dict[str, Any]]:
    return [a.as_graph() for a in addresses]


PropertyReader = Callable[[MailMessage, bool], Any]
"""A message property as Graph names it → its JSON value (the flag says: bodies as text, per the Prefer header)."""

_PROPERTIES: dict[str, PropertyReader] = {
    "createdDateTime": lambda m, _: graph_time(m.created),
    "lastModifiedDateTime": lambda m, _: graph_time(m.modified),
    "changeKey": lambda m, _: m.change_key,
    "categories": lambda m, _: list(m.categories),
    "receivedDateTime": lambda m, _: graph_time(m.received),
    "sentDateTime": lambda m, _: graph_time(m.parsed.sent or m.received),
    "hasAttachments": lambda m, _: m.parsed.has_attachments,
    "internetMessageId": lambda m, _: m.parsed.internet_message_id,
    "subject": lambda m, _: m.parsed.subject,
    "bodyPreview": lambda m, _: m.preview(),
    "importance": lambda m, _: m.parsed.importance,
    "parentFolderId": lambda m, _: m.folder_id,
    "conversationId": lambda m, _: m.conversation_id,
    "conversationIndex": lambda m, _: "AQHZ" + m.conversation_id[-20:],
    "isDeliveryReceiptRequested": lambda m, _: False,
    "isReadReceiptRequested": lambda m, _: False,
    "isRead": lambda m, _: m.is_read,
    "isDraft": lambda m, _: m.is_draft,
    "webLink": lambda m, _: _web_link(m),
    "inferenceClassification": lambda m, _: "focused",
    "body": lambda m, as_text: _body(m.parsed.body_type, m.parsed.body, as_text=as_text),
    "uniqueBody": lambda m, as_text: _unique_body(m, as_text=as_text),
    "sender": lambda m, _: m.parsed.sender.as_graph() if m.parsed.sender else None,
    "from": lambda m, _: m.parsed.sender.as_graph() if m.parsed.sender else None,
    "toRecipients": lambda m, _: _addresses(m.parsed.to),
    "ccRecipients": lambda m, _: _addresses(m.parsed.cc),
    "bccRecipients": lambda m, _: _addresses(m.parsed.bcc),
    "replyTo": lambda m, _: _addresses(m.parsed.reply_to),
    "flag": lambda m, _: {"flagStatus": m.flag_status},
    "internetMessageHeaders": lambda m, _: [{"name": k, "value": v} for k, v in m.parsed.headers],
}


def _body(body_type: str, content: str, *, as_text: bool) -> dict[str, str]:
    if as_text and body_type == "html":
        return {"contentType": "text", "content": html_to_text(content)}
    return {"contentType": body_type, "content": content}


def html_body(body_type: str, content: str) -> str:
    return content if body_type == "html" else text_to_html(content)


def folder_json(user: User, folder: Folder) -> dict[str, Any]:
    in_folder = [m for m in user.messages.values() if m.folder_id == folder.id]
    return {
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent_id or "AAMkADroot",
        "childFolderCount": 0,
        "unreadItemCount": sum(1 for m in in_folder if not m.is_read),
        "totalItemCount": len(in_folder),
        "sizeInBytes": sum(len(m.raw) for m in in_folder),
        "isHidden": False,
    }
