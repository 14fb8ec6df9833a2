"""`emailbot backup config`: what makes this installation behave as it does, in one archive.

Settings (secrets redacted: the archive may travel further than the secrets should), the taxonomy in use, the reply
templates it finds, and the operator's processing rules.
"""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from emailbot import __version__
from emailbot.admin.common import redacted_settings, timestamp
from emailbot.settings import Settings
from emailbot.store.db import Database
from emailbot.store.tables import ProcessingRuleRow
from emailbot.taxonomy import DEFAULT_TAXONOMY_FILE, load_taxonomy


async def create_config_backup(settings: Settings, *, directory: Path | None = None) -> Path:
    target_dir = directory or settings.backup_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"emailbot-config-{timestamp()}.tar.gz"
    rules = await _rules(settings.database_url)
    taxonomy_file = settings.taxonomy_file or DEFAULT_TAXONOMY_FILE
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        _add_json(tar, "settings.json", redacted_settings(settings))
        _add_json(tar, "rules.json", rules)
        tar.add(taxonomy_file, arcname="taxonomy.toml")
        for name, path in _templates(settings).items():
            tar.add(path, arcname=f"templates/{name}")
        _add_json(
            tar,
            "about.json",
            {
                "created_at": datetime.now(UTC).isoformat(),
                "emailbot_version": __version__,
                "taxonomy": str(taxonomy_file),
            },
        )
    partial.replace(target)
    return target


def _templates(settings: Settings) -> dict[str, Path]:
    """Each template name once, from the first folder that has it (the order the planner looks them up in)."""
    found: dict[str, Path] = {}
    for folder in load_taxonomy(settings.taxonomy_file).template_dirs:
        if folder.is_dir():
            for path in sorted(folder.glob("*.j2")):
                found.setdefault(path.name, path)
    return found


async def _rules(database_url: str) -> list[dict[str, Any]]:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            rows = (await session.scalars(select(ProcessingRuleRow).order_by(ProcessingRuleRow.id))).all()
    finally:
        await db.dispose()
    columns = [column.key for column in ProcessingRuleRow.__table__.columns]
    return [{column: _plain(getattr(row, column)) for column in columns} for row in rows]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _add_json(tar: tarfile.TarFile, name: str, value: Any) -> None:
    data = json.dumps(value, indent=2, default=str).encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))
