"""`emailbot`: run the service, process once, check health and status, manage the database and the model."""

from __future__ import annotations

import asyncio
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from emailbot.cli_support import prepare as _prepare
from emailbot.cli_support import settings_or_exit as _settings
from emailbot.replay import cli as replay_cli

if TYPE_CHECKING:
    from emailbot.settings import Settings

app = typer.Typer(help="EmailBot: triage for a team's shared mailbox.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


class Role(StrEnum):
    all = "all"
    api = "api"
    worker = "worker"


@app.command()
def run(
    demo: Annotated[bool, typer.Option("--demo", help="Fill an empty mailbox with sample emails first.")] = False,
    host: Annotated[str | None, typer.Option(help="Overrides EMAILBOT_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides EMAILBOT_PORT.")] = None,
    role: Annotated[
        Role, typer.Option(help="all: API and processing; api: API only; worker: processing (and health) only.")
    ] = Role.all,
) -> None:
    """Serve the API on EMAILBOT_HOST:EMAILBOT_PORT and process mail as it arrives."""
    import uvicorn

    from emailbot.api.app import create_app
    from emailbot.logs import configure_logging
    from emailbot.runtime import build_runtime

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format, settings.log_dir)
    _prepare(settings)
    runtime = build_runtime(settings)
    _announce_admin_key(settings)
    if demo:
        _write_demo(settings)
    bind_host, bind_port = host or settings.host, port or settings.port
    watched = f"{settings.local_mailbox_dir}/new"
    if settings.mailbox == "graph":
        watched = f"the Microsoft 365 mailbox {', '.join(settings.graph_mailboxes)}"
    typer.echo(f"EmailBot is watching {watched} and serving http://{bind_host}:{bind_port}")
    typer.echo(f"Dashboard: http://{bind_host}:{bind_port}/ui/")
    config = uvicorn.Config(
        create_app(runtime, run_engine=role != Role.api), host=bind_host, port=bind_port, log_config=None
    )
    uvicorn.Server(config).run()


def _write_demo(settings: Settings) -> None:
    from emailbot.demo import write_demo_mail

    written = write_demo_mail(settings.local_mailbox_dir)
    typer.echo(f"Demo: wrote {written} sample emails" if written else "Demo: mailbox not empty, nothing written")
    if written and settings.autonomy == "earned":
        granted = asyncio.run(_grant_demo_autonomy(settings))
        if granted:
            typer.echo(f"Demo: auto-send granted for {', '.join(granted)} (see the Autonomy page to revoke it)")


async def _grant_demo_autonomy(settings: Settings) -> list[str]:
    """A fresh install auto-sends nothing until reviews earn it; the demo grants its routine categories by hand
    (as the admin `demo`, in the audit log) so that its routine mail shows automatic replies."""
    from emailbot.autonomy.service import Verb, change
    from emailbot.demo import ROUTINE_CATEGORIES
    from emailbot.store.db import Database
    from emailbot.taxonomy import load_taxonomy

    names = load_taxonomy(settings.taxonomy_file).names
    granted = [category for category in ROUTINE_CATEGORIES if category in names]
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            for category in granted:
                await change(session, names, category, Verb.GRANT, "demo", "granted by `emailbot run --demo`")
    finally:
        await db.dispose()
    return granted


@app.command()
def process() -> None:
    """Poll the mailbox once, process everything that is due, and exit."""
    from emailbot.logs import configure_logging
    from emailbot.runtime import build_runtime

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format, settings.log_dir)
    _prepare(settings)

    async def once() -> tuple[int, int]:
        runtime = build_runtime(settings)
        try:
            stored = await runtime.engine.poll_once()
            processed = await runtime.engine.drain()
            if runtime.engine.pause is not None:
                typer.echo(f"Processing is paused ({runtime.engine.pause.get('reason')}); `emailbot resume` ends it.")
            return stored, processed
        finally:
            await runtime.close()

    stored, processed = asyncio.run(once())
    typer.echo(f"Stored {stored} new emails; processed {processed}.")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Processing statistics, read from the database (the service need not be running)."""
    from emailbot.store.db import Database
    from emailbot.store.stats import processing_stats

    settings = _settings()
    _prepare(settings)

    async def read() -> dict[str, Any]:
        db = Database(settings.database_url)
        try:
            async with db.transaction() as session:
                stats = await processing_stats(session)
        finally:
            await db.dispose()
        return {
            "emails_processed_today": stats.processed_today,
            "current_queue_size": stats.backlog,
            "total_processed": stats.total_processed,
            "success_rate": stats.success_rate,
            "average_processing_time": stats.average_processing_time,
            "classification_accuracy": stats.classification_accuracy,
            "last_processing": stats.last_processing.isoformat() if stats.last_processing else None,
        }

    result = asyncio.run(read())
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for name, value in result.items():
        typer.echo(f"{name.replace('_', ' '):<26} {value if value is not None else '-'}")


@app.command()
def health(
    url: Annotated[str | None, typer.Option(help="The API's base URL (default: from the settings).")] = None,
) -> None:
    """The daily health check: API health, components and processing status. Exit code 0 healthy, 1 not."""
    import httpx

    base = (url or _settings().base_url).rstrip("/")
    healthy = True
    typer.echo("=== EmailBot Health Check ===")
    try:
        with httpx.Client(base_url=base, timeout=10, headers=_key_header()) as client:
            overall = client.get("/health")
            typer.echo(f"1. API health: HTTP {overall.status_code} {overall.json().get('status')}")
            healthy = overall.status_code == 200
            components = client.get("/health/detailed").json().get("components", {})
            typer.echo("2. Components:")
            for name, component in components.items():
                typer.echo(f"   {name:<14} {component.get('status')}")
            status_response = client.get("/process/status")
            if status_response.status_code in (401, 403):
                typer.echo("3. Processing status: refused; set EMAILBOT_API_KEY to a viewer key")
            else:
                status_body = status_response.json()
                typer.echo(
                    f"3. Processed today: {status_body.get('emails_processed_today')}, "
                    f"queue: {status_body.get('current_queue_size')}"
                )
    except (httpx.HTTPError, ValueError) as exc:
        typer.echo(f"API at {base} is not reachable: {exc}", err=True)
        healthy = False
    typer.echo("=== Health Check " + ("passed ===" if healthy else "FAILED ==="))
    raise typer.Exit(0 if healthy else 1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the current version."""
    settings = _settings()
    _prepare(settings)
    typer.echo("Database schema is up to date.")


@db_app.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree (alembic check)."""
    from alembic.util.exc import CommandError

    from emailbot.store.migrate import check

    settings = _settings()
    _prepare(settings)
    try:
        check(settings.database_url)
    except CommandError as exc:
        typer.echo(f"Schema drift: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("Models and migrations agree.")


report_app = typer.Typer(help="Reports for operators.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: the last complete month).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the JSON and HTML files.")] = Path("reports"),
) -> None:
    """Write the monthly report (volume, performance, categories, patterns, alerts) as JSON and HTML."""
    from emailbot.analytics.report import month_bounds, monthly_report, write_report
    from emailbot.store.db import Database

    settings = _settings()
    try:
        month_bounds(month)
    except ValueError:
        typer.echo(f"--month: expected YYYY-MM, got {month!r}", err=True)
        raise typer.Exit(2) from None
    _prepare(settings)

    async def build() -> dict[str, Any]:
        db = Database(settings.database_url)
        try:
            return await monthly_report(db, month)
        finally:
            await db.dispose()

    json_path, html_path = write_report(asyncio.run(build()), out)
    typer.echo(f"Wrote {json_path} and {html_path}")


def _key_header() -> dict[str, str]:
    """`emailbot health` on the service's own machine reads the key it may use (EMAILBOT_API_KEY or the first
    run's key file); elsewhere EMAILBOT_API_KEY is enough."""
    from emailbot.auth.keys import local_key_header
    from emailbot.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError:
        return {}
    return local_key_header(settings.api_key.get_secret_value() if settings.api_key else None, settings.data_dir)


def _announce_admin_key(settings: Settings) -> None:
    """First run: make an admin key and print it once, so that a new user can sign in to the dashboard."""
    from emailbot.auth.keys import BOOTSTRAP_FILE
    from emailbot.auth.setup import prepare_keys

    created = asyncio.run(prepare_keys(settings))
    if created:
        typer.echo("=" * 78)
        typer.echo(f"Admin API key (shown once; also saved in {settings.data_dir / BOOTSTRAP_FILE}, mode 0600):")
        typer.echo(f"    {created}")
        typer.echo("Sign in to the dashboard with it, and send it as the X-API-Key header to the API.")
        typer.echo("=" * 78)
    elif settings.api_key is None and (settings.data_dir / BOOTSTRAP_FILE).is_file():
        typer.echo(f"Sign in with the admin key in {settings.data_dir / BOOTSTRAP_FILE}")


def _mount_keys_commands() -> None:
    from emailbot.auth.cli import app as keys_app

    app.add_typer(keys_app, name="keys", help="API keys: create, list, revoke.")


_mount_keys_commands()


def _mount_model_commands() -> None:
    from emailbot.classifiers.cli import app as model_app

    app.add_typer(model_app, name="model", help="Train and evaluate the local classifier.")


_mount_model_commands()


def _mount_operations_commands() -> None:
    from emailbot.admin.cli import mount

    mount(app)


_mount_operations_commands()


def _mount_sandbox_command() -> None:
    from emailbot.sandbox.cli import sandbox

    app.command(name="sandbox")(sandbox)


_mount_sandbox_command()


def _mount_teams_commands() -> None:
    from emailbot.notify.cli import app as teams_app

    app.add_typer(teams_app, name="teams", help="Teams escalation chats: sign-in and operations test.")


_mount_teams_commands()
app.command(name="replay")(replay_cli.replay)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
