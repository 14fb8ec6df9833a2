"""An LLM classifier wired to the fake OpenAI-compatible server through the real openai SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from emailbot.classifiers.llm.classifier import LLMClassifier
from emailbot.classifiers.llm.factory import build_guards, category_prompts
from emailbot.classifiers.llm.client import LLMClient
from emailbot.classifiers.local import LocalClassifier
from emailbot.classifiers.model import TrainedModel
from emailbot.settings import Settings, load_settings
from emailbot.taxonomy import load_taxonomy
from tests.fakes.openai_server import FakeOpenAI

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
async def make_llm(
    openai_server: FakeOpenAI, tmp_path: Path, starter_model: TrainedModel
) -> AsyncIterator[BuildLLM]:
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
