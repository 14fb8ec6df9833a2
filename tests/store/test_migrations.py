"""The migrations build exactly the schema the models describe, on both engines (alembic check)."""

from __future__ import annotations

from emailbot.store.migrate import check


def test_models_and_migrations_agree(database_url: str) -> None:
    check(database_url)
