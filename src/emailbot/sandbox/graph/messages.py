"""Graph's message routes that read or change a message in place: list, get, `$value`, PATCH, delete, move."""

from __future__ import annotations

import urllib.parse
from typing import Any

from emailbot.sandbox.graph.compose import compose, content_type, mime_of
from emailbot.sandbox.graph.pipeline import Context, GraphError, GraphResponse, ok
from emailbot.sandbox.graph.query import (
    DEFAULT_PAGE,
    MAX_PAGE,
    filter_messages,
    folder_of,
    int_query,
    json_object,
    message_of,
    not_found,
    preference_applied,
    render,
    route_user,
)
from emailbot.sandbox.state import MailMessage, User

_PATCHABLE_ANY = {"categories", "flag", "isRead", "importance", "inferenceClassification"}
_PATCHABLE_DRAFT = {"subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "replyTo"}
_FLAG_STATUSES = {"notFlagged", "flagged", "complete"}


async def list_messages(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
    query = ctx.request.query
    with ctx.state.lock:
        messages = list(user.messages.values())
        if "folder" in ctx.params:
            folder = folder_of(user, ctx.params["folder"])
            messages = [m for m in messages if m.folder_id == folder.id]
        if query.get("$filter"):
            messages = filter_messages(messages, query["$filter"])
        descending = "asc" not in query.get("$orderby", "receivedDateTime desc").lower()
        messages.sort(key=lambda m: (m.received, m.changed_seq), reverse=descending)
        top = int_query(query, "$top", DEFAULT_PAGE, 1, MAX_PAGE)
        skip = int_query(query, "$skip", 0, 0, 10**9)
        page = messages[skip : skip + top]
        body: dict[str, Any] = {
            "@odata.context": f"{ctx.request.base_url}/$metadata#users('{user.id}')/messages",
            "value": [render(m, ctx) for m in page],
        }
    if skip + top < len(messages):
        next_query = {k: v for k, v in query.items() if k != "$skip"} | {"$skip": str(skip + top)}
        body["@odata.nextLink"] = f"{ctx.request.base_url}{ctx.request.path}?" + urllib.parse.urlencode(
            next_query, safe="$,'()", quote_via=urllib.parse.quote
        )
    return ok(body, headers=preference_applied(ctx))


async def get_message(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
    with ctx.state.lock:
        message = message_of(user, ctx.params["message"])
        if "folder" in ctx.params and message.folder_id != folder_of(user, ctx.params["folder"]).id:
            raise not_found()
        return ok(render(message, ctx), headers=preference_applied(ctx))


async def raw_message(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
    with ctx.state.lock:
        message = message_of(user, ctx.params["message"])
        return GraphResponse(200, message.raw, {}, media_type="text/plain")


async def patch_message(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
    payload = json_object(ctx.request.json())
    with ctx.state.lock:
        message = message_of(user, ctx.params["message"])
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
        return ok(render(message, ctx), headers=preference_applied(ctx))


async def delete_message(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
    with ctx.state.lock:
        message = message_of(user, ctx.params["message"])
        deleted_items = folder_of(user, "deleteditems")
        if message.folder_id == deleted_items.id:
            ctx.state.delete(user, message)
        else:
            ctx.state.move(user, message, deleted_items)
    return ok(None, 204)


async def move_message(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
    payload = json_object(ctx.request.json())
    destination_key = payload.get("destinationId")
    if not isinstance(destination_key, str) or not destination_key:
        raise GraphError(400, "ErrorInvalidRequest", "The destinationId parameter is required.")
    with ctx.state.lock:
        message = message_of(user, ctx.params["message"])
        moved = ctx.state.move(user, message, folder_of(user, destination_key))
        return ok(render(moved, ctx), 201, preference_applied(ctx))


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
        composed = compose(
            user,
            payload,
            subject=str(payload.get("subject", message.parsed.subject)),
            to=message.parsed.to,
            cc=message.parsed.cc,
            body_type=content_type(body.get("contentType", message.parsed.body_type))
            if body
            else message.parsed.body_type,
            body=str(body.get("content")) if body else message.parsed.body,
            in_reply_to=message.parsed.in_reply_to,
            references=message.parsed.references,
            message_id=message.parsed.internet_message_id,
        )
        message.parsed = composed
        message.raw = mime_of(composed)
        if body:
            message.unique_body = None
