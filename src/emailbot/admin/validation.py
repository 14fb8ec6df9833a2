"""`GET /config/validation` → `operations`: can backups be written, dumped and uploaded as configured?"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from emailbot.runtime import Runtime
from emailbot.validation import FAIL, PASS, WARN, Validation


async def validate_operations(runtime: Runtime) -> Validation:
    settings = runtime.settings
    problems: list[str] = []
    warnings: list[str] = []
    if not _writable_or_creatable(Path(settings.backup_dir)):
        problems.append(f"EMAILBOT_BACKUP_DIR ({settings.backup_dir}) is not a writable directory")
    if not settings.is_sqlite and shutil.which("pg_dump") is None:
        warnings.append("pg_dump is not installed: `emailbot backup` needs the PostgreSQL client tools")
    if settings.backup_s3_bucket and importlib.util.find_spec("boto3") is None:
        problems.append("EMAILBOT_BACKUP_S3_BUCKET is set but boto3 is not installed: install emailbot[s3]")
    details = {
        "backup_dir": str(settings.backup_dir),
        "backup_retention_days": settings.backup_retention_days,
        "backup_upload": f"s3://{settings.backup_s3_bucket}" if settings.backup_s3_bucket else None,
        "retention_days": settings.retention_days,
        "retention_mode": settings.retention_mode,
        "encryption_at_rest": settings.encryption_key is not None,
    }
    if problems:
        return Validation(FAIL, "; ".join(problems + warnings), details)
    if warnings:
        return Validation(WARN, "; ".join(warnings), details)
    return Validation(PASS, "backups can be written", details)


def _writable_or_creatable(folder: Path) -> bool:
    """The folder is writable, or the nearest existing folder above it is (so `emailbot backup` can create it)."""
    for candidate in (folder, *folder.absolute().parents):
        if candidate.exists():
            return candidate.is_dir() and os.access(candidate, os.W_OK)
    return False
