"""Graph's `/users` routes: the directory as an app with User.Read.All sees it."""

from __future__ import annotations

from typing import Any

from emailbot.sandbox.graph.pipeline import Context, GraphError, GraphResponse, ok
from emailbot.sandbox.graph.query import parse_filter, select_list
from emailbot.sandbox.state import User


async def list_users(ctx: Context) -> GraphResponse:
    users = list(ctx.state.users.values())
    filter_text = ctx.request.query.get("$filter")
    if filter_text:
        wanted = parse_filter(filter_text, {"mail", "userPrincipalName", "id", "displayName"})
        users = [u for u in users if all(str(u.as_graph()[k]).lower() == str(v).lower() for k, v in wanted.items())]
    values = [_select_user(u, ctx) for u in users]
    return ok({"@odata.context": f"{ctx.request.base_url}/$metadata#users", "value": values})


async def get_user(ctx: Context) -> GraphResponse:
    assert ctx.user is not None
    body = {"@odata.context": f"{ctx.request.base_url}/$metadata#users/$entity", **_select_user(ctx.user, ctx)}
    return ok(body)


def _select_user(user: User, ctx: Context) -> dict[str, Any]:
    full = user.as_graph()
    select = select_list(ctx, validate=False)
    if not select:
        return full
    unknown = [name for name in select if name not in full]
    if unknown:
        raise GraphError(
            400, "Request_BadRequest", f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.user'."
        )
    return {name: full[name] for name in select}
