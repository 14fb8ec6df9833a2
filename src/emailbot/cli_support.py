"""What every `emailbot` command group shares: settings that stop the command with a clear message, and the
first-start preparation. Imports nothing heavy at module level, so `emailbot --help` stays fast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from emailbot.settings import Settings


def settings_or_exit(**overrides: Any) -> Settings:
    """The settings, or exit code 2 with the message that names the wrong variable."""
    from emailbot.settings import SettingsError, load_settings

    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(f"Configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


def prepare(settings: Settings) -> None:
    """Everything a first start needs: data folders and the current schema."""
    from emailbot.store.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
