"""The storage ports every adapter implements: records, tokens and blobs.

Services depend on these protocols only. The embedded adapters (SQLite, local disk) live in
``records.storage``; production adapters (MongoDB through beanie, S3 through minio) implement the
same protocols. Every operation is async so that network-backed adapters fit without change.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from records.models import Record, RecordQuery
from records.roles import Role


@dataclass(frozen=True, slots=True)
class StoredBlob:
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as stored: only the SHA-256 of the secret is kept."""

    name: str
    role: Role
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None


class RecordRepository(Protocol):
    async def add(self, record: Record) -> None:
        """Store a new record durably. Raises ``Conflict`` if its id or reference exists."""

    async def get(self, record_id: str) -> Record | None: ...

    async def replace(self, record: Record, expected_version: int) -> bool:
        """Compare-and-swap: store ``record`` only if the stored version is still
        ``expected_version``. Returns False (and changes nothing) when it is not."""

    async def find(self, query: RecordQuery) -> list[Record]:
        """Records matching ``query``, newest first by (created_at, id), after ``query.after``,
        at most ``query.limit`` of them."""

    async def next_sequence(self, name: str) -> int:
        """Atomically increment and return the counter called ``name`` (starts at 1)."""


class TokenRepository(Protocol):
    async def add(self, token: ApiToken) -> None:
        """Raises ``TokenNameTaken`` when an unrevoked token has the same name."""

    async def by_secret_hash(self, secret_hash: str) -> ApiToken | None:
        """The unrevoked token with this hash, if any."""

    async def list(self, include_revoked: bool = False) -> list[ApiToken]: ...

    async def revoke(self, name: str, at: datetime) -> bool:
        """Revoke the unrevoked token called ``name``; False when there is none."""


class BlobStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        """Stream ``chunks`` into a new blob. The blob becomes visible under ``key`` only once
        every byte is durably written; if the stream fails nothing is left behind."""

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """Open a blob and return an iterator over its bytes. Raises ``NotFound`` here, before
        a byte is read, when there is no such blob (so an HTTP response is not yet started)."""

    async def discard_incomplete(self) -> int:
        """Remove what interrupted writes left behind (after a crash); returns how many.
        Only the process that serves writes calls this, at start-up."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove a blob; removing a missing blob is not an error."""


class Storage(Protocol):
    """One opened set of adapters."""

    name: str
    records: RecordRepository
    tokens: TokenRepository
    blobs: BlobStore

    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the backends answer."""

    async def close(self) -> None: ...
