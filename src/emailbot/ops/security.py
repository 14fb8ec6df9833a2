"""The manual's SecurityMonitor: failed authentication, unusual access, unencrypted stored mail.

Reads the audit log: failed API-key attempts are rows with action `auth.failed` (actor = key prefix or
"anonymous", details {"client", "path", "reason"}); any row whose details carry a `client` address is an access.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.settings import Settings
from emailbot.store.crypto import is_encrypted
from emailbot.store.tables import AuditLogRow, EmailRow, utcnow

FAILED_AUTH = "auth.failed"
FAILED_AUTH_LIMIT = 10  # an hour, as in the manual
BASELINE_DAYS = 30
MAX_ACCESS_ROWS = 50_000
ENCRYPTION_SAMPLE = 200


class ClientHistory:
    """The client addresses seen in the audit log, kept per process and read incrementally.

    Deciding whether a client is new needs every address of the previous 30 days; with the API's requests in the
    audit log that is a scan of a month of rows. The first check reads that month once; later checks only read the
    rows written since.
    """

    def __init__(self) -> None:
        self.first_seen: dict[str, datetime] = {}
        self.last_seen: dict[str, datetime] = {}
        self.read_until: datetime | None = None

    async def known_before(self, session: AsyncSession, end: datetime) -> set[str]:
        """Clients seen in the 30 days before `end`."""
        start = end - timedelta(days=BASELINE_DAYS)
        read_from = self.read_until or start - timedelta(days=1)
        if read_from < end:
            await self._read(session, read_from, end)
            self.read_until = end
        self._forget_before(end - timedelta(days=BASELINE_DAYS + 1))
        return {c for c, first in self.first_seen.items() if first < end and self.last_seen[c] >= start}

    async def _read(self, session: AsyncSession, start: datetime, end: datetime) -> None:
        client = AuditLogRow.details["client"].as_string()
        rows = await session.execute(
            select(client, func.min(AuditLogRow.at), func.max(AuditLogRow.at))
            .where(AuditLogRow.at >= start, AuditLogRow.at < end, client.is_not(None))
            .group_by(client)
        )
        for address, first, last in rows:
            if address:
                self.first_seen[address] = min(first, self.first_seen.get(address, first))
                self.last_seen[address] = max(last, self.last_seen.get(address, last))

    def _forget_before(self, moment: datetime) -> None:
        for address in [a for a, last in self.last_seen.items() if last < moment]:
            del self.first_seen[address], self.last_seen[address]


async def check_security_events(
    session: AsyncSession, settings: Settings, hours: int = 24, history: ClientHistory | None = None
) -> dict[str, Any]:
    now = utcnow()
    failed = await failed_authentication(session, now)
    access = await access_patterns(session, settings, now, hours, history or ClientHistory())
    encryption = await encryption_status(session, settings)
    return {
        "timestamp": now.isoformat(),
        "events": _events(failed, access, encryption),
        "failed_authentication": failed,
        "access_patterns": access,
        "encryption": encryption,
    }


def _events(failed: dict[str, Any], access: dict[str, Any], encryption: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    if failed["count"] > FAILED_AUTH_LIMIT:
        events.append(
            _event("WARNING", "authentication", f"High number of failed auth attempts: {failed['count']}", failed)
        )
    for anomaly in access["anomalies"]:
        events.append(
            _event("INFO", "access_pattern", f"Unusual access pattern detected: {anomaly['description']}", anomaly)
        )
    if encryption["encryption_configured"] and not encryption["all_encrypted"]:
        events.append(_event("CRITICAL", "encryption", "Unencrypted sensitive data detected", encryption))
    elif not encryption["encryption_configured"]:
        message = "Email bodies are stored unencrypted: EMAILBOT_ENCRYPTION_KEY is not set"
        events.append(_event("INFO", "encryption", message, encryption))
    return events


def _event(severity: str, kind: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"severity": severity, "type": kind, "message": message, "details": details}


async def failed_authentication(session: AsyncSession, now: datetime) -> dict[str, Any]:
    since = now - timedelta(hours=1)
    client = AuditLogRow.details["client"].as_string()
    rows = (
        await session.execute(
            select(AuditLogRow.actor, client, func.count())
            .where(AuditLogRow.action == FAILED_AUTH, AuditLogRow.at >= since)
            .group_by(AuditLogRow.actor, client)
        )
    ).all()
    by_client: Counter[str] = Counter()
    by_actor: Counter[str] = Counter()
    for actor, address, count in rows:
        by_client[address or "unknown"] += count
        by_actor[actor] += count
    return {
        "count": sum(by_client.values()),
        "window_start": since.isoformat(),
        "threshold": FAILED_AUTH_LIMIT,
        "by_client": dict(by_client.most_common(10)),
        "by_key": dict(by_actor.most_common(10)),
    }


async def access_patterns(
    session: AsyncSession, settings: Settings, now: datetime, hours: int, history: ClientHistory
) -> dict[str, Any]:
    since = now - timedelta(hours=hours)
    accesses = await _accesses(session, since)
    baseline = await history.known_before(session, since)
    anomalies = _new_clients(accesses, baseline) + _bursts(accesses, settings) + _off_hours(accesses, settings)
    return {
        "window_start": since.isoformat(),
        "accesses": len(accesses),
        "clients": len({client for client, _ in accesses}),
        "baseline_clients": len(baseline),
        "anomalies": anomalies,
    }


async def _accesses(session: AsyncSession, since: datetime) -> list[tuple[str, datetime]]:
    client = AuditLogRow.details["client"].as_string()
    rows = await session.execute(
        select(client, AuditLogRow.at)
        .where(AuditLogRow.at >= since, client.is_not(None))
        .order_by(AuditLogRow.at.desc())
        .limit(MAX_ACCESS_ROWS)
    )
    return [(address, at) for address, at in rows if address]


def _by_client(accesses: list[tuple[str, datetime]]) -> dict[str, list[datetime]]:
    grouped: dict[str, list[datetime]] = defaultdict(list)
    for client, at in accesses:
        grouped[client].append(at)
    return grouped


def _span(times: list[datetime]) -> dict[str, Any]:
    return {"count": len(times), "first_seen": min(times).isoformat(), "last_seen": max(times).isoformat()}


def _new_clients(accesses: list[tuple[str, datetime]], baseline: set[str]) -> list[dict[str, Any]]:
    """A client never seen in the previous 30 days; without any history there is nothing to compare with."""
    if not baseline:
        return []
    return [
        {"kind": "new_client", "client": client, "description": f"new client address {client}", **_span(times)}
        for client, times in _by_client(accesses).items()
        if client not in baseline
    ]


def _bursts(accesses: list[tuple[str, datetime]], settings: Settings) -> list[dict[str, Any]]:
    limit = settings.security_burst_per_minute
    anomalies = []
    for client, times in _by_client(accesses).items():
        per_minute = Counter(at.replace(second=0, microsecond=0) for at in times)
        minute, peak = per_minute.most_common(1)[0]
        if peak > limit:
            description = f"burst of {peak} requests in one minute from {client}"
            anomalies.append(
                {
                    "kind": "burst",
                    "client": client,
                    "description": description,
                    "minute": minute.isoformat(),
                    "requests": peak,
                    "limit": limit,
                    **_span(times),
                }
            )
    return anomalies


def _off_hours(accesses: list[tuple[str, datetime]], settings: Settings) -> list[dict[str, Any]]:
    start, end = settings.security_business_hours
    anomalies = []
    for client, times in _by_client(accesses).items():
        outside = [at for at in times if at.weekday() >= 5 or not start <= at.hour < end]
        if outside:
            description = f"{len(outside)} requests from {client} outside business hours ({start}:00-{end}:00 UTC)"
            anomalies.append({"kind": "off_hours", "client": client, "description": description, **_span(outside)})
    return anomalies


async def encryption_status(session: AsyncSession, settings: Settings) -> dict[str, Any]:
    """With a key configured every stored body must be encrypted; a sample of the newest is checked.

    The column is read as plain Text so the value is what is on disk, not what the decrypting column type returns.
    """
    stored = type_coerce(EmailRow.body_text, Text)
    bodies = list(
        await session.scalars(
            select(stored).where(EmailRow.body_text != "").order_by(EmailRow.id.desc()).limit(ENCRYPTION_SAMPLE)
        )
    )
    unencrypted = sum(not is_encrypted(body) for body in bodies)
    return {
        "encryption_configured": settings.encryption_key is not None,
        "sampled": len(bodies),
        "unencrypted": unencrypted,
        "all_encrypted": settings.encryption_key is not None and unencrypted == 0,
    }
