"""One MongoDB database opened for the services: connection, beanie initialisation, transactions.

A change that spans documents (record, data key, deadlines, audit events) runs in one MongoDB
transaction, which a replica set or a sharded cluster provides. A server that accepts
transactions without being either (a test server such as nx-27017, which runs them one at a
time on one SQLite connection) gets every write serialised (``compat.SerialisedWrites``), because
such a server does not isolate concurrent transactions. A server without transactions at all (a
standalone mongod) is refused at start: acknowledged changes must never be half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from records.errors import InvalidConfiguration, StorageUnavailable
from records.storage.mongodb.compat import SerialisedWrites, isolates_transactions

T = TypeVar("T")
DEFAULT_DATABASE = "records"
_SERVER_TIMEOUT_MS = 10_000


def database_name(url: str) -> str:
    """The database a ``mongodb://`` or ``mongodb+srv://`` URL names (``records`` when none)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mongodb", "mongodb+srv") or not parts.netloc:
        raise InvalidConfiguration(f"RECORDS_STORE must be `sqlite` or a mongodb:// URL, not {_redact(url)!r}")
    name = parts.path.lstrip("/")
    if name and not all(c.isalnum() or c in "_-" for c in name):
        raise InvalidConfiguration(f"RECORDS_STORE names an invalid database {name!r}")
    return name or DEFAULT_DATABASE


def _redact(url: str) -> str:
    """Never print a password from a connection URL."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


class MongoDatabase:
    def __init__(self, url: str) -> None:
        from pymongo import AsyncMongoClient

        self.name = database_name(url)
        self.url = url
        try:
            self.client: Any = AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=_SERVER_TIMEOUT_MS)
        except Exception as exc:  # noqa: BLE001 - pymongo.errors.ConfigurationError and friends: a malformed URL
            raise InvalidConfiguration(f"RECORDS_STORE {_redact(url)!r}: {exc}") from None
        self.db = self.client[self.name]
        self._ready: asyncio.Task[None] | None = None
        self._serialised: SerialisedWrites | None = None  # on servers whose transactions are not isolated

    async def ready(self) -> None:
        """Initialise once (indexes, transaction support); every operation awaits this first."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._initialise())
        try:
            await asyncio.shield(self._ready)
        except BaseException:
            if self._ready.done():
                self._ready = None  # a server that was down may be up on the next call
            raise

    async def _initialise(self) -> None:
        from beanie import init_beanie
        from pymongo.errors import OperationFailure, PyMongoError

        from records.storage.mongodb.documents import DOCUMENTS

        try:
            await init_beanie(database=self.db, document_models=DOCUMENTS)
            hello = await self.client.admin.command("hello")
        except PyMongoError as exc:
            raise StorageUnavailable(f"cannot reach MongoDB at {_redact(self.url)}: {exc}") from None
        try:
            # The hold fence exists before any transaction writes it: two first upserts racing
            # inside transactions could otherwise fail with a duplicate key, which is not retried.
            from records.storage.mongodb.retention import HOLDS_FENCE

            await self.db["sequences"].update_one({"_id": HOLDS_FENCE}, {"$setOnInsert": {"value": 0}}, upsert=True)
        except PyMongoError as exc:
            raise StorageUnavailable(f"cannot write to MongoDB at {_redact(self.url)}: {exc}") from None
        if isolates_transactions(hello):
            return
        try:
            async with self.client.start_session() as session:
                async with await session.start_transaction():
                    await self.db["sequences"].find_one({"_id": "transactions-probe"}, session=session)
        except OperationFailure as exc:
            raise InvalidConfiguration(
                "MongoDB must run as a replica set (a single-member one will do: restart mongod with --replSet rs0 "
                "and run rs.initiate() once) or a sharded cluster: changes span documents and need transactions "
                f"({exc.details.get('errmsg', exc) if exc.details else exc})"
            ) from None
        self._serialised = SerialisedWrites(self.db)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Around every write: readiness, serialisation where the server needs it, error mapping."""
        from pymongo.errors import DuplicateKeyError, PyMongoError

        await self.ready()
        try:
            async with self._serialised or contextlib.nullcontext():
                yield
        except DuplicateKeyError:
            raise
        except PyMongoError as exc:
            raise StorageUnavailable(f"MongoDB error: {exc}") from None

    async def transaction(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(session)`` in a transaction, retried on transient errors (so ``fn`` must be
        re-runnable), committed with majority write concern on a replica set."""
        from pymongo import WriteConcern

        async with self.writing():
            async with self.client.start_session() as session:
                return await session.with_transaction(fn, write_concern=WriteConcern("majority"))

    async def read(self, fn: Callable[[], Awaitable[T]]) -> T:
        from pymongo.errors import PyMongoError

        await self.ready()
        try:
            return await fn()
        except PyMongoError as exc:
            raise StorageUnavailable(f"MongoDB error: {exc}") from None

    def collection(self, name: str) -> Any:
        return self.db[name]

    async def ping(self) -> None:
        await self.read(lambda: self.client.admin.command("ping"))

    async def close(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()
        await self.client.close()
