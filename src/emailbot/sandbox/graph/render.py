"""Graph's JSON for messages and folders, honouring `$select` and the Prefer headers like Graph does."""

from __future__ import annotations

from typing import Any

from emailbot.sandbox.mime import html_to_text, text_to_html
from emailbot.sandbox.state import Folder, MailMessage, User, graph_time

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
    parsed = message.parsed
    match name:
        case "createdDateTime":
            return graph_time(message.created)
        case "lastModifiedDateTime":
            return graph_time(message.modified)
        case "changeKey":
            return message.change_key
        case "categories":
            return list(message.categories)
        case "receivedDateTime":
            return graph_time(message.received)
        case "sentDateTime":
            return graph_time(parsed.sent or message.received)
        case "hasAttachments":
            return parsed.has_attachments
        case "internetMessageId":
            return parsed.internet_message_id
        case "subject":
            return parsed.subject
        case "bodyPreview":
            return message.preview()
        case "importance":
            return parsed.importance
        case "parentFolderId":
            return message.folder_id
        case "conversationId":
            return message.conversation_id
        case "conversationIndex":
            return "AQHZ" + message.conversation_id[-20:]
        case "isDeliveryReceiptRequested" | "isReadReceiptRequested":
            return False
        case "isRead":
            return message.is_read
        case "isDraft":
            return message.is_draft
        case "webLink":
            return f"https://outlook.office365.com/owa/?ItemID={message.rest_id}&exvsurl=1&viewmodel=ReadMessageItem"
        case "inferenceClassification":
            return "focused"
        case "body":
            return _body(parsed.body_type, parsed.body, as_text=body_as_text)
        case "uniqueBody":
            unique = message.unique_body if message.unique_body is not None else parsed.body
            return _body(parsed.body_type, unique, as_text=body_as_text)
        case "sender" | "from":
            return parsed.sender.as_graph() if parsed.sender else None
        case "toRecipients":
            return [a.as_graph() for a in parsed.to]
        case "ccRecipients":
            return [a.as_graph() for a in parsed.cc]
        case "bccRecipients":
            return [a.as_graph() for a in parsed.bcc]
        case "replyTo":
            return [a.as_graph() for a in parsed.reply_to]
        case "flag":
            return {"flagStatus": message.flag_status}
        case "internetMessageHeaders":
            return [{"name": k, "value": v} for k, v in parsed.headers]
    return None


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
