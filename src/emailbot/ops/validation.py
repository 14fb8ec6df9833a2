"""The checks of `GET /config/validation` that belong to no single part: the environment, the LLM, alerting, and
the adapters that turn the Graph and Teams connectors' own checks into `Validation`s (the registry is
`emailbot.validation`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from emailbot.runtime import Runtime
from emailbot.validation import FAIL, PASS, SKIPPED, WARN, Validation

MIN_FREE_DISK_BYTES = 1024**3


async def validate_environment(runtime: Runtime) -> Validation:
    """Settings that load are already valid; this checks the surroundings they point at."""
    settings = runtime.settings
    problems: list[str] = []
    warnings: list[str] = []
    data_dir = Path(settings.data_dir)
    if not data_dir.is_dir() or not os.access(data_dir, os.W_OK):
        problems.append(f"EMAILBOT_DATA_DIR ({data_dir}) is not a writable directory")
    else:
        free = shutil.disk_usage(data_dir).free
        if free < MIN_FREE_DISK_BYTES:
            warnings.append(f"less than 1 GiB free on the disk holding EMAILBOT_DATA_DIR ({free // 2**20} MiB)")
    if settings.is_sqlite and settings.worker_concurrency > 4:
        warnings.append("SQLite with more than 4 workers: writes will queue; set EMAILBOT_DATABASE_URL to PostgreSQL")
    details = {"database": runtime.db.backend, "mailbox": settings.mailbox, "classifier": settings.classifier}
    if problems:
        return Validation(FAIL, "; ".join(problems + warnings), details)
    if warnings:
        return Validation(WARN, "; ".join(warnings), details)
    return Validation(PASS, "environment is ready", details)


async def validate_llm(runtime: Runtime) -> Validation:
    """Is the configured model reachable, and does it support structured output? One small request tells."""
    from emailbot.classifiers.llm.factory import llm_part
    from emailbot.classifiers.llm.status import probe

    llm = llm_part(runtime.classifier)
    if llm is None:
        return Validation(SKIPPED, "no LLM configured (EMAILBOT_CLASSIFIER=local)", {})
    status, message, details = await probe(llm)
    return Validation(status, message, details)


async def validate_alerting(runtime: Runtime) -> Validation:
    """Alerts are always stored; a webhook is optional (a desk may only read `GET /alerts`), so none is no failure."""
    settings = runtime.settings
    details = {
        "webhooks": len(settings.alert_webhook_urls),
        "cooldown_seconds": settings.alert_cooldown_seconds,
        "monitor_interval_seconds": settings.monitor_interval_seconds,
    }
    if not settings.alert_webhook_urls:
        message = "alerts are stored (GET /alerts) and logged; set EMAILBOT_ALERT_WEBHOOK_URLS to be notified"
        return Validation(PASS, message, details)
    return Validation(PASS, f"alerts go to {len(settings.alert_webhook_urls)} webhook(s)", details)


async def validate_m365(runtime: Runtime) -> Validation:
    """Microsoft 365 credentials and application permissions (EMAILBOT_MAILBOX=graph)."""
    if runtime.settings.mailbox != "graph":
        return Validation(SKIPPED, "EMAILBOT_MAILBOX is not graph")
    from emailbot.mail.graph.status import validate_m365 as check

    mailbox: Any = runtime.mailbox
    return Validation(*await check(mailbox))


async def validate_email_access(runtime: Runtime) -> Validation:
    """Each configured Microsoft 365 mailbox can be read."""
    if runtime.settings.mailbox != "graph":
        return Validation(SKIPPED, "EMAILBOT_MAILBOX is not graph")
    from emailbot.mail.graph.status import validate_email_access as check

    mailbox: Any = runtime.mailbox
    return Validation(*await check(mailbox))


async def validate_teams(runtime: Runtime) -> Validation:
    """Teams escalation chats: application permissions, the posting account, the escalation members."""
    from emailbot.notify.teams_check import validate_teams as check

    return Validation(*await check(runtime))
