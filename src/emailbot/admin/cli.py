"""The operations commands: backup, restore, maintenance, retention, security, incident, pause and resume.

Exit codes: 0 done, 1 the operation failed (the message says why), 2 bad input (a file that is not a backup, a
wrong setting) with nothing touched.
"""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from emailbot.admin.errors import OpsError
from emailbot.cli_support import settings_or_exit

if TYPE_CHECKING:
    from emailbot.settings import Settings

backup_app = typer.Typer(help="Back up the database (and, with `config`, the configuration).")
retention_app = typer.Typer(help="Data retention: delete or anonymize old emails.", no_args_is_help=True)
security_app = typer.Typer(help="Encryption at rest.", no_args_is_help=True)
incident_app = typer.Typer(help="Incident response.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def mount(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
    app.command()(restore)
    app.command()(maintenance)
    app.command()(pause)
    app.command()(resume)
    app.add_typer(retention_app, name="retention")
    app.add_typer(security_app, name="security")
    app.add_typer(incident_app, name="incident")


def _settings() -> Settings:
    """Settings for an operations command, with the encryption key ring in place for every reader."""
    from emailbot.logs import configure_logging
    from emailbot.store import crypto

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format, settings.log_dir)
    crypto.configure_from_secret(settings.encryption_key.get_secret_value() if settings.encryption_key else None)
    return settings


def _fail(exc: Exception, code: int = 1) -> typer.Exit:
    typer.echo(f"Error: {exc}", err=True)
    return typer.Exit(code)


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        for name, value in result.items():
            typer.echo(f"{name.replace('_', ' '):<22} {value}")


@backup_app.callback(invoke_without_command=True)
def backup(
    ctx: typer.Context,
    verify: Annotated[bool, typer.Option("--verify", help="Restore into a scratch database and compare.")] = False,
    upload: Annotated[bool, typer.Option(help="Upload to S3 when EMAILBOT_BACKUP_S3_BUCKET is set.")] = True,
    output_dir: Annotated[Path | None, typer.Option(help="Overrides EMAILBOT_BACKUP_DIR.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Back up the database: compressed, timestamped, with a manifest; older backups beyond the retention go."""
    if ctx.invoked_subcommand is not None:
        return
    from emailbot.admin.backup import create_backup, open_backup, prune_backups, verify_backup

    settings = _settings()
    try:
        result = asyncio.run(create_backup(settings, directory=output_dir))
        problems = asyncio.run(verify_backup(settings, open_backup(result.path))) if verify else []
        if problems:
            raise OpsError(f"{result.path} does not verify: " + "; ".join(problems))
        removed = prune_backups(output_dir or settings.backup_dir, settings.backup_retention_days, keep=result.path)
        uploaded = None
        if upload and settings.backup_s3_bucket:
            from emailbot.admin.s3 import upload_backup

            uploaded = upload_backup(settings, result.path)
    except OpsError as exc:
        raise _fail(exc) from None
    tables = result.manifest["tables"]
    _print(
        {
            "backup": str(result.path),
            "schema_revision": result.manifest["schema_revision"],
            "rows": sum(int(table["rows"]) for table in tables.values()),
            "emails": tables.get("emails", {}).get("rows"),
            "verified": "yes: every table matches" if verify else "no (use --verify)",
            "uploaded_to": uploaded or "-",
            "removed_old": removed,
        },
        as_json,
    )


@backup_app.command("config")
def backup_config(
    output_dir: Annotated[Path | None, typer.Option(help="Overrides EMAILBOT_BACKUP_DIR.")] = None,
) -> None:
    """Settings (secrets redacted), taxonomy, reply templates and processing rules in one archive."""
    from emailbot.admin.config_backup import create_config_backup

    path = asyncio.run(create_config_backup(_settings(), directory=output_dir))
    typer.echo(f"Configuration backup written to {path}")


def restore(
    file: Annotated[Path, typer.Argument(help="A backup written by `emailbot backup`.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Pause processing, replace the database with FILE, migrate it to the current schema, resume."""
    from emailbot.admin.backup import NotABackup, open_backup
    from emailbot.admin.restore import restore_backup

    settings = _settings()
    try:
        backup = open_backup(file)
        backup.check_payload()
    except NotABackup as exc:
        raise _fail(exc, 2) from None
    manifest = backup.manifest
    typer.echo(
        f"{file}: {manifest['backend']} backup of {manifest['created_at']}, schema {manifest['schema_revision']}, "
        f"{manifest['tables'].get('emails', {}).get('rows', 0)} emails"
    )
    if not yes and not typer.confirm("Replace the current database with this backup?"):
        raise typer.Exit(1)
    try:
        result = asyncio.run(restore_backup(settings, file, say=typer.echo))
    except NotABackup as exc:
        raise _fail(exc, 2) from None
    except OpsError as exc:
        raise _fail(exc) from None
    typer.echo(f"Restored {sum(result.rows.values())} rows ({result.rows.get('emails', 0)} emails) from {file}.")


class Schedule(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


def maintenance(
    schedule: Annotated[Schedule, typer.Argument(help="Which of the manual's maintenance runs.")],
    url: Annotated[str | None, typer.Option(help="The service's base URL (default: from the settings).")] = None,
    as_json: JsonOption = False,
) -> None:
    """The manual's daily, weekly or monthly maintenance; every step is reported; exit code 1 if one failed."""
    from emailbot.admin.maintenance import SCHEDULES, Context, StepResult, run_schedule

    settings = _settings()
    context = Context(settings, (url or settings.base_url).rstrip("/"), settings.data_dir / "reports")

    def report(result: StepResult) -> None:
        if not as_json:
            mark = {"ok": "ok     ", "failed": "FAILED ", "skipped": "skipped"}[result.status]
            typer.echo(f"{mark} {result.name:<20} {result.duration_seconds:7.2f}s  {result.message}")

    if not as_json:
        typer.echo(f"=== {schedule.value.capitalize()} maintenance ===")
    results = asyncio.run(run_schedule(context, SCHEDULES[schedule.value], report))
    failed = [result.name for result in results if result.status == "failed"]
    if as_json:
        typer.echo(
            json.dumps(
                {"schedule": schedule.value, "ok": not failed, "steps": [r.as_dict() for r in results]}, indent=2
            )
        )
    else:
        typer.echo(f"=== {len(failed)} of {len(results)} steps failed ===" if failed else "=== All steps done ===")
    raise typer.Exit(1 if failed else 0)


def pause(reason: Annotated[str, typer.Option(help="Shown in /process/status.")] = "paused by an operator") -> None:
    """Stop every engine from ingesting and processing mail (maintenance mode); in-flight batches finish."""
    from emailbot.store import system_state

    asyncio.run(_with_session(_settings(), lambda session: system_state.pause_processing(session, reason)))
    typer.echo("Processing paused.")


def resume() -> None:
    """Let the engines ingest and process mail again."""
    from emailbot.store import system_state

    asyncio.run(_with_session(_settings(), system_state.resume_processing))
    typer.echo("Processing resumed.")


async def _with_session(settings: Settings, action: Any) -> None:
    from emailbot.store.db import Database

    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            await action(session)
    finally:
        await db.dispose()


@retention_app.command("apply")
def retention_apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what is due; change nothing.")] = False,
    days: Annotated[int | None, typer.Option(help="Overrides EMAILBOT_RETENTION_DAYS.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete or anonymize (EMAILBOT_RETENTION_MODE) emails older than EMAILBOT_RETENTION_DAYS."""
    from emailbot.admin.retention import apply_retention
    from emailbot.store.db import Database

    settings = _settings()
    keep_days = days or settings.retention_days
    if keep_days is None:
        raise _fail(OpsError("EMAILBOT_RETENTION_DAYS is not set (or pass --days)"), 2)

    async def run() -> dict[str, Any]:
        db = Database(settings.database_url)
        try:
            report = await apply_retention(
                db,
                days=keep_days,
                mode=settings.retention_mode,
                batch_size=settings.retention_batch_size,
                dry_run=dry_run,
            )
        finally:
            await db.dispose()
        return report.as_dict()

    _print(asyncio.run(run()), as_json)


@security_app.command("rotate-key")
def rotate_key_command(
    batch_size: Annotated[int, typer.Option(min=1, help="Emails per transaction.")] = 200,
    batch_limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many batches (resumable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Re-encrypt every email body and raw source with the first key of EMAILBOT_ENCRYPTION_KEY; resumable."""
    from emailbot.admin.rotate import rotate_key
    from emailbot.store.db import Database

    settings = _settings()

    async def run() -> dict[str, Any]:
        db = Database(settings.database_url)
        try:
            return (await rotate_key(db, batch_size=batch_size, batch_limit=batch_limit)).as_dict()
        finally:
            await db.dispose()

    try:
        _print(asyncio.run(run()), as_json)
    except OpsError as exc:
        raise _fail(exc) from None


@security_app.command("status")
def encryption_status_command(as_json: JsonOption = False) -> None:
    """How many emails are stored unencrypted."""
    from emailbot.admin.rotate import encryption_status
    from emailbot.store.db import Database

    settings = _settings()

    async def run() -> dict[str, Any]:
        db = Database(settings.database_url)
        try:
            status: dict[str, Any] = dict(await encryption_status(db))
        finally:
            await db.dispose()
        status["encryption_key"] = "set" if settings.encryption_key else "not set"
        return status

    _print(asyncio.run(run()), as_json)


@incident_app.command("collect")
def incident_collect(
    kind: Annotated[str, typer.Option("--type", help="e.g. data_breach, unauthorized_access, outage.")] = "unspecified",
    severity: Annotated[str, typer.Option(help="low, medium, high, critical.")] = "unspecified",
    note: Annotated[str, typer.Option(help="What happened, in a sentence.")] = "",
    hours: Annotated[int, typer.Option(min=1, help="How far back logs, alerts and errors go.")] = 24,
    output_dir: Annotated[Path | None, typer.Option(help="Default: EMAILBOT_DATA_DIR/incidents.")] = None,
    url: Annotated[str | None, typer.Option(help="The service's base URL (default: from the settings).")] = None,
) -> None:
    """Collect evidence (logs, redacted settings, system state, alerts, errors) into one archive; print its path."""
    from emailbot.admin.incident import collect_incident

    settings = _settings()
    path = asyncio.run(
        collect_incident(
            settings, output_dir=output_dir, kind=kind, severity=severity, note=note, hours=hours, base_url=url
        )
    )
    typer.echo(str(path))
