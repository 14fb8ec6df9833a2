"""Encryption at rest for email bodies and raw sources (Fernet, several keys for rotation).

The encrypted columns are column types (`EncryptedText`, `EncryptedBytes`), so every reader gets plaintext and every
writer stores ciphertext without knowing. The key ring is process-wide because column types are built when the
models are imported, long before the settings are read; `configure()` is called once at start-up.

A stored value is ciphertext when it carries the `enc:v1:` marker; anything else is plaintext written before a key
was configured, and is returned as it is (mixed state is normal until `emailbot security rotate-key` has run).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import LargeBinary, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

MARKER = "enc:v1:"
MARKER_BYTES = MARKER.encode()
# A Fernet token: version byte, timestamp (8), IV (16), ciphertext (a multiple of 16 bytes, at least one block), HMAC.
_FERNET_VERSION = 0x80
_MIN_TOKEN_BYTES = 1 + 8 + 16 + 16 + 32


class EncryptionKeyError(ValueError):
    """A key is not a Fernet key (32 url-safe base64-encoded bytes)."""


class UnreadableCiphertext(RuntimeError):
    """A value was encrypted with a key that is not configured."""


class KeyRing:
    """The configured keys; the first encrypts, all of them decrypt."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise EncryptionKeyError("no key given")
        try:
            self._fernets = [Fernet(key.strip().encode()) for key in keys]
        except (ValueError, TypeError) as exc:
            raise EncryptionKeyError(
                "each key must be 32 url-safe base64-encoded bytes (Fernet.generate_key())"
            ) from exc
        self._multi = MultiFernet(self._fernets)
        self.current_fingerprint = fingerprint(keys[0])

    @classmethod
    def parse(cls, value: str) -> KeyRing:
        """Comma-separated keys, the current one first."""
        return cls([part for part in value.split(",") if part.strip()])

    def encrypt(self, data: bytes) -> bytes:
        return MARKER_BYTES + self._multi.encrypt(data)

    def decrypt(self, stored: bytes) -> bytes:
        try:
            return self._multi.decrypt(stored[len(MARKER_BYTES) :])
        except InvalidToken:
            raise UnreadableCiphertext("stored value was encrypted with a key that is not configured") from None

    def rotate(self, stored: bytes) -> bytes:
        """Ciphertext under the current key, from plaintext or from ciphertext under any configured key."""
        if not is_encrypted(stored):
            return self.encrypt(stored)
        try:
            return MARKER_BYTES + self._multi.rotate(stored[len(MARKER_BYTES) :])
        except InvalidToken:
            raise UnreadableCiphertext("stored value was encrypted with a key that is not configured") from None

    def is_current(self, stored: bytes) -> bool:
        """Encrypted with the first key (Fernet tokens do not name their key, so this tries it)."""
        if not is_encrypted(stored):
            return False
        try:
            self._fernets[0].decrypt(stored[len(MARKER_BYTES) :])
        except InvalidToken:
            return False
        return True


def fingerprint(key: str) -> str:
    """Identifies a key in stored progress without revealing it."""
    return hashlib.sha256(key.strip().encode()).hexdigest()[:16]


def is_encrypted(stored: bytes | str) -> bool:
    """Marker plus a well-formed Fernet token: a plaintext that merely starts with the marker is still plaintext."""
    data = stored if isinstance(stored, bytes) else stored.encode("utf-8", "replace")
    if not data.startswith(MARKER_BYTES):
        return False
    try:
        token = base64.urlsafe_b64decode(data[len(MARKER_BYTES) :])
    except (ValueError, binascii.Error):
        return False
    return len(token) >= _MIN_TOKEN_BYTES and token[0] == _FERNET_VERSION and (len(token) - _MIN_TOKEN_BYTES) % 16 == 0


_ring: KeyRing | None = None


def configure(ring: KeyRing | None) -> None:
    """Set (or clear) the process's key ring; called at start-up from the settings."""
    global _ring
    _ring = ring


def configure_from_secret(secret: str | None) -> None:
    """The key ring from EMAILBOT_ENCRYPTION_KEY's value (already validated by the settings), or none."""
    configure(KeyRing.parse(secret) if secret else None)


def active_ring() -> KeyRing | None:
    return _ring


def seal(value: bytes) -> bytes:
    return _ring.encrypt(value) if _ring is not None and value else value


def unseal(stored: bytes) -> bytes:
    if not is_encrypted(stored):
        return stored
    if _ring is None:
        raise UnreadableCiphertext("stored value is encrypted but EMAILBOT_ENCRYPTION_KEY is not set")
    return _ring.decrypt(stored)


class EncryptedText(TypeDecorator[str]):
    """A Text column stored encrypted when a key is configured."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or _ring is None or not value:
            return value
        return seal(value.encode()).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or not is_encrypted(value):
            return value
        return unseal(value.encode("ascii")).decode()


class EncryptedBytes(TypeDecorator[bytes]):
    """A binary column stored encrypted when a key is configured."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else seal(bytes(value))

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else unseal(bytes(value))
