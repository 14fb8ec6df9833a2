"""Host resources and storage, as the monitoring cycle samples them and the KPIs show them."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

# cpu_percent(None) measures since the previous call; priming it here makes the first real reading meaningful.
psutil.cpu_percent(None)


@dataclass(frozen=True, slots=True)
class Resources:
    cpu_percent: float
    memory_percent: float
    disk_percent: float
    disk_free_bytes: int


def resources(data_dir: Path) -> Resources:
    disk = psutil.disk_usage(str(data_dir if data_dir.exists() else Path.cwd()))
    return Resources(
        cpu_percent=float(psutil.cpu_percent(None)),
        memory_percent=float(psutil.virtual_memory().percent),
        disk_percent=float(disk.percent),
        disk_free_bytes=int(disk.free),
    )


async def database_bytes(session: AsyncSession, database_url: str) -> int:
    """The database's size on disk: pg_database_size, or the SQLite file with its WAL."""
    if session.get_bind().dialect.name == "postgresql":
        return int(await session.scalar(text("SELECT pg_database_size(current_database())")) or 0)
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return 0
    return sum(_size(Path(database + suffix)) for suffix in ("", "-wal", "-shm"))


async def directory_bytes(root: Path) -> int:
    """Total size of the files under `root` (the mailbox), walked in a thread: it can hold many files."""
    return await asyncio.to_thread(_walk_size, root)


def _walk_size(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        total += sum(_size(Path(folder, name)) for name in files)
    return total


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
