"""Where an attachment's bytes live in the blob store and how they are sealed there.

The layout (``attachments/<record>/<attachment>``, and the upload intents that mark an upload in
flight), the key and associated data each attachment is encrypted under, and the sanitisers of
what a client says about a file. ``fsck``, ``migrate``, retention and the record service read the
same layout from here, so that moving a blob is a change in one module.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from records.crypto.envelope import DataKey
from records.crypto.stream import decrypt_stream, encrypt_stream

ATTACHMENTS = "attachments"
# An upload's intent is durable before its content: recovery (start-up, fsck) tells an upload a
# crash interrupted from evidence that went missing.
UPLOAD_INTENTS = "uploads"


def blob_key(record_id: str, attachment_id: str) -> str:
    return f"{ATTACHMENTS}/{record_id}/{attachment_id}"


def upload_intent_key(record_id: str, attachment_id: str) -> str:
    return f"{UPLOAD_INTENTS}/{record_id}/{attachment_id}"


def parse_upload_intent_key(key: str) -> tuple[str, str] | None:
    """(record id, attachment id) of an intent's key; None for a key of no upload's shape."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != UPLOAD_INTENTS:
        return None
    return parts[1], parts[2]


def blob_content_key(data_key: DataKey, attachment_id: str) -> bytes:
    """A key of its own per attachment, derived from the record's data key (HKDF-SHA256), so that
    destroying the data key destroys every attachment with it."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"records/blob/v1|{attachment_id}".encode()).derive(
        data_key.key
    )


def _blob_aad(record_id: str, attachment_id: str) -> bytes:
    # Binds the ciphertext to its place: a blob copied under another record's key fails to open.
    return f"records/blob/v1|{record_id}|{attachment_id}".encode()


def seal_content(data_key: DataKey, record_id: str, attachment_id: str,
                 plain: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The ciphertext stream of an attachment's plaintext, as it is put in the blob store."""
    return encrypt_stream(blob_content_key(data_key, attachment_id), _blob_aad(record_id, attachment_id), plain)


def open_content(data_key: DataKey, record_id: str, attachment_id: str,
                 sealed: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The plaintext stream of an attachment read from the blob store."""
    return decrypt_stream(blob_content_key(data_key, attachment_id), _blob_aad(record_id, attachment_id), sealed)


class MeasuredContent:
    """Passes chunks through, counting bytes and hashing them (of the plaintext, before encryption)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self.size = 0
        self.sha256 = hashlib.sha256()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._run()

    async def _run(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self.size += len(chunk)
            self.sha256.update(chunk)
            yield chunk


def safe_filename(name: str) -> str:
    """The last path segment of a client's file name, NFC, without control characters or
    leading/trailing dots, at most 255 characters (``attachment`` when nothing is left)."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    return name[:255] or "attachment"


def safe_content_type(value: str | None) -> str:
    """A client's ``type/subtype`` lower-cased when it is one, else ``application/octet-stream``."""
    if value and len(value) <= 127 and value.count("/") == 1 and all(
        part and all(ch.isalnum() or ch in "!#$&-^_.+" for ch in part) for part in value.split("/")
    ):
        return value.lower()
    return "application/octet-stream"
