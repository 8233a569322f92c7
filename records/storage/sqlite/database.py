"""One SQLite database file opened for durable, serialised use from async code.

Why one connection behind a lock: SQLite allows one writer at a time anyway, and the embedded
default serves one machine; running each call in a worker thread keeps the event loop free
while commits wait for fsync. ``synchronous=FULL`` in WAL mode fsyncs the log on every commit,
so a transaction that returned has survived a ``kill -9`` and a power cut.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from records.errors import StorageUnavailable
from records.storage.sqlite.migrations import migrate

T = TypeVar("T")


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=FULL",
                "PRAGMA foreign_keys=ON",
                "PRAGMA busy_timeout=30000",
                # Deleted content (a destroyed data key above all) is overwritten, not left in free pages.
                "PRAGMA secure_delete=ON",
            ):
                self._conn.execute(pragma)
            migrate(self._conn)
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open the database {path}: {exc}") from None
        self._lock = threading.Lock()

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with the connection, synchronously (CLI and tests)."""
        with self._lock:
            try:
                return fn(self._conn)
            except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
                if isinstance(exc, sqlite3.IntegrityError):
                    raise
                raise StorageUnavailable(f"database error: {exc}") from None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with the connection in a worker thread."""
        return await anyio.to_thread.run_sync(self.call, fn)

    def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
        """Wrap ``fn`` so that it runs inside BEGIN IMMEDIATE … COMMIT, rolled back on any error."""

        def wrapped(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return wrapped

    def close(self) -> None:
        with self._lock:
            self._conn.close()
