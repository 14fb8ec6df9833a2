"""Host resources and storage, as the monitoring cycle samples them and the KPIs show them."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class Resources:
    cpu_percent: float
    memory_percent: float
    disk_percent: float
    disk_free_bytes: int


class ResourceSampler(Protocol):
    """Where resource readings come from: the host in production, fixed values in tests that assert on alerts."""

    def sample(self, data_dir: Path) -> Resources: ...


class HostSampler:
    """This machine's readings. CPU is the busy share of all cores since this sampler's previous reading (its
    own baseline, so one caller's reading never shortens another's window the way psutil's global one would)."""

    def __init__(self) -> None:
        self._last_cpu = psutil.cpu_times()

    def sample(self, data_dir: Path) -> Resources:
        disk = psutil.disk_usage(str(data_dir if data_dir.exists() else Path.cwd()))
        return Resources(
            cpu_percent=self._cpu_percent(),
            memory_percent=float(psutil.virtual_memory().percent),
            disk_percent=float(disk.percent),
            disk_free_bytes=int(disk.free),
        )

    def _cpu_percent(self) -> float:
        now = psutil.cpu_times()
        before, self._last_cpu = self._last_cpu, now
        total = sum(now) - sum(before)
        idle = (now.idle + getattr(now, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
        return round(100.0 * (total - idle) / total, 1) if total > 0 else 0.0


def disk_free_bytes(data_dir: Path) -> int:
    return int(psutil.disk_usage(str(data_dir if data_dir.exists() else Path.cwd())).free)


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
