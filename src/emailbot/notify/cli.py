"""`emailbot teams ...`: sign the Teams service account in or out, and test the Teams operations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from emailbot.cli_support import settings_or_exit

if TYPE_CHECKING:
    from emailbot.notify.teams_chat import TeamsChatNotifier
    from emailbot.settings import Settings

app = typer.Typer(help="Teams escalation chats: sign-in of the service account, operations test.", no_args_is_help=True)


def _settings() -> Settings:
    """The settings, with Teams chats on and the database schema current."""
    from emailbot.store.migrate import upgrade

    settings = settings_or_exit()
    if not settings.teams_chats:
        typer.echo("Teams chats are off: set EMAILBOT_TEAMS_CHATS=true and the EMAILBOT_GRAPH_* settings.", err=True)
        raise typer.Exit(2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return settings


@asynccontextmanager
async def _teams_notifier(settings: Settings) -> AsyncIterator[TeamsChatNotifier]:
    """The notifier the service would use, with its own database connection, closed afterwards."""
    from emailbot.notify.deliveries import Closer, DeliveryLog
    from emailbot.notify.teams_chat import build_teams_chat_notifier
    from emailbot.ops.alerts import LogAlertSink
    from emailbot.store.db import Database

    db = Database(settings.database_url)
    closers: list[Closer] = []
    try:
        yield build_teams_chat_notifier(settings, db, DeliveryLog(db), LogAlertSink, closers)
    finally:
        for closer in closers:
            await closer.aclose()
        await db.dispose()


@app.command()
def login(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sign-in.")] = 900,
) -> None:
    """Sign the delegated service account in once (device code); its token cache is stored encrypted."""
    settings = _settings()
    if settings.teams_post_as != "delegated":
        typer.echo("EMAILBOT_TEAMS_POST_AS is workflow: there is no service account to sign in.", err=True)
        raise typer.Exit(2)

    async def run() -> str:
        async with _teams_notifier(settings) as notifier:
            assert notifier.delegated is not None
            return await notifier.delegated[1].login(typer.echo, timeout=timeout)

    try:
        account = asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 - shown to the administrator, who can try again
        typer.echo(f"Sign-in failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Signed in as {account}. EmailBot will post escalation messages as this account.")


@app.command("test")
def operations_test(
    create_chat: Annotated[
        bool, typer.Option("--create-chat", help="Create a real test chat and post a message (no dry run).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Permissions, user lookup, posting and chat creation (a dry run unless --create-chat). Exit 1 on failure."""
    from emailbot.notify.teams_check import teams_operations
    from emailbot.taxonomy import load_taxonomy

    settings = _settings()

    async def run() -> list[dict[str, object]]:
        async with _teams_notifier(settings) as notifier:
            steps = await teams_operations(notifier, load_taxonomy(settings.taxonomy_file), create_chat=create_chat)
        return [{"step": s.name, "status": s.status, "message": s.message, "details": s.details} for s in steps]

    steps = asyncio.run(run())
    passed = all(step["status"] == "pass" for step in steps)
    if as_json:
        typer.echo(json.dumps({"passed": passed, "steps": steps}, indent=2, default=str))
    else:
        typer.echo("=== Teams operations test ===")
        for step in steps:
            typer.echo(f"{'ok  ' if step['status'] == 'pass' else 'FAIL'} {step['step']:<14} {step['message']}")
        typer.echo("=== " + ("passed ===" if passed else "FAILED ==="))
    raise typer.Exit(0 if passed else 1)


@app.command()
def logout() -> None:
    """Forget the service account's stored sign-in."""
    from emailbot.notify.secret_store import SecretStore, encryption_keys
    from emailbot.notify.teams_auth import CACHE_NAME
    from emailbot.store.db import Database

    settings = _settings()

    async def run() -> None:
        db = Database(settings.database_url)
        try:
            await SecretStore(db, encryption_keys(settings)).delete(CACHE_NAME)
        finally:
            await db.dispose()

    asyncio.run(run())
    typer.echo("The service account's sign-in was removed.")
