"""`emailbot replay PATH`: cheap to import; the pipeline is loaded inside the command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def replay(
    path: Annotated[Path, typer.Argument(help="An mbox file, or a Maildir or folder of message files (only read).")],
    labels: Annotated[
        Path | None, typer.Option(help="CSV: id/path/message_id and the expected category and/or action.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.json.")] = Path("replay-report"),
    limit: Annotated[int | None, typer.Option(min=1, help="Replay at most this many emails.")] = None,
) -> None:
    """Run EmailBot over an export of a mailbox, in shadow mode on a scratch database, and report what it would
    have done. The export is never written to."""
    from emailbot.replay.labels import LabelsError, read_labels
    from emailbot.replay.report import build_report, summary_lines, write_report
    from emailbot.replay.run import replay as run_replay
    from emailbot.replay.source import ReplaySourceError, count_messages, read_messages
    from emailbot.settings import SettingsError, load_settings

    try:
        settings = load_settings()
        expected = read_labels(labels) if labels is not None else None
        if not path.exists():
            raise ReplaySourceError(f"{path} does not exist")
        messages = read_messages(path)
        if sys.stderr.isatty():  # a bar only for a person watching, not in logs or pipes
            total = min(count_messages(path), limit or sys.maxsize)
            with typer.progressbar(length=total, label="Replaying", file=sys.stderr) as bar:
                run = run_replay(messages, settings, limit=limit, progress=bar.update)
        else:
            run = run_replay(messages, settings, limit=limit)
    except (SettingsError, LabelsError, ReplaySourceError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    report = build_report(str(path), run, expected)
    json_path, html_path = write_report(report, out)
    for line in summary_lines(report):
        typer.echo(line)
    typer.echo(f"Report: {html_path} (data: {json_path})")
