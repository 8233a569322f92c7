"""The embedded store's writer and readers (records.storage.sqlite.database): changes ready at
the same moment commit as one group (one COMMIT, so one fsync), a failing change rolls back
alone, and reads go on while the writer is busy."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from records.errors import StorageUnavailable
from records.storage.sqlite.database import Database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(tmp_path / "records.sqlite3")
    db.call(lambda c: c.execute("CREATE TABLE notes (n INTEGER PRIMARY KEY, text TEXT NOT NULL)"))
    try:
        yield db
    finally:
        db.close()


@contextmanager
def writer_busy(db: Database) -> Iterator[None]:
    """Hold the writer connection (as a long group would) until the block ends."""
    entered, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        entered.set()
        release.wait(30)

    holder = threading.Thread(target=db.call, args=(hold,))
    holder.start()
    assert entered.wait(30)
    try:
        yield
    finally:
        release.set()
        holder.join()


def commits_of(db: Database) -> list[str]:
    """Every COMMIT the writer connection runs from now on."""
    seen: list[str] = []
    db.call(lambda c: c.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None))
    return seen


def insert(n: int, fail: bool = False):  # type: ignore[no-untyped-def]
    def change(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO notes (n, text) VALUES (?, ?)", (n, f"note {n}"))
        if fail:
            raise ValueError(f"change {n} refused after writing")
        return n

    return change


def stored(db: Database) -> list[int]:
    return [n for (n,) in db.call(lambda c: c.execute("SELECT n FROM notes ORDER BY n").fetchall())]


def test_changes_waiting_together_commit_in_one_group_and_a_failing_one_rolls_back_alone(database):
    commits = commits_of(database)

    async def main() -> list[object]:
        with writer_busy(database):
            tasks = [asyncio.create_task(database.run(database.transaction(insert(n, fail=n == 7)))) for n in range(50)]
            await asyncio.sleep(0)  # every task has handed its change over and waits for its group
            assert not any(task.done() for task in tasks)  # nobody hears back before the commit
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    # The committer may have taken the first change before the others arrived: two groups at most.
    assert 1 <= len(commits) <= 2, commits
    assert [r for r in results if isinstance(r, Exception)] and isinstance(results[7], ValueError)
    assert [r for i, r in enumerate(results) if i != 7] == [n for n in range(50) if n != 7]
    assert stored(database) == [n for n in range(50) if n != 7]


def test_a_constraint_violation_reaches_its_caller_and_a_database_error_says_the_store_is_unavailable(database):
    database.call(insert(1))

    async def main() -> tuple[BaseException, BaseException, int]:
        duplicate = database.run(database.transaction(insert(1)))
        broken = database.run(database.transaction(lambda c: c.execute("SELECT * FROM no_such_table")))
        fine = database.run(database.transaction(insert(2)))
        return await asyncio.gather(duplicate, broken, fine, return_exceptions=True)  # type: ignore[return-value]

    duplicate, broken, fine = asyncio.run(main())
    assert isinstance(duplicate, sqlite3.IntegrityError)
    assert isinstance(broken, StorageUnavailable)
    assert fine == 2 and stored(database) == [1, 2]


@pytest.mark.parametrize("how", ["read", "lookup"])
def test_reads_answer_while_the_writer_is_busy_and_see_every_commit_that_returned(database, how):
    async def main() -> list[int]:
        await database.run(database.transaction(insert(1)))
        with writer_busy(database):
            first = await asyncio.wait_for(getattr(database, how)(lambda c: [n for (n,) in c.execute("SELECT n FROM notes")]), 30)
        await database.run(database.transaction(insert(2)))
        return [*first, *await getattr(database, how)(lambda c: [n for (n,) in c.execute("SELECT n FROM notes")])]

    assert asyncio.run(main()) == [1, 1, 2]


@pytest.mark.parametrize("how", ["read", "lookup"])
def test_a_read_cannot_write(database, how):
    async def main() -> None:
        await getattr(database, how)(lambda c: c.execute("INSERT INTO notes (n, text) VALUES (1, 'x')"))

    with pytest.raises(StorageUnavailable):
        asyncio.run(main())
    assert stored(database) == []


def test_close_commits_what_was_queued_refuses_what_comes_later_and_leaves_no_wal(tmp_path):
    db = Database(tmp_path / "records.sqlite3")
    db.call(lambda c: c.execute("CREATE TABLE notes (n INTEGER PRIMARY KEY, text TEXT NOT NULL)"))

    async def main() -> None:
        await db.run(db.transaction(insert(1)))
        assert await db.read(lambda c: c.execute("SELECT count(*) FROM notes").fetchone()[0]) == 1
        db.close()
        with pytest.raises(StorageUnavailable):
            await db.run(db.transaction(insert(2)))

    asyncio.run(main())
    # The writer closes after the readers, so it checkpoints the WAL and removes it.
    assert not (tmp_path / "records.sqlite3-wal").exists()
    reopened = Database(tmp_path / "records.sqlite3")
    try:
        assert stored(reopened) == [1]
    finally:
        reopened.close()


def test_a_change_answered_before_commit_hears_back_while_its_group_still_waits_for_the_fsync(database):
    """What a reference number needs: its caller goes on while the group commits; the other
    changes of the group are answered only after the COMMIT."""
    at_commit, finish_commit = threading.Event(), threading.Event()

    def trace(sql: str) -> None:
        if sql.strip().upper() == "COMMIT":
            at_commit.set()
            finish_commit.wait(30)

    database.call(lambda c: c.set_trace_callback(trace))

    async def main() -> tuple[int, list[int]]:
        with writer_busy(database):
            number = asyncio.create_task(database.run(database.transaction(insert(1), answer_before_commit=True)))
            filing = asyncio.create_task(database.run(database.transaction(insert(2))))
            await asyncio.sleep(0)
        early = await asyncio.wait_for(number, 30)
        assert await asyncio.to_thread(at_commit.wait, 30)
        assert not filing.done()  # still waiting for the COMMIT that makes it durable
        finish_commit.set()
        return early, [await filing]

    assert asyncio.run(main()) == (1, [2])
    assert stored(database) == [1, 2]
