"""A runtime in earned-autonomy mode (the product's default) where every classified email is confident enough to
auto-send, so that only autonomy decides between a reply and a draft; targets small enough to earn in a test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emailbot.runtime import Runtime, build_runtime
from tests.runtime_fixtures import settings_for

MIN_REVIEWS = 3
TARGET_PRECISION = 0.75


@pytest.fixture
async def runtime(tmp_path: Path, database_url: str, starter_model_dir: Path) -> AsyncIterator[Runtime]:
    shutil.copytree(starter_model_dir, tmp_path / "models")
    settings = settings_for(
        tmp_path,
        database_url,
        autonomy="earned",
        autonomy_min_reviews=MIN_REVIEWS,
        autonomy_target_precision=TARGET_PRECISION,
        threshold_auto=1,
        threshold_suggest=0.5,
        threshold_review=0.2,
    )
    built = build_runtime(settings)
    yield built
    await built.close()
