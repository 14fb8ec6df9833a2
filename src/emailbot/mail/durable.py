"""Durable file writes for the Maildir: fsync the data, rename into place, fsync the directory once per group.

A reply counts as written (and its side effect may be recorded as done) only once its name in `cur/` is on disk,
which takes an fsync of the directory after the rename. Writers that rename at about the same time can share
one such fsync: `DirectorySync` is a group commit, where a caller waits for the first fsync that *starts after*
its rename, and whichever caller runs it covers every rename made before it. With the 4 replies a batch writes
side by side, that is one directory fsync for several replies instead of one each, and the writes run in a
worker thread so the event loop keeps classifying and storing other emails meanwhile.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path


class DirectorySync:
    """fsync of one directory, shared by every writer waiting for it at the time (thread-safe, loop-agnostic)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.syncs = 0  # fsyncs started: how many the writers shared, for tests and curiosity
        self._lock = threading.Lock()
        self._done = 0

    def sync(self) -> int:
        """Return once a directory fsync that started after this call began has finished; returns its number."""
        # Under the GIL this read is current: every fsync counted here started before this call did, so the one
        # we need is the next. `syncs` only grows while `_lock` is held.
        wanted = self.syncs + 1
        with self._lock:
            if self._done >= wanted:
                return self._done  # another writer's fsync started after our rename and has finished
            self.syncs += 1
            started = self.syncs
            sync_directory(self.directory)
            self._done = started
            return started


def write_into_folder(folder: Path, name: str, data: bytes, *, flags: str, cur_sync: DirectorySync) -> None:
    """Maildir delivery: write under a unique name in tmp/ (data fsynced), rename into cur/, fsync cur/.

    tmp/ itself is not fsynced: the file is renamed out of it, and only its entry in cur/ has to survive a crash.
    """
    staging = folder / "tmp" / f"{name}.{os.getpid()}.{secrets.token_hex(4)}"
    write_file(staging, data)
    os.rename(staging, folder / "cur" / f"{name}:2,{flags}")
    cur_sync.sync()


def write_durably(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist) with `data`, readable by the owner only; file and entry on disk."""
    write_file(path, data)
    sync_directory(path.parent)


def write_file(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist) with `data`, readable by the owner only, its data flushed to disk."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
