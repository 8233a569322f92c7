"""Envelope encryption: each record has its own AES-256-GCM data key, wrapped by a KEK.

Associated data binds every ciphertext to its record id, its field and the data key's
version, so a ciphertext copied to another record or another field fails to decrypt instead
of being silently accepted.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from records.clock import utcnow
from records.crypto.keyring import KeyEncryptionKeys
from records.errors import RecordsError

TOKEN_PREFIX = "v1."


class FieldIntegrityError(RecordsError):
    code, status, title = "field_integrity", 500, "Encrypted field failed its integrity check"


@dataclass(frozen=True, slots=True)
class WrappedDataKey:
    """A record's data key as stored: only ever wrapped."""

    record_id: str
    key_version: int
    kek_id: str
    wrapped: bytes
    created_at: datetime


def _wrap_aad(record_id: str, key_version: int, kek_id: str) -> bytes:
    return f"records/dek/v1|{record_id}|{key_version}|{kek_id}".encode()


def _field_aad(record_id: str, field: str, key_version: int) -> bytes:
    return f"records/field/v1|{record_id}|{field}|{key_version}".encode()


class DataKey:
    """A record's unwrapped data key, able to seal and open that record's fields."""

    def __init__(self, record_id: str, key_version: int, key: bytes) -> None:
        self.record_id = record_id
        self.key_version = key_version
        self.key = key
        self._aead = AESGCM(key)

    @classmethod
    def generate(cls, record_id: str) -> DataKey:
        return cls(record_id, 1, secrets.token_bytes(32))

    def wrap(self, keks: KeyEncryptionKeys) -> WrappedDataKey:
        kek_id = keks.active_kek_id()
        wrapped = keks.wrap(kek_id, self.key, _wrap_aad(self.record_id, self.key_version, kek_id))
        return WrappedDataKey(self.record_id, self.key_version, kek_id, wrapped, utcnow())

    @classmethod
    def unwrap(cls, stored: WrappedDataKey, keks: KeyEncryptionKeys) -> DataKey:
        key = keks.unwrap(stored.kek_id, stored.wrapped, _wrap_aad(stored.record_id, stored.key_version, stored.kek_id))
        return cls(stored.record_id, stored.key_version, key)

    def seal(self, field: str, value: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), _field_aad(self.record_id, field, self.key_version))
        return TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, field: str, token: str) -> str:
        try:
            if not token.startswith(TOKEN_PREFIX):
                raise ValueError("not a sealed value")
            raw = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX):] + "=" * (-len(token) % 4))
            plain = self._aead.decrypt(raw[:12], raw[12:], _field_aad(self.record_id, field, self.key_version))
        except (InvalidTag, ValueError):
            raise FieldIntegrityError(
                f"field {field} of record {self.record_id} failed its integrity check (altered, or moved from elsewhere)"
            ) from None
        return plain.decode("utf-8")


def rewrap(stored: WrappedDataKey, keks: KeyEncryptionKeys) -> WrappedDataKey:
    """The same data key wrapped by the active KEK; no data is re-encrypted."""
    return DataKey.unwrap(stored, keks).wrap(keks)
