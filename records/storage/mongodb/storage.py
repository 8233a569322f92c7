"""The production record store: every record-side port on one MongoDB database, with any blob store."""

from __future__ import annotations

from records.ports import BlobStore
from records.storage.blobs import close_blobs
from records.storage.mongodb.audit import MongoAuditLog
from records.storage.mongodb.data_keys import MongoDataKeyRepository
from records.storage.mongodb.database import MongoDatabase
from records.storage.mongodb.imports import MongoImport
from records.storage.mongodb.leases import MongoLeases
from records.storage.mongodb.plugins import MongoPluginRepository
from records.storage.mongodb.records import MongoRecordRepository
from records.storage.mongodb.retention import MongoRetentionRepository
from records.storage.mongodb.sessions import MongoConsoleSessionRepository
from records.storage.mongodb.tokens import MongoTokenRepository


class MongoStorage:
    name = "mongodb"

    def __init__(self, url: str, blobs: BlobStore) -> None:
        self.database = MongoDatabase(url)
        self.records = MongoRecordRepository(self.database)
        self.tokens = MongoTokenRepository(self.database)
        self.data_keys = MongoDataKeyRepository(self.database)
        self.audit = MongoAuditLog(self.database)
        self.leases = MongoLeases(self.database)
        self.plugins = MongoPluginRepository(self.database)
        self.retention = MongoRetentionRepository(self.database)
        self.console_sessions = MongoConsoleSessionRepository(self.database)
        self.importer = MongoImport(self.database, self.audit)  # records migrate writes into it
        self.blobs = blobs

    async def ping(self) -> None:
        await self.database.ping()

    async def close(self) -> None:
        await self.database.close()
        await close_blobs(self.blobs)
