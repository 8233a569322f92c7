"""The embedded default: SQLite plus blobs on local disk, all under one data directory."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread

from records.errors import InvalidConfiguration, StorageUnavailable
from records.ports import BlobStore
from records.storage.blobs import close_blobs
from records.storage.localdisk import LocalDiskBlobStore
from records.storage.sqlite.audit import SqliteAuditLog
from records.storage.sqlite.data_keys import SqliteDataKeyRepository
from records.storage.sqlite.database import Database
from records.storage.sqlite.export import SqliteExport
from records.storage.sqlite.plugins import SqlitePluginRepository
from records.storage.sqlite.records import SqliteRecordRepository
from records.storage.sqlite.retention import SqliteRetentionRepository
from records.storage.sqlite.sessions import SqliteConsoleSessionRepository
from records.storage.sqlite.tokens import SqliteTokenRepository


class EmbeddedStorage:
    name = "sqlite"
    leases = None  # one serving process per data dir: nothing to coordinate

    def __init__(self, data_dir: Path, db: Database, blobs: BlobStore) -> None:
        self.data_dir = data_dir
        self._db = db
        self.records = SqliteRecordRepository(db)
        self.tokens = SqliteTokenRepository(db)
        self.data_keys = SqliteDataKeyRepository(db)
        self.audit = SqliteAuditLog(db)
        self.plugins = SqlitePluginRepository(db)
        self.retention = SqliteRetentionRepository(db)
        self.console_sessions = SqliteConsoleSessionRepository(db)
        self.export = SqliteExport(db)  # records migrate reads it part by part
        self.blobs = blobs

    @classmethod
    def open(cls, data_dir: Path, blobs: BlobStore | None = None) -> EmbeddedStorage:
        """Open the data dir, creating and initialising it on first use; blobs go under it
        unless another blob store is given."""
        if data_dir.exists() and not data_dir.is_dir():
            raise InvalidConfiguration(f"data dir {data_dir} exists and is not a directory")
        try:
            if not data_dir.exists():
                data_dir.mkdir(parents=True, mode=0o700)  # customers' personal data lives here
            blobs = blobs or LocalDiskBlobStore(data_dir / "blobs")
        except OSError as exc:
            raise StorageUnavailable(f"cannot use data dir {data_dir}: {exc.strerror}") from None
        db = Database(data_dir / "records.sqlite3")
        return cls(data_dir, db, blobs)

    async def ping(self) -> None:
        await self._db.run(lambda c: c.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self._db.close)
        await close_blobs(self.blobs)
