"""A real runtime on a temporary mailbox and a real database, for API and pipeline tests."""

from __future__ import annotations

import email
import email.message
import email.policy
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emailbot.runtime import Runtime, build_runtime
from emailbot.settings import Settings, load_settings
from tests.ops_data import FixedSampler


def settings_for(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    return load_settings(
        database_url=database_url,
        local_mailbox_dir=tmp_path / "mailbox",
        model_dir=tmp_path / "models",
        data_dir=tmp_path / "var",
        **overrides,
    )


@pytest.fixture(scope="session")
def starter_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter model, trained once per session; each runtime gets a copy instead of training its own."""
    from emailbot.classifiers.local import LocalClassifier

    folder = tmp_path_factory.mktemp("starter-model") / "models"
    LocalClassifier.from_settings(folder)
    return folder


@pytest.fixture
async def runtime(tmp_path: Path, database_url: str, starter_model_dir: Path) -> AsyncIterator[Runtime]:
    shutil.copytree(starter_model_dir, tmp_path / "models")
    built = build_runtime(settings_for(tmp_path, database_url))
    built.ops.sampler = FixedSampler()  # readings that do not depend on the machine's load
    yield built
    await built.close()


def deliver(runtime: Runtime, name: str, raw: bytes) -> None:
    """Drop a message into the runtime's Maildir as a delivery agent does."""
    new = Path(runtime.settings.local_mailbox_dir) / "new"
    new.mkdir(parents=True, exist_ok=True)
    (new / name).write_bytes(raw)


def sent_messages(runtime: Runtime) -> list[email.message.EmailMessage]:
    """What the runtime's Maildir holds in .Sent, parsed, in file-name order."""
    cur = Path(runtime.settings.local_mailbox_dir) / ".Sent" / "cur"
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in sorted(cur.iterdir())
    ]
