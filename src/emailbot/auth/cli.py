"""`emailbot keys ...`: create, list and revoke API keys. A key is shown once, when it is created."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from emailbot.auth.roles import Role
from emailbot.cli_support import prepare, settings_or_exit

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from emailbot.store.tables import ApiKeyRow

T = TypeVar("T")
app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from emailbot.store.db import Database

    settings = settings_or_exit()
    prepare(settings)

    async def run() -> T:
        db = Database(settings.database_url)
        try:
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(run())


@app.command()
def create(
    name: Annotated[str, typer.Option(help="Who or what uses the key (a person, a script).")],
    role: Annotated[Role, typer.Option(help="viewer: read; operator: review actions; admin: settings, rules, keys.")],
) -> None:
    """Create a key and print it: it is stored hashed and cannot be shown again."""
    if not name.strip():
        raise typer.BadParameter("give the key a name", param_hint="--name")
    from emailbot.auth.keys import create_key

    key = _in_transaction(lambda session: create_key(session, name, role, created_by="cli"))
    typer.echo(key)
    typer.echo(f"Created {role.value} key {name!r}; store it now, it is not shown again.", err=True)


@app.command("list")
def list_command() -> None:
    """Every key with its prefix, role and state (never the key itself)."""
    from emailbot.auth.keys import list_keys

    rows: list[ApiKeyRow] = _in_transaction(list_keys)
    typer.echo(f"{'id':>4}  {'prefix':<12} {'role':<9} {'state':<8} {'last used':<20} name")
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        used = row.last_used_at.strftime("%Y-%m-%d %H:%M") if row.last_used_at else "-"
        typer.echo(f"{row.id:>4}  {row.prefix:<12} {row.role:<9} {state:<8} {used:<20} {row.name}")


@app.command()
def revoke(ident: Annotated[str, typer.Argument(help="The key's id, prefix (eb_...) or name.")]) -> None:
    """Revoke a key: it stops working at once, and its dashboard sessions end."""
    from emailbot.auth.keys import revoke_key

    count = _in_transaction(lambda session: revoke_key(session, ident))
    if not count:
        typer.echo(f"No active key matches {ident!r}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Revoked {count} key(s).")
