"""Secrets EmailBot obtains itself (the Teams service account's MSAL token cache) kept encrypted in the database.

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`. The key is EMAILBOT_ENCRYPTION_KEY when set (a Fernet
key: 32 url-safe base64 bytes), otherwise a key generated once into `<data dir>/encryption.key`, readable only by
its owner. Losing the key only means signing the service account in again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from emailbot.settings import Settings
from emailbot.store.db import Database
from emailbot.store.tables import EncryptedSecretRow, utcnow

KEY_FILE_NAME = "encryption.key"


class SecretStoreError(Exception):
    """The stored secret cannot be decrypted (the key changed) or the key is unusable."""


def encryption_key(settings: Settings) -> bytes:
    """The key new secrets are encrypted with: EMAILBOT_ENCRYPTION_KEY's current (first) key, else a key file."""
    return encryption_keys(settings)[0]


def encryption_keys(settings: Settings) -> list[bytes]:
    """Every key that may decrypt a stored secret, the current one first (EMAILBOT_ENCRYPTION_KEY may list
    older keys after it while they are being rotated out)."""
    if settings.encryption_key is not None:
        keys = [part.strip().encode() for part in settings.encryption_key.get_secret_value().split(",") if part.strip()]
        for key in keys:
            _check(key, "EMAILBOT_ENCRYPTION_KEY")
        return keys
    return [_key_file(settings)]


def _key_file(settings: Settings) -> bytes:
    path = Path(settings.data_dir) / KEY_FILE_NAME
    if path.exists():
        key = path.read_bytes().strip()
        _check(key, str(path))
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Created with mode 0600 from the start: the key is never readable by others, not even for a moment.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key + b"\n")
    return key


def _check(key: bytes, source: str) -> None:
    try:
        Fernet(key)
    except ValueError as exc:
        raise SecretStoreError(f"{source}: not a Fernet key (32 url-safe base64-encoded bytes)") from exc


class SecretStore:
    def __init__(self, db: Database, key: bytes | Sequence[bytes]) -> None:
        """Encrypts with the first key; decrypts with any (a secret written before a key rotation stays readable
        and is re-encrypted with the current key the next time it is stored)."""
        self.db = db
        keys = [key] if isinstance(key, bytes) else list(key)
        self.fernet = MultiFernet([Fernet(k) for k in keys])

    async def get(self, name: str) -> str | None:
        async with self.db.transaction() as session:
            row = await session.get(EncryptedSecretRow, name)
        if row is None:
            return None
        try:
            return self.fernet.decrypt(row.ciphertext).decode()
        except InvalidToken as exc:
            raise SecretStoreError(f"stored secret {name!r} cannot be decrypted with the current key") from exc

    async def put(self, name: str, value: str) -> None:
        ciphertext = self.fernet.encrypt(value.encode())
        async with self.db.transaction() as session:
            row = await session.get(EncryptedSecretRow, name)
            if row is None:
                session.add(EncryptedSecretRow(name=name, ciphertext=ciphertext, updated_at=utcnow()))
            else:
                row.ciphertext, row.updated_at = ciphertext, utcnow()

    async def delete(self, name: str) -> None:
        async with self.db.transaction() as session:
            row = await session.get(EncryptedSecretRow, name)
            if row is not None:
                await session.delete(row)
