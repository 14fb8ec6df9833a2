"""Reading a Graph request the way Graph does: the user, folder and message it names, `$select`, `$filter`,
`$top`/`$skip`, and the Prefer headers that shape the answer."""

from __future__ import annotations

import re
from typing import Any

from emailbot.sandbox.graph.pipeline import Context, GraphError
from emailbot.sandbox.graph.render import SELECTABLE, message_json
from emailbot.sandbox.state import Folder, MailMessage, User

DEFAULT_PAGE = 10
MAX_PAGE = 1000
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+(?:'((?:[^']|'')*)'|(true|false))\s*$", re.IGNORECASE)


def route_user(ctx: Context) -> User:
    assert ctx.user is not None
    return ctx.user


def folder_of(user: User, key: str) -> Folder:
    folder = user.folder(key)
    if folder is None:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return folder


def message_of(user: User, message_id: str) -> MailMessage:
    message = user.find_message(message_id)
    if message is None:
        raise not_found()
    return message


def not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def json_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
    return payload


def select_list(ctx: Context, *, validate: bool = True) -> list[str] | None:
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


def render(message: MailMessage, ctx: Context) -> dict[str, Any]:
    return message_json(
        message,
        select=select_list(ctx),
        immutable_ids=ctx.request.immutable_ids,
        body_as_text=ctx.request.body_as_text,
    )


def preference_applied(ctx: Context) -> dict[str, str]:
    return {"Preference-Applied": 'IdType="ImmutableId"'} if ctx.request.immutable_ids else {}


def int_query(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    if name not in query:
        return default
    try:
        value = int(query[name])
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid value '{query[name]}' for query option {name}.") from None
    if value < low:
        raise GraphError(400, "BadRequest", f"Invalid value '{value}' for query option {name}.")
    return min(value, high)


def parse_filter(text: str, allowed: set[str]) -> dict[str, Any]:
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


def filter_messages(messages: list[MailMessage], text: str) -> list[MailMessage]:
    wanted = parse_filter(text, {"isRead", "isDraft", "conversationId", "internetMessageId", "subject"})

    def value(message: MailMessage, name: str) -> Any:
        return {
            "isRead": message.is_read,
            "isDraft": message.is_draft,
            "conversationId": message.conversation_id,
            "internetMessageId": message.parsed.internet_message_id,
            "subject": message.parsed.subject,
        }[name]

    return [m for m in messages if all(value(m, k) == v for k, v in wanted.items())]
