"""The audit log on SQLite: append-only events (with copies of their fields for queries),
Merkle nodes and signed checkpoints.

``insert_events`` runs inside whatever transaction records the action itself, so an action
and its event commit together or not at all.
"""

from __future__ import annotations

import sqlite3

from records.audit.events import AuditEvent, AuditEventDraft
from records.audit.log import Checkpoint, EventQuery, StoredEvent
from records.clock import to_text
from records.storage.sqlite.database import Database


def _runs(indexes: list[int]) -> list[tuple[int, int]]:
    """Sorted distinct integers as (first, last) runs of consecutive values."""
    runs: list[tuple[int, int]] = []
    for index in indexes:
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def insert_events(conn: sqlite3.Connection, drafts: list[AuditEventDraft]) -> list[AuditEvent]:
    if not drafts:
        return []
    (seq,) = conn.execute("SELECT coalesce(max(seq), -1) + 1 FROM audit_events").fetchone()
    events = []
    for offset, draft in enumerate(drafts):
        event = AuditEvent(**draft.model_dump(), seq=seq + offset)
        conn.execute(
            "INSERT INTO audit_events (seq, at, actor, role, action, outcome, request_id, canonical)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (event.seq, to_text(event.at), event.actor, event.role, event.action, event.outcome.value,
             event.request_id, event.canonical()),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO audit_targets (target, seq) VALUES (?, ?)", [(t, event.seq) for t in event.targets]
        )
        events.append(event)
    return events


class SqliteAuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, drafts: list[AuditEventDraft]) -> list[AuditEvent]:
        return await self._db.run(self._db.transaction(lambda c: insert_events(c, drafts)))

    async def size(self) -> int:
        return await self._db.read(lambda c: c.execute("SELECT coalesce(max(seq), -1) + 1 FROM audit_events").fetchone()[0])

    async def entries(self, start: int, end: int) -> list[StoredEvent]:
        """Events with ``start <= seq < end`` in order: canonical bytes and the queryable copies.

        Two sequential reads in one snapshot, the events and then their targets in seq order,
        merged here: a subquery per event for its targets made verifying a million events take
        half a minute. The rows come from the store, so they are built without validation."""

        def read(conn: sqlite3.Connection) -> tuple[list[tuple], dict[int, list[str]]]:
            conn.execute("BEGIN")
            try:
                rows = conn.execute(
                    "SELECT seq, canonical, at, actor, role, action, outcome, request_id FROM audit_events"
                    " WHERE seq >= ? AND seq < ? ORDER BY seq", (start, end)).fetchall()
                targets: dict[int, list[str]] = {}
                for seq, target in conn.execute(
                        "SELECT seq, target FROM audit_targets WHERE seq >= ? AND seq < ? ORDER BY seq, target", (start, end)):
                    targets.setdefault(seq, []).append(target)
            finally:
                conn.execute("COMMIT")
            return rows, targets

        rows, targets = await self._db.read(read)
        construct = StoredEvent.model_construct
        return [
            construct(seq=r[0], canonical=bytes(r[1]), at=r[2], actor=r[3], role=r[4], action=r[5],
                      outcome=r[6], request_id=r[7], targets=targets.get(r[0], []))
            for r in rows
        ]

    async def nodes(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        if not keys:
            return {}

        by_level: dict[int, list[int]] = {}
        for level, index in keys:
            by_level.setdefault(level, []).append(index)

        def fetch(conn: sqlite3.Connection) -> dict[tuple[int, int], bytes]:
            # Per level, each run of consecutive indexes (what sealing or verifying a stretch of the
            # log asks for) is one range of the primary key; the scattered nodes of a proof go by
            # `idx IN (...)`. `(level, idx) IN (VALUES ...)` scanned the whole table per query and
            # made verifying a log of a million events take hours (found by bench/audit.py).
            found = {}
            for level, indexes in by_level.items():
                scattered = []
                for first, last in _runs(sorted(set(indexes))):
                    if last - first < 8:
                        scattered.extend(range(first, last + 1))
                        continue
                    rows = conn.execute("SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx <= ?",
                                        (level, first, last)).fetchall()
                    found.update({(level, idx): bytes(h) for idx, h in rows})
                for start in range(0, len(scattered), 500):  # a bounded number of parameters per query
                    chunk = scattered[start : start + 500]
                    rows = conn.execute(
                        f"SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx IN ({', '.join('?' * len(chunk))})",
                        [level, *chunk],
                    ).fetchall()
                    found.update({(level, idx): bytes(h) for idx, h in rows})
            return found

        return await self._db.read(fetch)

    async def seal(self, nodes: list[tuple[int, int, bytes]], checkpoint: Checkpoint | None) -> None:
        def store(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT OR REPLACE INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)
            if checkpoint is None:
                return
            conn.execute(
                "INSERT OR IGNORE INTO audit_checkpoints (tree_size, root_hash, timestamp, key_id, signature)"
                " VALUES (?, ?, ?, ?, ?)",
                (checkpoint.tree_size, checkpoint.root_hash, checkpoint.timestamp, checkpoint.key_id, checkpoint.signature),
            )

        await self._db.run(self._db.transaction(store))

    async def head(self) -> tuple[int, list[Checkpoint]]:
        """The log's size and its checkpoints, read together (one consistent view)."""

        def read(conn: sqlite3.Connection) -> tuple[int, list[Checkpoint]]:
            conn.execute("BEGIN")
            try:
                size = conn.execute("SELECT coalesce(max(seq), -1) + 1 FROM audit_events").fetchone()[0]
                rows = conn.execute(
                    "SELECT tree_size, root_hash, timestamp, key_id, signature FROM audit_checkpoints ORDER BY tree_size"
                ).fetchall()
            finally:
                conn.execute("COMMIT")
            return size, [Checkpoint(tree_size=r[0], root_hash=r[1], timestamp=r[2], key_id=r[3], signature=r[4]) for r in rows]

        return await self._db.read(read)

    async def checkpoints(self) -> list[Checkpoint]:
        rows = await self._db.read(
            lambda c: c.execute(
                "SELECT tree_size, root_hash, timestamp, key_id, signature FROM audit_checkpoints ORDER BY tree_size"
            ).fetchall()
        )
        return [Checkpoint(tree_size=r[0], root_hash=r[1], timestamp=r[2], key_id=r[3], signature=r[4]) for r in rows]

    async def latest_checkpoint(self) -> Checkpoint | None:
        row = await self._db.read(
            lambda c: c.execute(
                "SELECT tree_size, root_hash, timestamp, key_id, signature FROM audit_checkpoints"
                " ORDER BY tree_size DESC LIMIT 1"
            ).fetchone()
        )
        return Checkpoint(tree_size=row[0], root_hash=row[1], timestamp=row[2], key_id=row[3], signature=row[4]) if row else None

    async def find(self, query: EventQuery) -> list[AuditEvent]:
        where, args = [], []
        for field in ("actor", "role", "action", "outcome"):
            value = getattr(query, field)
            if value is not None:
                where.append(f"e.{field} = ?")
                args.append(str(value))
        if query.target is not None:
            where.append("e.seq IN (SELECT seq FROM audit_targets WHERE target = ?)")
            args.append(query.target)
        if query.since is not None:
            where.append("e.at >= ?")
            args.append(to_text(query.since))
        if query.until is not None:
            where.append("e.at < ?")
            args.append(to_text(query.until))
        if query.after_seq is not None:
            where.append("e.seq > ?")
            args.append(query.after_seq)
        sql = "SELECT e.canonical FROM audit_events e"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY e.seq LIMIT ?"
        args.append(query.limit)
        rows = await self._db.read(lambda c: c.execute(sql, args).fetchall())
        return [AuditEvent.model_validate_json(bytes(r[0])) for r in rows]
