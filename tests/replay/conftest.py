"""Replay runs the real CLI command; its model is the session's starter model, copied per test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emailbot.cli import app

Snapshot = dict[str, tuple[int, int, str]]


@pytest.fixture
def replay_env(tmp_path: Path, starter_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with the starter model; returns the report folder."""
    shutil.copytree(starter_model_dir, tmp_path / "models")
    monkeypatch.setenv("EMAILBOT_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "report"


def run_replay(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["replay", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def snapshot(root: Path) -> Snapshot:
    """Every entry under `root` (folders too) with its mtime in ns, size and kind: a write, a rename, a new flag,
    a lock file or a new file all change it."""
    found: Snapshot = {}
    for folder, folders, files in os.walk(root):
        for name in [*folders, *files]:
            path = Path(folder) / name
            stat = path.lstat()
            found[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size, "d" if path.is_dir() else "f")
    top = root.lstat()
    found["."] = (top.st_mtime_ns, top.st_size, "d")
    return found
