"""An LLM classifier wired to the fake OpenAI-compatible server through the real openai SDK."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from emailbot.classifiers.llm.classifier import LLMClassifier
from emailbot.classifiers.llm.client import LLMClient
from emailbot.classifiers.llm.factory import build_guards, category_prompts
from emailbot.classifiers.local import LocalClassifier
from emailbot.classifiers.model import TrainedModel
from emailbot.classifiers.model_store import ModelStore
from emailbot.runtime import Runtime, build_runtime
from emailbot.settings import Settings, load_settings
from emailbot.store.tables import ClassificationRow, EmailRow, ProcessingResultRow, SideEffectRow
from emailbot.taxonomy import load_taxonomy
from tests.fakes.openai_server import FakeOpenAI
from tests.runtime_fixtures import settings_for
from tests.services import REDIS_URL


def llm_settings(server: FakeOpenAI, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "classifier": "llm",
        "llm_base_url": server.url,
        "llm_api_key": "test-key",
        "llm_model": "fake-model",
        "llm_timeout_seconds": 5,
        "llm_max_retries": 0,
        "model_dir": tmp_path / "models",
    }
    return load_settings(**(values | overrides))


BuildLLM = Callable[..., LLMClassifier]


@pytest.fixture
async def make_llm(openai_server: FakeOpenAI, tmp_path: Path, starter_model: TrainedModel) -> AsyncIterator[BuildLLM]:
    """Builds LLM classifiers on the starter model (no training per test); closes their clients afterwards."""
    built: list[LLMClassifier] = []

    def make(server: FakeOpenAI | None = None, **overrides: Any) -> LLMClassifier:
        settings = llm_settings(server or openai_server, tmp_path, **overrides)
        classifier = LLMClassifier(
            LLMClient.from_settings(settings),
            LocalClassifier(starter_model),
            category_prompts(load_taxonomy()),
            build_guards(settings),
            max_input_tokens=settings.llm_max_input_tokens,
            redact_pii=settings.llm_redact_pii,
        )
        built.append(classifier)
        return classifier

    yield make
    for classifier in built:
        await classifier.close()


BuildRuntime = Callable[..., Runtime]


@pytest.fixture(scope="session")
def saved_starter_model(starter_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter model saved once, as a model folder a runtime loads instead of training its own."""
    folder = tmp_path_factory.mktemp("llm-models")
    ModelStore(folder).save(starter_model)
    return folder


@pytest.fixture
def model_dir(tmp_path: Path, saved_starter_model: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(saved_starter_model, target, dirs_exist_ok=True)
    return target


@pytest.fixture
async def make_llm_runtime(
    openai_server: FakeOpenAI, tmp_path: Path, database_url: str, model_dir: Path
) -> AsyncIterator[BuildRuntime]:
    """A real runtime (database, Maildir, parser, Processor, local model) classifying through the fake LLM."""
    built: list[Runtime] = []

    def make(**overrides: Any) -> Runtime:
        values: dict[str, Any] = {
            "classifier": "llm",
            "llm_base_url": openai_server.url,
            "llm_api_key": "test-key",
            "llm_model": "fake-model",
            "llm_timeout_seconds": 5,
            "llm_max_retries": 0,
        }
        runtime = build_runtime(settings_for(tmp_path, database_url, **(values | overrides)))
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        await runtime.close()


def deliver(runtime: Runtime, name: str, raw: bytes) -> None:
    new = Path(runtime.settings.local_mailbox_dir) / "new"
    new.mkdir(parents=True, exist_ok=True)
    (new / name).write_bytes(raw)


async def process_all(runtime: Runtime) -> None:
    await runtime.engine.poll_once()
    await runtime.engine.drain()


async def stored(runtime: Runtime) -> list[tuple[EmailRow, ProcessingResultRow, ClassificationRow]]:
    async with runtime.db.sessions() as session:
        rows = await session.execute(
            select(EmailRow, ProcessingResultRow, ClassificationRow)
            .join(ProcessingResultRow, ProcessingResultRow.email_id == EmailRow.id)
            .join(ClassificationRow, ClassificationRow.email_id == EmailRow.id)
            .order_by(EmailRow.id)
        )
        return [(e, p, c) for e, p, c in rows]


async def effects(runtime: Runtime, *kinds: str) -> list[SideEffectRow]:
    async with runtime.db.sessions() as session:
        query = select(SideEffectRow).order_by(SideEffectRow.id)
        if kinds:
            query = query.where(SideEffectRow.kind.in_(kinds))
        return list((await session.scalars(query)).all())


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[Any, str]]:
    """A real Redis client and a key prefix of this test's own; its keys are deleted afterwards."""
    import redis.asyncio

    client = redis.asyncio.from_url(REDIS_URL)
    prefix = f"emailbot-test:{uuid.uuid4().hex}:"
    try:
        yield client, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
