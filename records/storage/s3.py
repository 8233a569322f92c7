"""Blob store on S3-compatible object storage (MinIO, SeaweedFS, Ceph RGW…) through the minio SDK.

The bucket is created with Object Lock (which also turns versioning on), so archived files can be
made WORM: ``set_retention`` keeps an object's every byte until a date (governance or compliance
mode) and ``set_legal_hold`` keeps it while a hold applies; the storage itself then refuses to
delete or overwrite it, whoever asks. Uploads stream as a multipart upload in bounded memory:
an object becomes visible only when the upload completes, and a failed stream aborts it, so
nothing is left behind. The SDK is synchronous: its calls run in worker threads.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from typing import Any

import anyio.from_thread
import anyio.to_thread

from records.clock import as_utc
from records.errors import BlobLocked, InvalidConfiguration, NotFound, StorageUnavailable
from records.ports import StoredBlob

PART_SIZE = 8 * 1024 * 1024  # memory per upload: one part (S3's minimum part is 5 MiB)
CHUNK = 256 * 1024
LOCK_MODES = ("governance", "compliance")
# stat_object's codes for "no such blob"; MethodNotAllowed: the latest version is a delete marker.
_MISSING = ("NoSuchKey", "NoSuchVersion", "NoSuchObject", "MethodNotAllowed")
_NO_LOCK = ("NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError")
_KEY = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-.]+)*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def bucket_name(blobs: str) -> str:
    """The bucket an ``s3://BUCKET`` setting names."""
    name = blobs.removeprefix("s3://").rstrip("/")
    if not blobs.startswith("s3://") or not _BUCKET.match(name):
        raise InvalidConfiguration(f"RECORDS_BLOBS must be `file` or s3://BUCKET with a valid bucket name, not {blobs!r}")
    return name


class _ChunkReader:
    """A file-like ``read(n)`` for the SDK's worker thread, pulling chunks from the request's
    async iterator on the event loop, hashing as they pass: at most one part is ever buffered."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = chunks.__aiter__()
        self._buffer = bytearray()
        self._done = False
        self.digest = hashlib.sha256()
        self.size = 0

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._buffer) < n):
            chunk = anyio.from_thread.run(self._next)
            if chunk is None:
                self._done = True
            elif chunk:
                self.digest.update(chunk)
                self.size += len(chunk)
                self._buffer += chunk
        size = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken


class S3BlobStore:
    def __init__(self, endpoint: str, bucket: str, access_key: str, secret_key: str, secure: bool,
                 lock_mode: str = "governance") -> None:
        from minio import Minio

        if "://" in endpoint or not endpoint:
            raise InvalidConfiguration(f"RECORDS_S3_ENDPOINT must be host[:port] (TLS is RECORDS_S3_SECURE), not {endpoint!r}")
        if lock_mode not in LOCK_MODES:
            raise InvalidConfiguration(f"RECORDS_S3_LOCK_MODE must be one of {', '.join(LOCK_MODES)}, not {lock_mode!r}")
        try:
            self._client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure)
        except ValueError as exc:
            raise InvalidConfiguration(f"RECORDS_S3_ENDPOINT {endpoint!r}: {exc}") from None
        self.endpoint, self.bucket, self.lock_mode = endpoint, bucket, lock_mode
        self._ready = False

    def _key(self, key: str) -> str:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return key

    async def _call(self, fn: Any, *args: Any, expect: tuple[str, ...] = (), **kwargs: Any) -> Any:
        """Run an SDK call in a worker thread; the bucket is checked (or created) on first use.
        S3 errors whose code is in ``expect`` reach the caller as they are; the others become
        domain errors (the storage refusing because of a lock is ``BlobLocked``)."""
        if not self._ready:
            await self._thread(self._prepare_bucket, ())
            self._ready = True
        return await self._thread(lambda: fn(*args, **kwargs), expect)

    @staticmethod
    async def _thread(fn: Any, expect: tuple[str, ...]) -> Any:
        from minio.error import MinioException, S3Error
        from urllib3.exceptions import HTTPError

        try:
            return await anyio.to_thread.run_sync(fn)
        except S3Error as exc:
            if exc.code in expect:
                raise
            if exc.code == "AccessDenied":
                raise BlobLocked(f"object storage refused: {exc.message} ({exc.object_name or exc.bucket_name})") from None
            raise StorageUnavailable(f"object storage error: {exc.code}: {exc.message}") from None
        except (MinioException, HTTPError, OSError) as exc:
            raise StorageUnavailable(f"object storage error: {exc}") from None

    def _prepare_bucket(self) -> None:
        """Object Lock can only be chosen when a bucket is created: refuse a bucket without it."""
        from minio.error import S3Error

        if not self._client.bucket_exists(self.bucket):
            try:
                self._client.make_bucket(self.bucket, object_lock=True)
                return
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        try:
            self._client.get_object_lock_config(self.bucket)
        except S3Error as exc:
            if exc.code in ("ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"):
                raise InvalidConfiguration(
                    f"bucket {self.bucket!r} exists without Object Lock; records need a bucket created with it"
                ) from None
            raise

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        name = self._key(key)
        reader = _ChunkReader(chunks)
        await self._call(self._client.put_object, self.bucket, name, reader, -1, part_size=PART_SIZE,
                         num_parallel_uploads=1)
        return StoredBlob(size=reader.size, sha256=reader.digest.hexdigest())

    async def open(self, key: str) -> AsyncIterator[bytes]:
        name = self._key(key)
        if not await self.exists(key):
            raise NotFound(f"blob {key} is missing")
        response = await self._call(self._client.get_object, self.bucket, name)
        return self._chunks(response)

    @staticmethod
    async def _chunks(response: Any) -> AsyncIterator[bytes]:
        stream = response.stream(CHUNK)
        try:
            while chunk := await anyio.to_thread.run_sync(next, stream, b""):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def discard_incomplete(self) -> int:
        """Failed uploads abort themselves; what a crash leaves is incomplete multipart uploads,
        invisible and never completed. Expire them with a bucket lifecycle rule
        (AbortIncompleteMultipartUpload, see deploy/), which needs no listing here."""
        return 0

    async def list_keys(self, prefix: str) -> AsyncIterator[str]:
        """The latest, undeleted version of every object under ``prefix``, pulled from the SDK's
        paged listing in worker threads a thousand keys at a time (never the whole bucket at once)."""
        import itertools

        listing = await self._call(lambda: iter(self._client.list_objects(self.bucket, prefix=prefix, recursive=True)))
        while True:
            page = await self._call(lambda: [o.object_name for o in itertools.islice(listing, 1000) if not o.is_dir])
            for name in page:
                yield name
            if not page:
                return

    async def count_incomplete(self) -> int:
        """Multipart uploads begun and neither completed nor aborted (a crash mid-upload; also
        any upload in flight at this moment, from any instance). The SDK lists them only through
        its private ``_list_multipart_uploads``, paged here by key and upload id markers."""
        def count() -> int:
            total, key_marker, upload_marker = 0, None, None
            for _ in range(10_000):  # a bound, should a server repeat its markers
                page = self._client._list_multipart_uploads(self.bucket, key_marker=key_marker,
                                                            upload_id_marker=upload_marker, max_uploads=1000)
                total += len(page.uploads)
                if not page.is_truncated or not page.uploads:
                    break
                last = page.uploads[-1]
                key_marker, upload_marker = last.object_name, last.upload_id
            return total

        return await self._call(count)

    async def exists(self, key: str) -> bool:
        from minio.error import S3Error

        name = self._key(key)
        try:
            await self._call(self._client.stat_object, self.bucket, name, expect=_MISSING)
        except S3Error:
            return False
        return True

    async def _versions(self, name: str) -> list[Any]:
        def listing() -> list[Any]:
            found = self._client.list_objects(self.bucket, prefix=name, include_version=True)
            return [o for o in found if o.object_name == name]

        return await self._call(listing)

    async def delete(self, key: str) -> None:
        """Remove every version (and delete marker): destruction leaves nothing behind. Refused
        by the storage itself (``BlobLocked``) while retention or a legal hold applies."""
        name = self._key(key)
        for version in await self._versions(name):
            await self._call(self._client.remove_object, self.bucket, name, version_id=version.version_id)

    async def set_retention(self, key: str, until: datetime, mode: str | None = None) -> None:
        """Keep every version of the blob until ``until`` (governance: lifted only by users allowed
        to bypass it; compliance: by nobody, not even the root account, until the date)."""
        from minio.commonconfig import COMPLIANCE, GOVERNANCE
        from minio.retention import Retention

        mode = mode or self.lock_mode
        if mode not in LOCK_MODES:
            raise InvalidConfiguration(f"retention mode must be one of {', '.join(LOCK_MODES)}, not {mode!r}")
        name = self._key(key)
        retention = Retention(GOVERNANCE if mode == "governance" else COMPLIANCE, as_utc(until))
        for version in await self._versions(name):
            if not version.is_delete_marker:
                await self._call(self._client.set_object_retention, self.bucket, name, retention,
                                 version_id=version.version_id)

    async def retention(self, key: str) -> tuple[str, datetime] | None:
        """The latest version's retention: (mode, until), or None."""
        from minio.error import S3Error

        name = self._key(key)
        try:
            found = await self._call(self._client.get_object_retention, self.bucket, name, expect=_NO_LOCK)
        except S3Error:
            return None
        if found is None or found.retain_until_date is None:
            return None
        return found.mode.lower(), found.retain_until_date

    async def set_legal_hold(self, key: str, on: bool) -> None:
        """A legal hold keeps every version of the blob, whatever its retention, until lifted."""
        name = self._key(key)
        action = self._client.enable_object_legal_hold if on else self._client.disable_object_legal_hold
        for version in await self._versions(name):
            if not version.is_delete_marker:
                await self._call(action, self.bucket, name, version_id=version.version_id)

    async def legal_hold(self, key: str) -> bool:
        return bool(await self._call(self._client.is_object_legal_hold_enabled, self.bucket, self._key(key)))

    async def close(self) -> None:
        """The SDK's connection pool closes with the process; nothing is held open between calls."""
        self._client._http.clear()
