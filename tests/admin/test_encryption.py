"""Encryption at rest: bodies and raw sources are ciphertext in the database, plaintext to every reader, and a key
rotation interrupted part-way and resumed leaves every email readable under the new key alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import LargeBinary, Text, select, type_coerce
from typer.testing import CliRunner

from emailbot.admin.rotate import CURSOR_KEY, encryption_status, rotate_key
from emailbot.cli import app
from emailbot.settings import SettingsError, load_settings
from emailbot.store import crypto, system_state
from emailbot.store.convert import email_from_row
from emailbot.store.db import Database
from emailbot.store.tables import EmailRow
from tests.admin.conftest import OLD, ingest_emails

runner = CliRunner()
FIRST, SECOND = Fernet.generate_key().decode(), Fernet.generate_key().decode()


async def _stored(db: Database) -> list[tuple[str, str, bytes]]:
    """What the database holds, bypassing the encrypting column types."""
    async with db.transaction() as session:
        rows = await session.execute(
            select(
                type_coerce(EmailRow.body_text, Text()),
                type_coerce(EmailRow.clean_text, Text()),
                type_coerce(EmailRow.raw, LargeBinary()),
            ).order_by(EmailRow.id)
        )
        return [(body, clean, bytes(raw)) for body, clean, raw in rows]


async def _read(db: Database) -> list[tuple[str, str, str | None, bytes]]:
    async with db.transaction() as session:
        rows = (await session.scalars(select(EmailRow).order_by(EmailRow.id))).all()
    return [(row.body_text, email_from_row(row).clean_text, row.body_html, row.raw) for row in rows]


def _expected(prefix: str, count: int) -> list[tuple[str, str, str | None, bytes]]:
    return [
        (
            f"body {prefix}{i}",
            f"clean {prefix}{i}",
            f"<p>html {prefix}{i}</p>",
            f"Subject: s{i}\r\n\r\nraw body {prefix}{i}".encode(),
        )
        for i in range(count)
    ]


async def test_bodies_are_ciphertext_at_rest_and_plaintext_to_readers(db: Database) -> None:
    await ingest_emails(db, [OLD] * 2, prefix="plain")  # before encryption was turned on
    crypto.configure_from_secret(FIRST)
    await ingest_emails(db, [OLD] * 3, prefix="secret")

    stored = await _stored(db)
    assert all(not crypto.is_encrypted(body) for body, _, _ in stored[:2])
    for body, clean, raw in stored[2:]:
        assert body.startswith("enc:v1:")
        assert clean.startswith("enc:v1:")
        assert raw.startswith(b"enc:v1:")
        assert "secret" not in body
        assert b"secret" not in raw
    assert await _read(db) == _expected("plain", 2) + _expected("secret", 3)
    assert await encryption_status(db) == {"emails": 5, "unencrypted": 2}


async def test_interrupted_rotation_resumes_and_leaves_everything_readable_under_the_new_key(db: Database) -> None:
    await ingest_emails(db, [OLD] * 2, prefix="plain")
    crypto.configure_from_secret(FIRST)
    await ingest_emails(db, [OLD] * 5, prefix="first")
    expected = _expected("plain", 2) + _expected("first", 5)

    crypto.configure_from_secret(f"{SECOND},{FIRST}")
    stopped = await rotate_key(db, batch_size=2, batch_limit=2)
    assert (stopped.scanned, stopped.batches, stopped.finished) == (4, 2, False)
    assert (stopped.encrypted, stopped.reencrypted) == (2, 2)
    assert await _read(db) == expected  # mid-rotation: a mix of keys, all readable
    async with db.transaction() as session:
        cursor = await system_state.get(session, CURSOR_KEY)
    assert cursor is not None

    resumed = await rotate_key(db, batch_size=2)
    assert resumed.resumed_after == cursor["last_id"]
    assert (resumed.scanned, resumed.reencrypted, resumed.finished) == (3, 3, True)

    crypto.configure_from_secret(SECOND)  # the old key is gone: everything must be under the new one
    assert await _read(db) == expected
    assert await encryption_status(db) == {"emails": 7, "unencrypted": 0}
    again = await rotate_key(db)
    assert (again.resumed_after, again.encrypted, again.reencrypted, again.finished) == (0, 0, 0, True)


async def test_a_value_under_an_unknown_key_is_an_error_not_garbage(db: Database) -> None:
    crypto.configure_from_secret(FIRST)
    await ingest_emails(db, [OLD], prefix="x")
    crypto.configure_from_secret(SECOND)
    with pytest.raises(crypto.UnreadableCiphertext):
        await _read(db)


def test_a_plaintext_that_looks_like_the_marker_stays_plaintext() -> None:
    assert not crypto.is_encrypted("enc:v1:hello, this is my email")
    ring = crypto.KeyRing.parse(FIRST)
    assert crypto.is_encrypted(ring.encrypt(b"x"))


def test_an_invalid_key_stops_start_up_naming_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="EMAILBOT_ENCRYPTION_KEY: each key must be") as error:
        load_settings(encryption_key=f"{FIRST},not-a-key-at-all")
    assert "not-a-key-at-all" not in str(error.value)
    key_file = tmp_path / "key"
    key_file.write_text(FIRST + "\n")
    monkeypatch.setenv("EMAILBOT_ENCRYPTION_KEY_FILE", str(key_file))
    assert load_settings().encryption_key.get_secret_value() == FIRST  # type: ignore[union-attr]


async def test_rotate_key_command_reports_counts(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    await ingest_emails(db, [OLD] * 3, prefix="p")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMAILBOT_DATABASE_URL", db.url)
    monkeypatch.setenv("EMAILBOT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("EMAILBOT_ENCRYPTION_KEY", FIRST)
    result = await asyncio.to_thread(runner.invoke, app, ["security", "rotate-key", "--batch-size", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert '"encrypted": 3' in result.output
    assert '"finished": true' in result.output
    crypto.configure_from_secret(FIRST)
    assert await encryption_status(db) == {"emails": 3, "unencrypted": 0}
    assert await _read(db) == _expected("p", 3)
