"""Graph's users, mailFolders and messages routes: list/get, delta, $value, replies, send, move, PATCH."""

from __future__ import annotations

import html
import re
import urllib.parse
import uuid
from typing import Any

from emailbot.sandbox.graph import Context, GraphError, GraphResponse, Router, ok
from emailbot.sandbox.mime import Address, ParsedMail, build_mime, conversation_id_for, conversation_key
from emailbot.sandbox.render import SELECTABLE, folder_json, html_body, message_json
from emailbot.sandbox.state import (
    DeltaCursor,
    DeltaPage,
    Folder,
    MailMessage,
    User,
    address_from_graph,
    graph_time,
)

MAIL_READ = ("Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic", "Mail.ReadBasic.All")
MAIL_WRITE = ("Mail.ReadWrite",)
MAIL_SEND = ("Mail.Send",)
USER_READ = ("User.Read.All", "User.ReadBasic.All", "Directory.Read.All", "User.Read")
DEFAULT_PAGE = 10
MAX_PAGE = 1000
_PATCHABLE_ANY = {"categories", "flag", "isRead", "importance", "inferenceClassification"}
_PATCHABLE_DRAFT = {"subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "replyTo"}
MAX_CUSTOM_HEADERS = 5
_FLAG_STATUSES = {"notFlagged", "flagged", "complete"}
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+(?:'((?:[^']|'')*)'|(true|false))\s*$", re.IGNORECASE)


def register(router: Router) -> None:
    router.add("GET", "/users", list_users, USER_READ, denied_code="Authorization_RequestDenied")
    router.add("GET", "/users/{user}", get_user, USER_READ, denied_code="Authorization_RequestDenied", directory=True)
    router.add("GET", "/users/{user}/mailFolders", list_folders, MAIL_READ, mailbox=True)
    router.add("POST", "/users/{user}/mailFolders", create_folder, MAIL_WRITE, mailbox=True)
    router.add("GET", "/users/{user}/mailFolders/{folder}", get_folder, MAIL_READ, mailbox=True)
    router.add("GET", "/users/{user}/mailFolders/{folder}/messages/delta", delta, MAIL_READ, mailbox=True)
    router.add("GET", "/users/{user}/mailFolders/{folder}/messages", list_messages, MAIL_READ, mailbox=True)
    router.add("GET", "/users/{user}/mailFolders/{folder}/messages/{message}", get_message, MAIL_READ, mailbox=True)
    router.add("GET", "/users/{user}/messages", list_messages, MAIL_READ, mailbox=True)
    router.add("POST", "/users/{user}/messages", create_draft, MAIL_WRITE, mailbox=True)
    router.add("GET", "/users/{user}/messages/{message}", get_message, MAIL_READ, mailbox=True)
    router.add("PATCH", "/users/{user}/messages/{message}", patch_message, MAIL_WRITE, mailbox=True)
    router.add("DELETE", "/users/{user}/messages/{message}", delete_message, MAIL_WRITE, mailbox=True)
    router.add("GET", "/users/{user}/messages/{message}/$value", raw_message, MAIL_READ, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/createReply", create_reply, MAIL_WRITE, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/createReplyAll", create_reply_all, MAIL_WRITE, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/reply", reply, MAIL_SEND, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/replyAll", reply_all, MAIL_SEND, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/send", send_draft, MAIL_SEND, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/move", move_message, MAIL_WRITE, mailbox=True)
    router.add("POST", "/users/{user}/sendMail", send_mail, MAIL_SEND, mailbox=True)


# ----- users ----------------------------------------------------------------------------------------------------
async def list_users(ctx: Context) -> GraphResponse:
    users = list(ctx.state.users.values())
    filter_text = ctx.request.query.get("$filter")
    if filter_text:
        wanted = _parse_filter(filter_text, {"mail", "userPrincipalName", "id", "displayName"})
        users = [u for u in users if all(str(u.as_graph()[k]).lower() == str(v).lower() for k, v in wanted.items())]
    values = [_select_user(u, ctx) for u in users]
    return ok({"@odata.context": f"{ctx.request.base_url}/$metadata#users", "value": values})


async def get_user(ctx: Context) -> GraphResponse:
    assert ctx.user is not None
    body = {"@odata.context": f"{ctx.request.base_url}/$metadata#users/$entity", **_select_user(ctx.user, ctx)}
    return ok(body)


def _select_user(user: User, ctx: Context) -> dict[str, Any]:
    full = user.as_graph()
    select = _select_list(ctx, validate=False)
    if not select:
        return full
    unknown = [name for name in select if name not in full]
    if unknown:
        raise GraphError(
            400, "Request_BadRequest", f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.user'."
        )
    return {name: full[name] for name in select}


# ----- folders --------------------------------------------------------------------------------------------------
async def list_folders(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    visible = [f for f in user.folders.values() if f.well_known_name != "outbox"]
    if ctx.request.query.get("$filter"):
        wanted = _parse_filter(ctx.request.query["$filter"], {"displayName"})
        visible = [f for f in visible if f.display_name.lower() == str(wanted["displayName"]).lower()]
    return ok(
        {
            "@odata.context": f"{ctx.request.base_url}/$metadata#users('{user.id}')/mailFolders",
            "value": [folder_json(user, f) for f in visible],
        }
    )


async def create_folder(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    payload = _object(ctx.request.json())
    name = payload.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "ErrorInvalidRequest", "displayName is required.")
    try:
        folder = ctx.state.add_folder(name.strip(), mailbox=user.id)
    except ValueError:
        raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.") from None
    return ok(folder_json(user, folder), 201)


async def get_folder(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    return ok(folder_json(user, _folder(user, ctx.params["folder"])))


# ----- messages -------------------------------------------------------------------------------------------------
async def list_messages(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    query = ctx.request.query
    with ctx.state.lock:
        messages = list(user.messages.values())
        if "folder" in ctx.params:
            folder = _folder(user, ctx.params["folder"])
            messages = [m for m in messages if m.folder_id == folder.id]
        if query.get("$filter"):
            messages = _filter_messages(messages, query["$filter"])
        descending = "asc" not in query.get("$orderby", "receivedDateTime desc").lower()
        messages.sort(key=lambda m: (m.received, m.changed_seq), reverse=descending)
        top = _int_query(query, "$top", DEFAULT_PAGE, 1, MAX_PAGE)
        skip = _int_query(query, "$skip", 0, 0, 10**9)
        page = messages[skip : skip + top]
        body: dict[str, Any] = {
            "@odata.context": f"{ctx.request.base_url}/$metadata#users('{user.id}')/messages",
            "value": [_render(m, ctx) for m in page],
        }
    if skip + top < len(messages):
        next_query = {k: v for k, v in query.items() if k != "$skip"} | {"$skip": str(skip + top)}
        body["@odata.nextLink"] = f"{ctx.request.base_url}{ctx.request.path}?" + urllib.parse.urlencode(
            next_query, safe="$,'()", quote_via=urllib.parse.quote
        )
    return ok(body, headers=_preference_applied(ctx))


async def get_message(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    with ctx.state.lock:
        message = _message(user, ctx.params["message"])
        if "folder" in ctx.params and message.folder_id != _folder(user, ctx.params["folder"]).id:
            raise _not_found()
        return ok(_render(message, ctx), headers=_preference_applied(ctx))


async def raw_message(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    with ctx.state.lock:
        message = _message(user, ctx.params["message"])
        return GraphResponse(200, message.raw, {}, media_type="text/plain")


async def create_draft(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    payload = _object(ctx.request.json())
    parsed = _compose(user, payload, subject=str(payload.get("subject") or ""), to=[], body_type="html", body="")
    with ctx.state.lock:
        message = _store_composed(ctx, user, parsed, folder="drafts", conversation_id=None, is_draft=True, unique=None)
        return ok(_render(message, ctx), 201, _preference_applied(ctx))


async def patch_message(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    payload = _object(ctx.request.json())
    with ctx.state.lock:
        message = _message(user, ctx.params["message"])
        for name in payload:
            if name in _PATCHABLE_DRAFT and not message.is_draft:
                raise GraphError(
                    400,
                    "ErrorInvalidPropertyUpdateSentMessage",
                    "Update operation is not supported for this property on a sent message.",
                )
            if name not in _PATCHABLE_ANY | _PATCHABLE_DRAFT:
                raise GraphError(
                    400,
                    "RequestBroker--ParseUri",
                    f"Could not find a property named '{name}' on type 'Microsoft.OutlookServices.Message'.",
                )
        _apply_patch(user, message, payload)
        ctx.state.touch(user, message)
        return ok(_render(message, ctx), headers=_preference_applied(ctx))


async def delete_message(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    with ctx.state.lock:
        message = _message(user, ctx.params["message"])
        deleted_items = _folder(user, "deleteditems")
        if message.folder_id == deleted_items.id:
            ctx.state.delete(user, message)
        else:
            ctx.state.move(user, message, deleted_items)
    return ok(None, 204)


async def move_message(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    payload = _object(ctx.request.json())
    destination_key = payload.get("destinationId")
    if not isinstance(destination_key, str) or not destination_key:
        raise GraphError(400, "ErrorInvalidRequest", "The destinationId parameter is required.")
    with ctx.state.lock:
        message = _message(user, ctx.params["message"])
        moved = ctx.state.move(user, message, _folder(user, destination_key))
        return ok(_render(moved, ctx), 201, _preference_applied(ctx))


async def create_reply(ctx: Context) -> GraphResponse:
    return await _create_reply(ctx, reply_all=False)


async def create_reply_all(ctx: Context) -> GraphResponse:
    return await _create_reply(ctx, reply_all=True)


async def _create_reply(ctx: Context, *, reply_all: bool) -> GraphResponse:
    user = _user(ctx)
    payload = _object(ctx.request.json())
    with ctx.state.lock:
        original = _message(user, ctx.params["message"])
        parsed, unique = _reply_to(user, original, payload, reply_all=reply_all)
        draft = _store_composed(
            ctx, user, parsed, folder="drafts", conversation_id=original.conversation_id, is_draft=True, unique=unique
        )
        return ok(_render(draft, ctx), 201, _preference_applied(ctx))


async def reply(ctx: Context) -> GraphResponse:
    return await _reply(ctx, reply_all=False)


async def reply_all(ctx: Context) -> GraphResponse:
    return await _reply(ctx, reply_all=True)


async def _reply(ctx: Context, *, reply_all: bool) -> GraphResponse:
    user = _user(ctx)
    payload = _object(ctx.request.json())
    with ctx.state.lock:
        original = _message(user, ctx.params["message"])
        parsed, unique = _reply_to(user, original, payload, reply_all=reply_all)
        _require_recipients(parsed)
        _store_composed(
            ctx,
            user,
            parsed,
            folder="sentitems",
            conversation_id=original.conversation_id,
            is_draft=False,
            unique=unique,
        )
    return ok(None, 202)


async def send_draft(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    with ctx.state.lock:
        draft = _message(user, ctx.params["message"])
        if not draft.is_draft:
            raise GraphError(400, "ErrorInvalidOperation", "Only draft messages can be sent.")
        _require_recipients(draft.parsed)
        # Exchange gives the sent copy new ids (immutable ids change when a draft is sent).
        ctx.state.delete(user, draft)
        _store_composed(
            ctx,
            user,
            draft.parsed,
            folder="sentitems",
            conversation_id=draft.conversation_id,
            is_draft=False,
            unique=draft.unique_body,
        )
    return ok(None, 202)


async def send_mail(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    payload = _object(ctx.request.json())
    message = payload.get("message")
    if not isinstance(message, dict):
        raise GraphError(400, "ErrorInvalidRequest", "The message parameter is required.")
    body = message.get("body") or {}
    parsed = _compose(
        user,
        message,
        subject=str(message.get("subject") or ""),
        to=[],
        body_type=_content_type(body.get("contentType", "text")),
        body=str(body.get("content") or ""),
    )
    _require_recipients(parsed)
    save = payload.get("saveToSentItems", True) is not False
    with ctx.state.lock:
        if save:
            _store_composed(ctx, user, parsed, folder="sentitems", conversation_id=None, is_draft=False, unique=None)
        else:
            ctx.state.record_unsaved_sent(user, parsed)
    return ok(None, 202)


# ----- delta ----------------------------------------------------------------------------------------------------
async def delta(ctx: Context) -> GraphResponse:
    user = _user(ctx)
    query, state = ctx.request.query, ctx.state
    with state.lock:
        if "$skiptoken" in query:
            page = state.delta_pages.get(query["$skiptoken"])
            if page is None or page.cursor.user_id != user.id:
                raise _sync_state_not_found()
        else:
            if "$deltatoken" in query:
                cursor = state.delta_cursors.get(query["$deltatoken"])
                if cursor is None or cursor.user_id != user.id:
                    raise _sync_state_not_found()
            else:
                folder = _folder(user, ctx.params["folder"])
                cursor = DeltaCursor(user.id, folder.id, 0, _select_list(ctx))
            page = state.delta_changes(cursor)
        size = ctx.request.max_page_size() or DEFAULT_PAGE
        size = max(1, min(size, MAX_PAGE))
        batch, rest = page.pending[:size], page.pending[size:]
        values = [item for item in (_delta_item(user, page, key, ctx) for key in batch) if item is not None]
        link_base = f"{ctx.request.base_url}/users/{user.id}/mailFolders/{page.cursor.folder_id}/messages/delta"
        body: dict[str, Any] = {
            "@odata.context": f"{ctx.request.base_url}/$metadata#Collection(message)",
            "value": values,
        }
        if rest:
            token = state.new_skip_token(DeltaPage(page.cursor, rest, page.seq_high))
            body["@odata.nextLink"] = f"{link_base}?$skiptoken={token}"
        else:
            next_cursor = DeltaCursor(user.id, page.cursor.folder_id, page.seq_high, page.cursor.select)
            body["@odata.deltaLink"] = f"{link_base}?$deltatoken={state.new_delta_token(next_cursor)}"
    headers = _preference_applied(ctx)
    if ctx.request.max_page_size():
        headers["Preference-Applied"] = ", ".join(
            p for p in (headers.get("Preference-Applied"), f"odata.maxpagesize={size}") if p
        )
    return ok(body, headers=headers)


def _delta_item(user: User, page: DeltaPage, key: tuple[str, str | None], ctx: Context) -> dict[str, Any] | None:
    immutable_id, removed_rest_id = key
    immutable = ctx.request.immutable_ids
    if removed_rest_id is not None:
        return {
            "@odata.type": "#microsoft.graph.message",
            "id": immutable_id if immutable else removed_rest_id,
            "@removed": {"reason": "deleted"},
        }
    message = user.messages.get(immutable_id)
    if message is None or message.folder_id != page.cursor.folder_id:
        return None  # moved away after this round started: the next round reports the removal
    rendered = message_json(
        message, select=page.cursor.select, immutable_ids=immutable, body_as_text=ctx.request.body_as_text
    )
    return {"@odata.type": "#microsoft.graph.message", **rendered}


def _sync_state_not_found() -> GraphError:
    return GraphError(
        410,
        "syncStateNotFound",
        "The sync state generation is not found or has expired. Please start a full synchronization.",
    )


# ----- helpers --------------------------------------------------------------------------------------------------
def _user(ctx: Context) -> User:
    assert ctx.user is not None
    return ctx.user


def _folder(user: User, key: str) -> Folder:
    folder = user.folder(key)
    if folder is None:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return folder


def _message(user: User, message_id: str) -> MailMessage:
    message = user.find_message(message_id)
    if message is None:
        raise _not_found()
    return message


def _not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
    return payload


def _select_list(ctx: Context, *, validate: bool = True) -> list[str] | None:
    raw = ctx.request.query.get("$select")
    if not raw:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [name for name in names if name not in SELECTABLE]
    if validate and unknown:
        raise GraphError(
            400,
            "RequestBroker--ParseUri",
            f"Could not find a property named '{unknown[0]}' on type 'Microsoft.OutlookServices.Message'.",
        )
    return names


def _render(message: MailMessage, ctx: Context) -> dict[str, Any]:
    return message_json(
        message,
        select=_select_list(ctx),
        immutable_ids=ctx.request.immutable_ids,
        body_as_text=ctx.request.body_as_text,
    )


def _preference_applied(ctx: Context) -> dict[str, str]:
    return {"Preference-Applied": 'IdType="ImmutableId"'} if ctx.request.immutable_ids else {}


def _int_query(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    if name not in query:
        return default
    try:
        value = int(query[name])
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid value '{query[name]}' for query option {name}.") from None
    if value < low:
        raise GraphError(400, "BadRequest", f"Invalid value '{value}' for query option {name}.")
    return min(value, high)


def _parse_filter(text: str, allowed: set[str]) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(clause)
        if match is None or match.group(1) not in allowed:
            raise GraphError(
                400, "ErrorInvalidUrlQueryFilter", f"The query filter '{text}' is not supported by the sandbox."
            )
        name, text_value, bool_value = match.groups()
        wanted[name] = text_value.replace("''", "'") if text_value is not None else bool_value.lower() == "true"
    return wanted


def _filter_messages(messages: list[MailMessage], text: str) -> list[MailMessage]:
    wanted = _parse_filter(text, {"isRead", "isDraft", "conversationId", "internetMessageId", "subject"})

    def value(message: MailMessage, name: str) -> Any:
        return {
            "isRead": message.is_read,
            "isDraft": message.is_draft,
            "conversationId": message.conversation_id,
            "internetMessageId": message.parsed.internet_message_id,
            "subject": message.parsed.subject,
        }[name]

    return [m for m in messages if all(value(m, k) == v for k, v in wanted.items())]


def _apply_patch(user: User, message: MailMessage, payload: dict[str, Any]) -> None:
    if "categories" in payload:
        categories = payload["categories"]
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise GraphError(400, "ErrorInvalidRequest", "categories must be a list of strings.")
        message.categories = list(dict.fromkeys(categories))
    if "flag" in payload:
        status = (payload["flag"] or {}).get("flagStatus")
        if status not in _FLAG_STATUSES:
            raise GraphError(400, "ErrorInvalidRequest", f"Invalid flagStatus '{status}'.")
        message.flag_status = status
    if "isRead" in payload:
        if not isinstance(payload["isRead"], bool):
            raise GraphError(400, "ErrorInvalidRequest", "isRead must be true or false.")
        message.is_read = payload["isRead"]
    if "importance" in payload:
        message.parsed.importance = str(payload["importance"])
    if any(name in payload for name in _PATCHABLE_DRAFT):
        body = payload.get("body") or {}
        composed = _compose(
            user,
            payload,
            subject=str(payload.get("subject", message.parsed.subject)),
            to=message.parsed.to,
            cc=message.parsed.cc,
            body_type=_content_type(body.get("contentType", message.parsed.body_type))
            if body
            else message.parsed.body_type,
            body=str(body.get("content")) if body else message.parsed.body,
            in_reply_to=message.parsed.in_reply_to,
            references=message.parsed.references,
            message_id=message.parsed.internet_message_id,
        )
        message.parsed = composed
        message.raw = _mime(composed)
        if body:
            message.unique_body = None


def _compose(
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


def _reply_to(user: User, original: MailMessage, payload: dict[str, Any], *, reply_all: bool) -> tuple[ParsedMail, str]:
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
        unique_type = _content_type(overrides["body"].get("contentType", "html"))
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
    parsed = _compose(
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


def _require_recipients(parsed: ParsedMail) -> None:
    if not (parsed.to or parsed.cc or parsed.bcc):
        raise GraphError(
            400,
            "ErrorInvalidRecipients",
            "At least one recipient isn't valid., Message must have at least one recipient.",
        )


def _content_type(value: Any) -> str:
    return "html" if str(value).lower() == "html" else "text"


def _mime(parsed: ParsedMail) -> bytes:
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


def _store_composed(
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
        user, parsed, _mime(parsed), folder=folder, conversation_id=conversation, is_draft=is_draft, unique_body=unique
    )
