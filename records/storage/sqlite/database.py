"""One SQLite database file opened for durable use from async code: one writer that commits
concurrent changes in groups, and a pool of read-only connections for reads.

Why this shape: SQLite allows one writer at a time, and with ``synchronous=FULL`` every commit
waits for an fsync of the WAL (a transaction that returned has survived a ``kill -9`` and a power
cut). Changes that are ready at the same moment (filings, the access events of reads) therefore
commit together, each in its own savepoint, so that a group costs one fsync and a failing change
rolls back alone; no caller hears back before the fsync of its group. WAL lets readers read the
last commit while the writer writes, so reads go to connections of their own and never wait
behind a group's fsync.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import anyio.to_thread

from records.errors import StorageUnavailable
from records.storage.sqlite.migrations import migrate

T = TypeVar("T")

READERS = 4  # read-only connections: reads spend most of their time in SQLite, outside the GIL
GROUP_LIMIT = 500  # changes per group at most, so that one group's latency stays bounded
_PRAGMAS = ("PRAGMA foreign_keys=ON",)


class Transaction(Generic[T]):
    """A change: ``fn`` run inside a transaction. ``Database.run`` commits it with the changes
    ready at the same moment; called with a connection it runs alone in BEGIN IMMEDIATE … COMMIT."""

    __slots__ = ("fn", "answer_before_commit")

    def __init__(self, fn: Callable[[sqlite3.Connection], T], answer_before_commit: bool = False) -> None:
        self.fn = fn
        self.answer_before_commit = answer_before_commit

    def __call__(self, conn: sqlite3.Connection) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = self.fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result


def _storage_error(exc: BaseException) -> BaseException:
    """What a caller sees of an error: constraint violations as they are (adapters turn them into
    conflicts), any other SQLite failure as the store being unavailable."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        return StorageUnavailable(f"database error: {exc}")
    return exc


class _Change:
    __slots__ = ("fn", "early", "future")

    def __init__(self, fn: Callable[[sqlite3.Connection], object], early: bool) -> None:
        self.fn = fn
        self.early = early
        self.future: concurrent.futures.Future[object] = concurrent.futures.Future()


class Database:
    def __init__(self, path: Path, readers: int = READERS) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=FULL",
                *_PRAGMAS,
                "PRAGMA busy_timeout=30000",
                # Deleted content (a destroyed data key above all) is overwritten, not left in free pages.
                "PRAGMA secure_delete=ON",
            ):
                self._conn.execute(pragma)
            migrate(self._conn)
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open the database {path}: {exc}") from None
        self._lock = threading.Lock()  # the writer connection, shared by the group committer and call()
        self._changes: queue.SimpleQueue[_Change | None] = queue.SimpleQueue()
        self._committer: threading.Thread | None = None
        self._committer_lock = threading.Lock()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._reader_slots = threading.Semaphore(readers)
        self._all_readers: list[sqlite3.Connection] = []
        self._inline: sqlite3.Connection | None = None
        self._inline_lock = threading.Lock()
        self._closed = False

    # --- the writer ----------------------------------------------------------------------------

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with the writer connection, synchronously (CLI, tests, and statements that
        cannot run inside a group's transaction, such as a WAL checkpoint)."""
        with self._lock:
            if self._closed:
                raise StorageUnavailable("the database is closed")
            try:
                return fn(self._conn)
            except sqlite3.DatabaseError as exc:
                raise _storage_error(exc) from None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with the writer connection; a ``Transaction`` is committed in a group and
        returns only once its group's commit is durable."""
        if isinstance(fn, Transaction):
            return await asyncio.wrap_future(self._submit(fn.fn, fn.answer_before_commit))  # type: ignore[arg-type]
        return await anyio.to_thread.run_sync(self.call, fn)

    def transaction(self, fn: Callable[[sqlite3.Connection], T], answer_before_commit: bool = False) -> Transaction[T]:
        """``fn`` as a change: all of it commits, or none of it (rolled back on any error).

        ``answer_before_commit``: the caller hears back once ``fn`` has run, before its group's
        fsync. Only for a change that nothing is acknowledged on but a later change of this
        writer, such as a reference number taken for a filing: the later change commits in a
        later group, so it is never durable without this one."""
        return Transaction(fn, answer_before_commit)

    def _submit(self, fn: Callable[[sqlite3.Connection], object], early: bool = False) -> concurrent.futures.Future[object]:
        change = _Change(fn, early)
        with self._committer_lock:
            if self._closed:
                raise StorageUnavailable("the database is closed")
            if self._committer is None:
                self._committer = threading.Thread(target=self._commit_groups, name=f"group-commit {self.path.name}",
                                                   daemon=True)
                self._committer.start()
            self._changes.put(change)
        return change.future

    def _commit_groups(self) -> None:
        """The committer thread: take every change waiting (they queued up during the last
        group's fsync), commit them as one group, repeat."""
        while True:
            first = self._changes.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < GROUP_LIMIT:
                try:
                    change = self._changes.get_nowait()
                except queue.Empty:
                    break
                if change is None:
                    stop = True
                    break
                group.append(change)
            with self._lock:
                try:
                    self._commit_group(group)
                except BaseException as exc:  # noqa: BLE001 - the connection itself failed: no caller is left waiting
                    self._abandon(group, exc)
            if stop:
                return

    def _commit_group(self, group: list[_Change]) -> None:
        conn = self._conn
        applied: list[tuple[_Change, object]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for change in group:
                if change.future.set_running_or_notify_cancel():
                    change.future.set_exception(_storage_error(exc))
            return
        for change in group:
            if not change.future.set_running_or_notify_cancel():
                continue  # its caller went away before it began: nothing of it is written
            conn.execute("SAVEPOINT change")
            try:
                result = change.fn(conn)
            except BaseException as exc:  # noqa: BLE001 - handed to the change's caller
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO change")
                    conn.execute("RELEASE change")
                else:
                    # SQLite rolled the whole transaction back (an I/O error, a full disk): the
                    # changes applied before this one are gone with it; the rest start afresh.
                    for lost, _ in applied:
                        lost.future.set_exception(StorageUnavailable(f"database error: {exc}"))
                    applied = []
                    conn.execute("BEGIN IMMEDIATE")
                change.future.set_exception(_storage_error(exc))
                continue
            conn.execute("RELEASE change")
            if change.early:
                change.future.set_result(result)
            else:
                applied.append((change, result))
        try:
            conn.execute("COMMIT")  # the group's one fsync
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for change, _ in applied:
                change.future.set_exception(StorageUnavailable(f"database error: {exc}"))
            return
        for change, result in applied:
            change.future.set_result(result)

    def _abandon(self, group: list[_Change], exc: BaseException) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the next group's BEGIN reports what is wrong with the connection
        for change in group:
            if not change.future.done():
                change.future.set_exception(StorageUnavailable(f"database error: {exc}"))

    # --- readers -------------------------------------------------------------------------------

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn``, which only reads, on a read-only connection: it sees every commit that
        returned before it started and never waits for the writer."""
        return await anyio.to_thread.run_sync(self._read, fn)

    async def lookup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn``, a read of a few rows by key, on the calling (event loop's) thread, on a
        read-only connection of its own that never waits: the hop to a worker thread and back
        cost more than such a lookup (a third of an audited read's CPU, ``py-spy`` in issue 19).
        When that connection is in use, or SQLite asks to wait (a checkpoint resetting the
        WAL), the read goes to the pool like any other."""
        if self._inline_lock.acquire(blocking=False):
            try:
                conn = self._inline_reader()
                try:
                    return fn(conn)
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                        raise _storage_error(exc) from None
                except sqlite3.DatabaseError as exc:
                    raise _storage_error(exc) from None
            finally:
                self._inline_lock.release()
        return await self.read(fn)

    def _inline_reader(self) -> sqlite3.Connection:
        if self._inline is None:
            # busy_timeout 0: waiting here would stop the event loop, so a busy answer goes to the pool.
            self._inline = self._open_reader(busy_timeout_ms=0)
        return self._inline

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._reader_slots:
            conn = self._reader()
            try:
                return fn(conn)
            except sqlite3.DatabaseError as exc:
                raise _storage_error(exc) from None
            finally:
                self._readers.put(conn)

    def _reader(self) -> sqlite3.Connection:
        try:
            return self._readers.get_nowait()
        except queue.Empty:
            pass
        return self._open_reader()

    def _open_reader(self, busy_timeout_ms: int = 30_000) -> sqlite3.Connection:
        if self._closed:
            raise StorageUnavailable("the database is closed")
        try:
            # mode=ro: a read that tried to write would fail here instead of bypassing the writer.
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=busy_timeout_ms / 1000)
            for pragma in (*_PRAGMAS, f"PRAGMA busy_timeout={busy_timeout_ms}"):
                conn.execute(pragma)
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open the database {self.path}: {exc}") from None
        self._all_readers.append(conn)
        return conn

    def close(self) -> None:
        with self._committer_lock:
            self._closed = True
            committer = self._committer
            if committer is not None:
                self._changes.put(None)  # the changes queued before it are still committed
        if committer is not None:
            committer.join()
        with self._inline_lock:
            for conn in self._all_readers:
                conn.close()
        with self._lock:
            # Closed last: the last connection to close checkpoints the WAL into the database and
            # removes it (readers cannot), so a cleanly stopped data dir is one file again.
            self._conn.close()
