"""Checkpoints published to object storage under Object Lock, where nobody can take them back.

The checkpoint file under the data dir shows a database rolled back on its own; an attacker who
rolls back the whole data dir (database and file) is shown by these copies: each is an object
whose retention the storage enforces (compliance or governance mode, ``RECORDS_S3_LOCK_MODE``),
so ``records audit verify`` finds the newest of them missing from the database. Sealing happens
every few seconds; copies are written at most every ``RECORDS_AUDIT_LOCK_PUBLISH_SECONDS``, so
the bucket holds a few hundred small objects a day.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta

from records.audit.log import Checkpoint
from records.clock import utcnow
from records.errors import NotFound
from records.ports import LockingBlobStore

PREFIX = "audit-checkpoints"
log = logging.getLogger("records.audit")


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class LockedCheckpoints:
    def __init__(self, blobs: LockingBlobStore, every_seconds: float, retention: timedelta) -> None:
        self._blobs = blobs
        self._every = every_seconds
        self._retention = retention
        self._last = float("-inf")

    @staticmethod
    def key(checkpoint: Checkpoint) -> str:
        # Zero-padded: key order is tree-size order.
        return f"{PREFIX}/{checkpoint.tree_size:020d}.json"

    async def publish(self, checkpoint: Checkpoint, force: bool = False) -> bool:
        """Write and lock a copy, unless one was written less than the interval ago. A failure is
        logged, not raised: the checkpoint is already durable; the next seal writes a newer copy."""
        if not force and time.monotonic() - self._last < self._every:
            return False
        key = self.key(checkpoint)
        try:
            await self._blobs.put(key, _one(checkpoint.model_dump_json().encode()))
            await self._blobs.set_retention(key, utcnow() + self._retention)
        except Exception as exc:  # noqa: BLE001 - the object store being away must not stop sealing
            log.error("could not publish checkpoint %s to the locked bucket: %s", checkpoint.tree_size, type(exc).__name__)
            return False
        self._last = time.monotonic()
        return True

    async def latest(self) -> Checkpoint | None:
        newest = None
        async for key in self._blobs.list_keys(PREFIX):
            if newest is None or key > newest:
                newest = key
        if newest is None:
            return None
        try:
            data = b"".join([chunk async for chunk in await self._blobs.open(newest)])
        except NotFound:
            return None
        return Checkpoint.model_validate_json(data)
