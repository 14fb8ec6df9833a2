"""Durable Maildir writes: every write lands whole in cur/, and the shared directory fsync is never one that started
before the write's rename (which would not cover it)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from emailbot.mail.durable import DirectorySync, write_durably, write_into_folder
from emailbot.mail.maildir import ensure_maildir


def test_concurrent_writers_share_fsyncs_and_each_is_covered_by_one_started_after_its_rename(tmp_path: Path) -> None:
    ensure_maildir(tmp_path)
    cur_sync = DirectorySync(tmp_path / "cur")
    coverage: list[tuple[int, int]] = []
    start = threading.Barrier(16)

    def writer(index: int) -> None:
        start.wait()
        write_into_folder(tmp_path, f"m{index}", f"message {index}\n".encode(), flags="S", cur_sync=cur_sync)
        before = cur_sync.syncs  # the rename above is done: any fsync counted so far may have started before it
        coverage.append((before, cur_sync.sync()))

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(covered > before for before, covered in coverage)
    # Each writer asks for two fsyncs (its write's and its own call); how many are shared depends on the
    # scheduling, so only the bounds are certain: never more than asked for.
    assert 1 <= cur_sync.syncs <= 32
    names = sorted(path.name for path in (tmp_path / "cur").iterdir())
    assert names == sorted(f"m{index}:2,S" for index in range(16))
    assert all((tmp_path / "cur" / f"m{i}:2,S").read_bytes() == f"message {i}\n".encode() for i in range(16))
    assert not list((tmp_path / "tmp").iterdir()), "no staging file is left behind"


def test_a_file_is_written_owner_only_and_never_over_an_existing_one(tmp_path: Path) -> None:
    target = tmp_path / "marker"
    write_durably(target, b"first")
    assert target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        write_durably(target, b"second")
    assert target.read_bytes() == b"first"
