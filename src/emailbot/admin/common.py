"""What the operations commands share: redacted settings, timestamps, database locations and table snapshots."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import MetaData, Table, select
from sqlalchemy.engine import URL, Connection, make_url

from emailbot.admin.errors import OpsError
from emailbot.settings import ENV_PREFIX, Settings

__all__ = ["OpsError"]  # re-exported for the commands' modules

REDACTED = "***"
_SECRET_WORDS = {"key", "secret", "password", "token"}
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def timestamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def is_secret_field(name: str) -> bool:
    return bool(_SECRET_WORDS & set(name.lower().split("_")))


def redact_url(url: str) -> str:
    """A URL with the password in its user information replaced, if it has one."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    userinfo, host = authority.rsplit("@", 1)
    if ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{REDACTED}@{host}{slash}{path}"


def redacted_settings(settings: Settings) -> dict[str, Any]:
    """Every setting by its variable name, secrets replaced: safe to archive or attach to an incident."""
    shown: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is not None and (is_secret_field(name) or isinstance(value, SecretStr)):
            value = REDACTED
        elif isinstance(value, str) and "://" in value:
            value = redact_url(value)
        elif isinstance(value, Path):
            value = str(value)
        shown[f"{ENV_PREFIX}{name.upper()}"] = value
    return shown


def sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise OpsError("EMAILBOT_DATABASE_URL points to an in-memory SQLite database: there is nothing to back up")
    return Path(database)


def libpq_args(database_url: str) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump/pg_restore/psql; the password goes in the environment, not argv."""
    url = make_url(database_url)
    args = ["--dbname", url.database or "postgres"]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = {"PGPASSWORD": url.password} if url.password else {}
    return args, env


def with_database(database_url: str, name: str) -> str:
    url: URL = make_url(database_url).set(database=name)
    return url.render_as_string(hide_password=False)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise OpsError(f"{name} is not installed: install the PostgreSQL client tools matching the server version")
    return path


def run_tool(args: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess[bytes]:
    import os

    result = subprocess.run(args, env={**os.environ, **env}, capture_output=True, check=False)  # noqa: S603
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise OpsError(f"{what} failed: {message or f'exit code {result.returncode}'}")
    return result


def tool_major_version(tool: str) -> int:
    output = run_tool([tool, "--version"], {}, f"{tool} --version").stdout.decode()
    try:
        return int(output.strip().split()[-1].split(".")[0])
    except (IndexError, ValueError):
        raise OpsError(f"cannot read the version of {tool} from {output!r}") from None


@dataclass(frozen=True)
class TableStats:
    rows: int
    checksum: str

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "sha256": self.checksum}


def table_stats(connection: Connection) -> dict[str, TableStats]:
    """Row count and a checksum of every stored value, per table, as the database holds them (ciphertext stays
    ciphertext), read from the database's own schema so that any schema version can be compared."""
    metadata = MetaData()
    metadata.reflect(connection)
    return {name: _table_stats(connection, table) for name, table in sorted(metadata.tables.items())}


def _table_stats(connection: Connection, table: Table) -> TableStats:
    order = list(table.primary_key.columns) or list(table.columns)
    digest = hashlib.sha256()
    rows = 0
    for row in connection.execute(select(table).order_by(*order)):
        digest.update(json.dumps([_canonical(value) for value in row], separators=(",", ":")).encode())
        digest.update(b"\n")
        rows += 1
    return TableStats(rows, digest.hexdigest())


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return "b:" + hashlib.sha256(bytes(value)).hexdigest()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
