"""The small parts of notifications: neutralizing email text, webhook settings, the encrypted store, SLA arithmetic."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from emailbot.escalations.sla import AT_RISK, BREACHED, WITHIN_TARGET, SlaPolicy
from emailbot.notify.generic import signed_request, verify
from emailbot.notify.http import RetryPolicy
from emailbot.notify.safe_text import plain, slack_mrkdwn, teams_html
from emailbot.notify.secret_store import SecretStore, SecretStoreError, encryption_key, encryption_keys
from emailbot.settings import SettingsError
from emailbot.store.db import Database
from tests.runtime_fixtures import settings_for


def test_slack_text_cannot_mention_or_link() -> None:
    text = slack_mrkdwn("hi <!channel> @here @Everyone <https://evil.example|click> & done")
    assert "<" not in text
    assert ">" not in text
    assert "&amp; done" in text
    assert "@here" not in text
    assert "@Everyone" not in text


def test_teams_html_escapes_markup_and_keeps_lines() -> None:
    assert teams_html('<script>x</script>\n"quoted"') == "&lt;script&gt;x&lt;/script&gt;<br>&quot;quoted&quot;"


def test_plain_removes_control_and_direction_characters_and_bounds_length() -> None:
    assert plain("a\x00b\u202ec") == "abc"
    assert len(plain("x" * 5000, 100)) == 100


def test_signature_verifies_and_rejects_tampering_and_replays() -> None:
    raw, headers = signed_request({"event": "escalation.created"}, "secret", "notify:1:generic", now=1_000_000)
    timestamp, signature = headers["X-EmailBot-Timestamp"], headers["X-EmailBot-Signature"]
    assert verify("secret", timestamp, raw, signature, now=1_000_010)
    assert not verify("secret", timestamp, raw + b" ", signature, now=1_000_010)
    assert not verify("other", timestamp, raw, signature, now=1_000_010)
    assert not verify("secret", timestamp, raw, signature, now=1_000_000 + 301)


def test_backoff_doubles_and_honours_retry_after() -> None:
    policy = RetryPolicy(attempts=4, backoff_seconds=1)
    assert [policy.delay(n, None) for n in (1, 2, 3)] == [1, 2, 4]
    assert policy.delay(1, 7) == 7
    assert policy.delay(1, 3600) == 30


def test_webhook_settings_from_urls_and_json(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, "sqlite:///x.db", notify_webhooks="https://hooks.slack.com/services/T/B/X, https://x.example/h"
    )
    assert [(t.name, t.kind) for t in settings.notify_webhooks] == [("slack-1", "slack"), ("generic-2", "generic")]
    with pytest.raises(SettingsError, match="EMAILBOT_NOTIFY_WEBHOOKS") as error:
        settings_for(tmp_path, "sqlite:///x.db", notify_webhooks='[{"url": "ftp://secret.example/token"}]')
    assert "secret.example" not in str(error.value)  # webhook URLs are secrets, even in errors
    with pytest.raises(SettingsError, match="EMAILBOT_ESCALATION_SLA_MINUTES"):
        settings_for(tmp_path, "sqlite:///x.db", escalation_sla_minutes={"URGENT": 5})
    with pytest.raises(SettingsError, match="EMAILBOT_TEAMS_CHATS"):
        settings_for(tmp_path, "sqlite:///x.db", teams_chats=True)


def test_sla_status() -> None:
    policy = SlaPolicy({"CRITICAL": 60, "MEDIUM": 600}, at_risk=0.8)
    start = datetime(2025, 1, 15, 9, 0, tzinfo=UTC)
    assert policy.status(start, "CRITICAL", None, start + timedelta(minutes=47)) == WITHIN_TARGET
    assert policy.status(start, "CRITICAL", None, start + timedelta(minutes=48)) == AT_RISK
    assert policy.status(start, "CRITICAL", None, start + timedelta(minutes=61)) == BREACHED
    assert policy.status(start, "CRITICAL", start + timedelta(minutes=59), start + timedelta(days=2)) == WITHIN_TARGET
    assert policy.status(start, "UNKNOWN", None, start + timedelta(minutes=61)) == WITHIN_TARGET  # MEDIUM's target


async def test_secret_store_key_file_is_private_and_a_new_key_cannot_read(tmp_path: Path, database_url: str) -> None:
    settings = settings_for(tmp_path, database_url)
    key = encryption_key(settings)
    path = settings.data_dir / "encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert encryption_key(settings) == key  # generated once, then reused
    db = Database(database_url)
    try:
        await SecretStore(db, key).put("token-cache", '{"RefreshToken": "rt-123"}')
        assert await SecretStore(db, key).get("token-cache") == '{"RefreshToken": "rt-123"}'
        with pytest.raises(SecretStoreError, match="cannot be decrypted"):
            await SecretStore(db, Fernet.generate_key()).get("token-cache")
    finally:
        await db.dispose()
    # Rotation: with the new key first and the old one after it, the stored secret still reads.
    new = Fernet.generate_key()
    rotated = settings_for(tmp_path, database_url, encryption_key=f"{new.decode()},{key.decode()}")
    db = Database(database_url)
    try:
        assert await SecretStore(db, encryption_keys(rotated)).get("token-cache") == '{"RefreshToken": "rt-123"}'
        assert encryption_key(rotated) == new
    finally:
        await db.dispose()
