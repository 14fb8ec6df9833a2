"""Keys at start-up: EMAILBOT_API_KEY is registered as an admin key; with no admin key at all, one is made."""

from __future__ import annotations

from emailbot.auth.keys import bootstrap_admin, ensure_env_key
from emailbot.settings import Settings
from emailbot.store.db import Database


async def prepare_keys(settings: Settings) -> str | None:
    """Returns a newly made admin key (to be shown once), or None."""
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            if settings.api_key is not None:
                await ensure_env_key(session, settings.api_key.get_secret_value().strip())
                return None
            return await bootstrap_admin(session, settings.data_dir)
    finally:
        await db.dispose()
