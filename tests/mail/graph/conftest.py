"""The Graph connector against the M365 sandbox: settings for it and a runtime built on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emailbot.classifiers.local import LocalClassifier
from emailbot.mail.graph.mailbox import GraphMailboxes
from emailbot.runtime import Runtime, build_runtime
from emailbot.settings import Settings
from tests.fakes.m365 import M365Sandbox
from tests.runtime_fixtures import settings_for


def graph_overrides(env: dict[str, str]) -> dict[str, Any]:
    """EMAILBOT_GRAPH_X=... → the Settings field values."""
    return {name.removeprefix("EMAILBOT_").lower(): value for name, value in env.items()}


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter model, trained once for these tests (each runtime only loads it)."""
    path = tmp_path_factory.mktemp("graph-models")
    LocalClassifier.from_settings(path)
    return path


def sandbox_settings(
    sandbox: M365Sandbox,
    tmp_path: Path,
    database_url: str,
    *,
    model_dir: Path | None = None,
    certificate: bool = False,
    **extra: Any,
) -> Settings:
    values = graph_overrides(sandbox.env(certificate=certificate)) | {"mailbox_address": sandbox.mailbox} | extra
    settings = settings_for(tmp_path, database_url, **values)
    if model_dir is not None:
        settings = settings.model_copy(update={"model_dir": model_dir})
    return settings


@pytest.fixture
async def graph_runtime(
    m365_sandbox: M365Sandbox, tmp_path: Path, database_url: str, trained_model_dir: Path
) -> AsyncIterator[Runtime]:
    built = build_runtime(sandbox_settings(m365_sandbox, tmp_path, database_url, model_dir=trained_model_dir))
    yield built
    await built.close()


def graph_mailbox(runtime: Runtime) -> GraphMailboxes:
    assert isinstance(runtime.mailbox, GraphMailboxes)
    return runtime.mailbox
