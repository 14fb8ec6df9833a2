"""Graph's `mailFolders` routes: list (with a `displayName` filter), create and get a folder."""

from __future__ import annotations

from emailbot.sandbox.graph.pipeline import Context, GraphError, GraphResponse, ok
from emailbot.sandbox.graph.query import folder_of, json_object, parse_filter, route_user
from emailbot.sandbox.graph.render import folder_json


async def list_folders(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
    visible = [f for f in user.folders.values() if f.well_known_name != "outbox"]
    if ctx.request.query.get("$filter"):
        wanted = parse_filter(ctx.request.query["$filter"], {"displayName"})
        visible = [f for f in visible if f.display_name.lower() == str(wanted["displayName"]).lower()]
    return ok(
        {
            "@odata.context": f"{ctx.request.base_url}/$metadata#users('{user.id}')/mailFolders",
            "value": [folder_json(user, f) for f in visible],
        }
    )


async def create_folder(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
    payload = json_object(ctx.request.json())
    name = payload.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "ErrorInvalidRequest", "displayName is required.")
    try:
        folder = ctx.state.add_folder(name.strip(), mailbox=user.id)
    except ValueError:
        raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.") from None
    return ok(folder_json(user, folder), 201)


async def get_folder(ctx: Context) -> GraphResponse:
    user = route_user(ctx)
    return ok(folder_json(user, folder_of(user, ctx.params["folder"])))
