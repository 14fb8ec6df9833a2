"""`emailbot sandbox`: run the local M365 tenant and print the settings that point EmailBot at it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from emailbot.sandbox.server import Sandbox, SandboxServer


def sandbox(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback: the admin API has no auth).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTPS port; 0 picks a free one.")] = 9443,
    state_dir: Annotated[
        Path, typer.Option(help="Where the CA, certificates and signing key are kept across restarts.")
    ] = Path("./var/m365-sandbox"),
    seed: Annotated[
        list[Path] | None, typer.Option(help="An .eml file or a folder of them to deliver to the inbox (repeatable).")
    ] = None,
    app_permissions: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated application permissions (roles) the app has, e.g. Mail.ReadWrite,Mail.Send."
        ),
    ] = None,
    mailbox: Annotated[str | None, typer.Option(help="The shared mailbox address.")] = None,
    write_env: Annotated[
        Path | None, typer.Option(help="Also write the settings to this file (for example .env).")
    ] = None,
) -> None:
    """Run a local fake Microsoft 365 tenant (Entra ID + Graph) over HTTPS and print the settings to use it."""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        typer.echo("Refusing to listen beyond loopback: the sandbox's admin API has no authentication.", err=True)
        raise typer.Exit(2)
    from emailbot.sandbox.server import Sandbox, SandboxServer
    from emailbot.sandbox.state import SandboxConfig

    config = SandboxConfig()
    if app_permissions is not None:
        config.app_permissions = tuple(p.strip() for p in app_permissions.split(",") if p.strip())
    if mailbox:
        config.mailbox = mailbox
    try:
        server = SandboxServer(Sandbox(state_dir.resolve(), config), host=host, port=port)
    except OSError as exc:
        typer.echo(f"Cannot listen on {host}:{port}: {exc.strerror}. Choose another --port.", err=True)
        raise typer.Exit(2) from None
    delivered = _seed(server.sandbox, seed or [])
    block = settings_block(server)
    typer.echo(block)
    if delivered:
        typer.echo(f"Seeded {delivered} message(s) into {config.mailbox}'s inbox.\n")
    if write_env is not None:
        write_env.write_text("\n".join(line for line in block.splitlines() if line.startswith("EMAILBOT_")) + "\n")
        typer.echo(f"Settings written to {write_env}.\n")
    server.serve_forever()


def _seed(sandbox: Sandbox, paths: list[Path]) -> int:
    delivered = 0
    for path in paths:
        if not path.exists():
            typer.echo(f"--seed: {path} does not exist.", err=True)
            raise typer.Exit(2)
        delivered += len(sandbox.state.seed(path))
    return delivered


def settings_block(server: SandboxServer) -> str:
    """What the command prints: where the sandbox is, how to trust it, and the settings for `emailbot run`."""
    from emailbot.sandbox.server import certificate_settings

    sandbox = server.sandbox
    config = sandbox.state.config
    lines = [
        f"M365 sandbox for tenant {config.tenant_domain} on {server.origin}",
        f"CA certificate (trust it for the sandbox only): {sandbox.pki.ca_path}",
        f"Admin API: {server.origin}/_sandbox/state   device sign-in page: {server.origin}/_sandbox/devicelogin",
        f"Application permissions: {', '.join(sorted(sandbox.state.apps[config.client_id].roles)) or 'none'}",
        "",
        "# Settings for EmailBot (export them or put them in .env, then run `emailbot run`):",
        *(f"{name}={value}" for name, value in server.settings().items()),
        "# Or authenticate with the app's certificate instead of the secret:",
        *(f"# {name}={value}" for name, value in certificate_settings(sandbox).items()),
        "",
        "# Deliver an email to the shared mailbox:",
        f"#   curl --cacert {sandbox.pki.ca_path} --data-binary @message.eml {server.origin}/_sandbox/deliver",
        "",
    ]
    return "\n".join(lines)
