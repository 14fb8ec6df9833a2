"""Graph's routes that write mail: a new draft, `createReply`/`createReplyAll`, `reply`/`replyAll`, sending a
draft, and `sendMail`. Sent mail lands in Sent Items (and the state's outgoing log) exactly once per call."""

from __future__ import annotations

from emailbot.sandbox.graph.compose import compose, content_type, reply_to, require_recipients, store_composed
from emailbot.sandbox.graph.pipeline import Context, GraphError, GraphResponse, ok
from emailbot.sandbox.graph.query import json_object, message_of, preference_applied, render, route_user


async def create_draft(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
    payload = json_object(ctx.request.json())
    parsed = compose(user, payload, subject=str(payload.get("subject") or ""), to=[], body_type="html", body="")
    with ctx.state.lock:
        message = store_composed(ctx, user, parsed, folder="drafts", conversation_id=None, is_draft=True, unique=None)
        return ok(render(message, ctx), 201, preference_applied(ctx))


async def create_reply(ctx: Context) -> GraphResponse:
    return await _create_reply(ctx, reply_all=False)


async def create_reply_all(ctx: Context) -> GraphResponse:
    return await _create_reply(ctx, reply_all=True)


async def _create_reply(ctx: Context, *, reply_all: bool) -> GraphResponse:
    user = route_user(ctx)
    payload = json_object(ctx.request.json())
    with ctx.state.lock:
        original = message_of(user, ctx.params["message"])
        parsed, unique = reply_to(user, original, payload, reply_all=reply_all)
        draft = store_composed(
            ctx, user, parsed, folder="drafts", conversation_id=original.conversation_id, is_draft=True, unique=unique
        )
        return ok(render(draft, ctx), 201, preference_applied(ctx))


async def reply(ctx: Context) -> GraphResponse:
    return await _reply(ctx, reply_all=False)


async def reply_all(ctx: Context) -> GraphResponse:
    return await _reply(ctx, reply_all=True)


async def _reply(ctx: Context, *, reply_all: bool) -> GraphResponse:
    user = route_user(ctx)
    payload = json_object(ctx.request.json())
    with ctx.state.lock:
        original = message_of(user, ctx.params["message"])
        parsed, unique = reply_to(user, original, payload, reply_all=reply_all)
        require_recipients(parsed)
        store_composed(
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
    user = route_user(ctx)
    with ctx.state.lock:
        draft = message_of(user, ctx.params["message"])
        if not draft.is_draft:
            raise GraphError(400, "ErrorInvalidOperation", "Only draft messages can be sent.")
        require_recipients(draft.parsed)
        # Exchange gives the sent copy new ids (immutable ids change when a draft is sent).
        ctx.state.delete(user, draft)
        store_composed(
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
    user = route_user(ctx)
    payload = json_object(ctx.request.json())
    message = payload.get("message")
    if not isinstance(message, dict):
        raise GraphError(400, "ErrorInvalidRequest", "The message parameter is required.")
    body = message.get("body") or {}
    parsed = compose(
        user,
        message,
        subject=str(message.get("subject") or ""),
        to=[],
        body_type=content_type(body.get("contentType", "text")),
        body=str(body.get("content") or ""),
    )
    require_recipients(parsed)
    save = payload.get("saveToSentItems", True) is not False
    with ctx.state.lock:
        if save:
            store_composed(ctx, user, parsed, folder="sentitems", conversation_id=None, is_draft=False, unique=None)
        else:
            ctx.state.record_unsaved_sent(user, parsed)
    return ok(None, 202)
