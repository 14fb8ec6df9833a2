"""Graph's `messages/delta` for a folder: pages of changes (`odata.maxpagesize`), skip tokens, a delta link to
resume from, removals reported as `@removed`, and 410 `syncStateNotFound` for a token the tenant forgot."""

from __future__ import annotations

from typing import Any

from emailbot.sandbox.graph.pipeline import Context, GraphError, GraphResponse, ok
from emailbot.sandbox.graph.query import DEFAULT_PAGE, MAX_PAGE, folder_of, preference_applied, route_user, select_list
from emailbot.sandbox.graph.render import message_json
from emailbot.sandbox.state import DeltaCursor, DeltaPage, User


async def delta(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
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
                folder = folder_of(user, ctx.params["folder"])
                cursor = DeltaCursor(user.id, folder.id, 0, select_list(ctx))
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
    headers = preference_applied(ctx)
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
