"""The Teams operations test (the manual's `test_teams_operations`), for `emailbot teams test` and
`GET /config/validation` → `validations.teams`.

Graph has no dry run for creating a chat, so by default the chat step only builds and checks the request a real
escalation would send (members resolved, at least two, topic); `--create-chat` creates a real test chat and posts
a test message, which proves the whole path end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emailbot.mail.graph.errors import GraphError
from emailbot.notify.base import EscalationNotice, NotifyError
from emailbot.notify.teams_chat import TEAMS_SLOT, TeamsChatNotifier, chat_request
from emailbot.taxonomy import Taxonomy

if TYPE_CHECKING:
    from emailbot.runtime import Runtime

# Each permission the chats need, and the permissions that include it.
REQUIRED_PERMISSIONS = {
    "Chat.Create": ("Chat.Create", "Chat.ReadWrite.All"),
    "ChatMember.ReadWrite.All": ("ChatMember.ReadWrite.All", "Chat.ReadWrite.All"),
    "User.Read.All": ("User.Read.All", "User.ReadBasic.All", "Directory.Read.All"),
}
POSTING_SCOPES = ("ChatMessage.Send", "Chat.ReadWrite")


PASS, FAIL = "pass", "fail"


@dataclass
class Step:
    name: str
    status: str  # pass | fail
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == PASS


async def teams_operations(notifier: TeamsChatNotifier, taxonomy: Taxonomy, *, create_chat: bool = False) -> list[Step]:
    steps = [await check_permissions(notifier), await check_posting(notifier)]
    members = await check_members(notifier, taxonomy)
    steps.append(members)
    steps.append(await check_chat(notifier, members.details.get("found", {}), create=create_chat))
    return steps


async def check_permissions(notifier: TeamsChatNotifier) -> Step:
    try:
        token = await notifier.app_graph.tokens.token()
    except GraphError as exc:
        return Step("permissions", FAIL, str(exc))
    granted = set(token.roles)
    missing = [name for name, accepted in REQUIRED_PERMISSIONS.items() if not granted.intersection(accepted)]
    details = {"roles": sorted(granted), "missing": missing}
    if missing:
        advice = (
            f"The app lacks {', '.join(missing)}: add the Microsoft Graph application permission(s) and grant admin "
            "consent."
        )
        return Step("permissions", FAIL, advice, details)
    return Step("permissions", PASS, "Chat.Create, ChatMember.ReadWrite.All and User.Read.All are granted", details)


async def check_posting(notifier: TeamsChatNotifier) -> Step:
    if notifier.delegated is None:
        return Step("posting", PASS, "messages are posted by the Teams Workflows webhook", {"posted_by": "workflow"})
    tokens = notifier.delegated[1]
    try:
        token = await tokens.token()
    except GraphError as exc:
        return Step("posting", FAIL, str(exc), {"posted_by": "delegated"})
    account = await tokens.signed_in_as()
    details = {"posted_by": "delegated", "account": account, "scopes": list(token.roles)}
    if not set(token.roles).intersection(POSTING_SCOPES):
        return Step(
            "posting", FAIL, "The service account's token lacks ChatMessage.Send: grant it and sign in again", details
        )
    return Step("posting", PASS, f"messages are posted as {account}", details)


async def check_members(notifier: TeamsChatNotifier, taxonomy: Taxonomy) -> Step:
    addresses = [a for spec in taxonomy.categories.values() for a in spec.escalation_members]
    addresses += list(notifier.settings.escalation_default_members)
    try:
        members = await notifier.resolve_members(tuple(dict.fromkeys(addresses)))
    except GraphError as exc:
        return Step("user_lookup", FAIL, str(exc))
    details = {"found": members.user_ids, "unknown": list(members.unknown)}
    if members.unknown:
        message = f"not found in the directory: {', '.join(members.unknown)} (fix the taxonomy or the default members)"
        return Step("user_lookup", FAIL, message, details)
    return Step("user_lookup", PASS, f"all {len(members.user_ids)} escalation members exist", details)


async def check_chat(notifier: TeamsChatNotifier, found: dict[str, str], *, create: bool) -> Step:
    topic = f"IT-ESCALATION-{datetime.now(UTC):%Y-%m-%d}-emailbot-teams-test"
    user_ids = list(dict.fromkeys(found.values()))
    try:
        if notifier.delegated is not None:
            user_ids = list(dict.fromkeys([*user_ids, await notifier.service_account_id()]))
    except GraphError as exc:
        return Step("chat_creation", FAIL, f"cannot add the service account: {exc}")
    request = chat_request(topic, user_ids, notifier.settings.graph_base_url)
    details: dict[str, Any] = {"dry_run": not create, "request": request.body}
    if len(user_ids) < 2:
        return Step("chat_creation", FAIL, "a group chat needs at least two members", details)
    if not create:
        return Step("chat_creation", PASS, f"dry run: POST /chats with {len(user_ids)} members is ready", details)
    try:
        response = await notifier.app_graph.call(TEAMS_SLOT, request, idempotent=False, what="create test chat")
        chat_id = str(response.json()["id"])
        details["chat_id"] = chat_id
        if notifier.delegated is not None:
            await notifier.post_message(chat_id, test_notice(topic))
    except (GraphError, NotifyError) as exc:
        return Step("chat_creation", FAIL, str(exc), details)
    return Step("chat_creation", PASS, f"created test chat {chat_id} and posted a message", details)


def test_notice(topic: str) -> EscalationNotice:
    return EscalationNotice(
        escalation_id=0,
        email_id=0,
        name=topic,
        subject="EmailBot Teams test",
        sender="",
        category="TEST",
        confidence=100,
        urgency="LOW",
        summary="A test of the escalation chat from `emailbot teams test --create-chat`; you may leave this chat.",
        reasoning="",
        required_expertise=(),
        members=(),
        recommended_actions=(),
        link="",
    )


async def validate_teams(runtime: Runtime) -> tuple[str, str, dict[str, Any]]:
    """For `GET /config/validation`: the permission, posting and member steps (no chat is created)."""
    notifier = next((n for n in _notifiers(runtime) if isinstance(n, TeamsChatNotifier)), None)
    if notifier is None:
        workflow = [t.name for t in runtime.settings.notify_webhooks if t.kind == "teams_workflow"]
        if workflow:
            return "skipped", f"Teams chats are off; Teams Workflows webhook(s) {', '.join(workflow)} configured", {}
        return "skipped", "Teams chats are off (EMAILBOT_TEAMS_CHATS)", {}
    steps = [await check_permissions(notifier), await check_posting(notifier)]
    members = await check_members(notifier, runtime.taxonomy)
    details: dict[str, Any] = {step.name: {"status": step.status, **step.details} for step in [*steps, members]}
    details["user_lookup"].pop("found", None)
    failed = [step for step in steps if not step.ok]
    if failed:
        return "fail", "; ".join(step.message for step in failed), details
    if not members.ok:
        return "warn", members.message, details
    return "pass", f"{steps[0].message}; {steps[1].message}; {members.message}", details


def _notifiers(runtime: Runtime) -> list[object]:
    return list(runtime.notifications.notifiers) if runtime.notifications is not None else []
