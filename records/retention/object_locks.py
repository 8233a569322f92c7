"""WORM where the blob store has it: a record's attachments kept by the storage itself (S3 Object
Lock retention and legal holds), whoever asks it to delete them. Local disk cannot lock: nothing
happens there."""

from __future__ import annotations

from datetime import UTC, datetime

from records.attachments import blob_key
from records.clock import as_utc
from records.ports import BlobStore, LockingBlobStore
from records.stored import StoredRecord


class ObjectLocks:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    @property
    def enabled(self) -> bool:
        return isinstance(self._blobs, LockingBlobStore)

    async def lock(self, stored: StoredRecord, until: datetime | None) -> None:
        """Have the blob store itself keep the record's attachments until ``until`` (S3 Object
        Lock retention in ``RECORDS_S3_LOCK_MODE``). The store enforces its own wall clock, so a
        date already past by it needs (and takes) no lock; local disk cannot lock and is skipped."""
        if until is None or not isinstance(self._blobs, LockingBlobStore) or as_utc(until) <= datetime.now(UTC):
            return
        for attachment in stored.attachments:
            await self._blobs.set_retention(blob_key(stored.id, attachment.id), until)

    async def legal_hold(self, stored: StoredRecord, on: bool) -> None:
        if isinstance(self._blobs, LockingBlobStore):
            for attachment in stored.attachments:
                await self._blobs.set_legal_hold(blob_key(stored.id, attachment.id), on)
