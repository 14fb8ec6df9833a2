"""Secrets EmailBot obtains itself (the Teams service account's MSAL token cache) kept encrypted in the database.

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`. The key is EMAILBOT_ENCRYPTION_KEY when set (a Fernet
key: 32 url-safe base64 bytes), otherwise a key generated once into `<data dir>/encryption.key`, readable only by
its owner. Losing the key only means signing the service account in again.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from emailbot.settings import Settings
from emailbot.store.db import Database
from emailbot.store.tables import EncryptedSecretRow, utcnow

KEY_FILE_NAME = "encryption.key"


class SecretStoreError(Exception):
    """The stored secret cannot be decrypted (the key changed) or the key is unusable."""


def encryption_key(settings: Settings) -> bytes:
    if settings.encryption_key is not None:
        key = settings.encryption_key.get_secret_value().encode()
        _check(key, "EMAILBOT_ENCRYPTION_KEY")
        return key
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
    def __init__(self, db: Database, key: bytes) -> None:
        self.db = db
        self.fernet = Fernet(key)

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
