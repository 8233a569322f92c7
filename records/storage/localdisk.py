"""Blob store on local disk under the data dir.

A blob is written to a temporary file, fsynced, renamed into place and its directory fsynced,
so a blob is either wholly present or absent after a crash, never partial.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

import anyio.to_thread

from records.durable import fsync_dir
from records.errors import NotFound, StorageUnavailable
from records.ports import StoredBlob

CHUNK = 256 * 1024
WRITE_BATCH = 1024 * 1024
_KEY = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-.]+)*$")


class LocalDiskBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._incoming = root / ".incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        # Keys are made by services, but refuse anything that could leave the root all the same.
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        final = self._path(key)
        partial = self._incoming / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            handle = await anyio.to_thread.run_sync(open, partial, "xb")
        except OSError as exc:
            raise StorageUnavailable(f"cannot store blob: {exc.strerror or exc}") from None
        # Writes go to a worker thread in batches: one thread hop per 64 KiB chunk costs more
        # than the write itself.
        pending = bytearray()
        try:
            async for chunk in chunks:
                if chunk:
                    digest.update(chunk)
                    size += len(chunk)
                    pending += chunk
                    if len(pending) >= WRITE_BATCH:
                        await anyio.to_thread.run_sync(handle.write, pending)
                        pending = bytearray()
            if pending:
                await anyio.to_thread.run_sync(handle.write, pending)
            await anyio.to_thread.run_sync(self._seal, handle, partial, final)
        except OSError as exc:  # a full disk (ENOSPC), a quota (EDQUOT), an I/O error while writing
            handle.close()
            partial.unlink(missing_ok=True)
            raise StorageUnavailable(f"cannot store blob: {exc.strerror or exc}") from None
        except BaseException:
            handle.close()
            partial.unlink(missing_ok=True)
            raise
        return StoredBlob(size=size, sha256=digest.hexdigest())

    def _seal(self, handle, partial: Path, final: Path) -> None:  # type: ignore[no-untyped-def]
        try:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            self._make_dirs_durably(final.parent)
            os.replace(partial, final)
        except OSError as exc:
            raise StorageUnavailable(f"cannot store blob: {exc.strerror}") from None
        try:
            fsync_dir(final.parent)
        except OSError as exc:
            # The rename may not survive a power cut: take it back rather than acknowledge it.
            final.unlink(missing_ok=True)
            raise StorageUnavailable(f"cannot store blob: {exc.strerror}") from None

    def _make_dirs_durably(self, directory: Path) -> None:
        """mkdir -p, fsyncing the parent of every directory created so that the new entries
        themselves survive a power cut, not only the files inside them."""
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for created in reversed(missing):
            created.mkdir(exist_ok=True)
            fsync_dir(created.parent)

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await anyio.to_thread.run_sync(open, path, "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {key} is missing") from None
        return self._chunks(handle)

    @staticmethod
    async def _chunks(handle) -> AsyncIterator[bytes]:  # type: ignore[no-untyped-def]
        try:
            while chunk := await anyio.to_thread.run_sync(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def discard_incomplete(self) -> int:
        def sweep() -> int:
            leftovers = list(self._incoming.glob("*.part"))
            for path in leftovers:
                path.unlink(missing_ok=True)
            return len(leftovers)

        return await anyio.to_thread.run_sync(sweep)

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def list_keys(self, prefix: str) -> AsyncIterator[str]:
        base = self.root / prefix if prefix else self.root
        paths = await anyio.to_thread.run_sync(
            lambda: [p for p in base.rglob("*") if p.is_file() and ".incoming" not in p.relative_to(self.root).parts]
            if base.is_dir() else []
        )
        for path in paths:
            yield path.relative_to(self.root).as_posix()

    async def count_incomplete(self) -> int:
        return await anyio.to_thread.run_sync(lambda: len(list(self._incoming.glob("*.part"))))

    async def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
