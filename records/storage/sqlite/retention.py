"""Retention on SQLite: versioned schedules, assignments indexed by retain-until, events, legal
holds, disposition batches with one row per item, tombstones and certificates.

Each document is stored whole as JSON beside the columns that queries use. The due-date query
is a range scan of a partial index over undisposed, unbatched assignments, a page at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from records.audit.events import AuditEventDraft
from records.clock import to_text, utcnow
from records.errors import Conflict
from records.retention import states
from records.retention.floors import RetentionFloor
from records.retention.models import (
    BatchItem,
    DecisionTally,
    DestructionCertificate,
    DispositionBatch,
    ItemFilter,
    ItemPage,
    ItemState,
    LegalHold,
    RetentionAssignment,
    RetentionSchedule,
    Tombstone,
    WaitingItems,
    progress_of,
)
from records.roles import Principal
from records.storage.sqlite.audit import insert_events
from records.storage.sqlite.database import Database

ARCHIVED = "archived"


def _t(value: datetime | None) -> str | None:
    return to_text(value) if value is not None else None


def _put_assignment(conn: sqlite3.Connection, a: RetentionAssignment) -> None:
    conn.execute(
        "INSERT INTO retention_assignments (record_id, schedule_id, retain_until, batch_id, disposed_at, doc)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(record_id) DO UPDATE SET schedule_id = excluded.schedule_id,"
        " retain_until = excluded.retain_until, batch_id = excluded.batch_id, disposed_at = excluded.disposed_at,"
        " doc = excluded.doc",
        (a.record_id, a.schedule.id if a.schedule else None, _t(a.retain_until), a.batch_id, _t(a.disposed_at),
         a.model_dump_json()),
    )


def _get_assignment(conn: sqlite3.Connection, record_id: str) -> RetentionAssignment | None:
    row = conn.execute("SELECT doc FROM retention_assignments WHERE record_id = ?", (record_id,)).fetchone()
    return RetentionAssignment.model_validate_json(row[0]) if row else None


# Active holds on one record: named in a hold, or matched by a hold's saved query (the record's
# clear governance columns and blind indexes, never its personal data).
_HOLDS_ON = """
    SELECT h.id FROM legal_hold_items i JOIN legal_holds h ON h.id = i.hold_id
     WHERE i.record_id = :rid AND h.released_at IS NULL
    UNION
    SELECT h.id FROM legal_holds h, records r
     WHERE r.id = :rid AND h.released_at IS NULL AND h.has_query = 1
       AND (h.q_kind IS NULL OR h.q_kind = r.kind)
       AND (h.q_account_idx IS NULL OR h.q_account_idx = r.customer_account_idx)
       AND (h.q_phone_idx IS NULL OR h.q_phone_idx = r.customer_phone_idx)
       AND (h.q_from IS NULL OR r.received_at >= h.q_from)
       AND (h.q_to IS NULL OR r.received_at < h.q_to)
"""


def _holds_on(conn: sqlite3.Connection, record_id: str) -> list[str]:
    return sorted(row[0] for row in conn.execute(_HOLDS_ON, {"rid": record_id}))


US = "\x1f"  # between the values of the reviewers and approved_by columns (migration 14)
_ITEM_COLUMNS = "state, doc, decision, kind, reference, retain_until, staged, approvals, reviewers, approved_by"


def _joined(values: list[str]) -> str:
    return US + US.join(values) + US


def _item_values(item: BatchItem) -> tuple[object, ...]:
    """The stored item and the columns the batch page and the reviews list query (migration 14)."""
    reviewers = states.reviewers_now(item)
    return (item.state.value, item.model_dump_json(), item.decision.value, item.kind.value, item.reference,
            to_text(item.retain_until), int(bool(item.stages)), len(item.approvers),
            _joined(reviewers) if reviewers else None, _joined(states.approved_now(item)))


def _insert_items(conn: sqlite3.Connection, batch_id: str, items: list[BatchItem]) -> None:
    conn.executemany(f"INSERT INTO disposition_items (batch_id, position, record_id, {_ITEM_COLUMNS})"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(batch_id, n, item.record_id, *_item_values(item)) for n, item in enumerate(items)])


def _update_item(conn: sqlite3.Connection, batch_id: str, item: BatchItem, expected_state: ItemState | None = None) -> bool:
    """Store a changed item (if it is still in ``expected_state``, when given)."""
    sets = ", ".join(f"{c.strip()} = ?" for c in _ITEM_COLUMNS.split(","))
    sql = f"UPDATE disposition_items SET {sets} WHERE batch_id = ? AND record_id = ?"
    args: list[object] = [*_item_values(item), batch_id, item.record_id]
    if expected_state is not None:
        sql += " AND state = ?"
        args.append(expected_state.value)
    return conn.execute(sql, args).rowcount == 1


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# The rule of ``states.waits_for`` over the columns of migration 14; ``needed`` is
# ``states.approvals_needed`` of the item's batch (two_person_rule is on its header).
_WAITS_FOR = """
    d.state = 'waiting' AND (
      (d.staged = 1 AND d.decision = 'pending'
       AND (instr(d.reviewers, :us || 'role:' || :role || :us) OR instr(d.reviewers, :us || 'user:' || :name || :us))
       AND NOT instr(d.approved_by, :us || :name || :us))
      OR (d.staged = 0 AND :unstaged AND (d.decision = 'pending' OR (
          d.decision = 'approve' AND NOT instr(d.approved_by, :us || :name || :us)
          AND d.approvals < CASE WHEN json_extract(b.doc, '$.two_person_rule') THEN 2 ELSE 1 END))))
"""


def _batch_header(batch: DispositionBatch) -> str:
    return batch.model_copy(update={"items": [], "progress": None}).model_dump_json()


class SqliteRetentionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _write(self, fn, events: Sequence[AuditEventDraft]):  # type: ignore[no-untyped-def]
        def run(conn: sqlite3.Connection):  # type: ignore[no-untyped-def]
            result = fn(conn)
            if result is not False:
                insert_events(conn, list(events))
            return result

        return self._db.run(self._db.transaction(run))

    # --- schedules -----------------------------------------------------------------------------

    async def add_schedule(self, schedule: RetentionSchedule, events: Sequence[AuditEventDraft] = ()) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            taken = conn.execute(
                "SELECT 1 FROM retention_schedules s WHERE name = ? AND version ="
                " (SELECT max(version) FROM retention_schedules WHERE id = s.id)", (schedule.name,)).fetchone()
            if taken:
                raise Conflict(f"a retention schedule named {schedule.name!r} exists")
            conn.execute("INSERT INTO retention_schedules (id, version, name, created_at, doc) VALUES (?, ?, ?, ?, ?)",
                         (schedule.id, schedule.version, schedule.name, to_text(schedule.created_at),
                          schedule.model_dump_json()))

        await self._write(insert, events)

    async def add_schedule_version(self, schedule: RetentionSchedule, events: Sequence[AuditEventDraft] = ()) -> bool:
        def insert(conn: sqlite3.Connection) -> bool:
            taken = conn.execute(
                "SELECT 1 FROM retention_schedules s WHERE name = ? AND id != ? AND version ="
                " (SELECT max(version) FROM retention_schedules WHERE id = s.id)", (schedule.name, schedule.id)).fetchone()
            if taken:
                raise Conflict(f"a retention schedule named {schedule.name!r} exists")
            try:
                conn.execute("INSERT INTO retention_schedules (id, version, name, created_at, doc) VALUES (?, ?, ?, ?, ?)",
                             (schedule.id, schedule.version, schedule.name, to_text(schedule.created_at),
                              schedule.model_dump_json()))
            except sqlite3.IntegrityError:
                return False
            return True

        return await self._write(insert, events)

    async def schedule(self, schedule_id: str, version: int | None = None) -> RetentionSchedule | None:
        if version is None:
            sql, args = "SELECT doc FROM retention_schedules WHERE id = ? ORDER BY version DESC LIMIT 1", (schedule_id,)
        else:
            sql, args = "SELECT doc FROM retention_schedules WHERE id = ? AND version = ?", (schedule_id, version)
        row = await self._db.run(lambda c: c.execute(sql, args).fetchone())
        return RetentionSchedule.model_validate_json(row[0]) if row else None

    async def schedules(self) -> list[RetentionSchedule]:
        rows = await self._db.run(lambda c: c.execute(
            "SELECT doc FROM retention_schedules s WHERE version = (SELECT max(version) FROM retention_schedules"
            " WHERE id = s.id) ORDER BY name, id").fetchall())
        return [RetentionSchedule.model_validate_json(r[0]) for r in rows]

    # --- floors --------------------------------------------------------------------------------

    async def add_floor(self, floor: RetentionFloor, events: Sequence[AuditEventDraft] = ()) -> bool:
        def insert(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("INSERT OR IGNORE INTO retention_floors (id, key, created_at, removed_at, doc)"
                               " VALUES (?, ?, ?, ?, ?)", (floor.id, floor.key, to_text(floor.created_at),
                                                           _t(floor.removed_at), floor.model_dump_json()))
            return cur.rowcount == 1

        return await self._write(insert, events)

    async def floors(self) -> list[RetentionFloor]:
        rows = await self._db.run(lambda c: c.execute(
            "SELECT doc FROM retention_floors ORDER BY created_at, key").fetchall())
        return [RetentionFloor.model_validate_json(r[0]) for r in rows]

    async def remove_floor(self, floor: RetentionFloor, events: Sequence[AuditEventDraft] = ()) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("UPDATE retention_floors SET removed_at = ?, doc = ? WHERE id = ? AND removed_at IS NULL",
                               (_t(floor.removed_at), floor.model_dump_json(), floor.id))
            return cur.rowcount == 1

        return await self._write(update, events)

    # --- assignments ---------------------------------------------------------------------------

    async def assignment(self, record_id: str) -> RetentionAssignment | None:
        return await self._db.run(lambda c: _get_assignment(c, record_id))

    async def put_assignment(self, assignment: RetentionAssignment, events: Sequence[AuditEventDraft] = ()) -> None:
        await self._write(lambda c: _put_assignment(c, assignment), events)

    async def unassigned_archived(self, after: str | None, limit: int) -> list[str]:
        rows = await self._db.run(lambda c: c.execute(
            "SELECT r.id FROM records r WHERE r.status = ? AND r.destroyed_at IS NULL AND r.id > ?"
            " AND NOT EXISTS (SELECT 1 FROM retention_assignments a WHERE a.record_id = r.id)"
            " ORDER BY r.id LIMIT ?", (ARCHIVED, after or "", limit)).fetchall())
        return [r[0] for r in rows]

    async def due(self, as_of: datetime, after: tuple[datetime, str] | None, limit: int) -> list[RetentionAssignment]:
        sql = ("SELECT doc FROM retention_assignments INDEXED BY retention_due WHERE retain_until IS NOT NULL"
               " AND batch_id IS NULL AND disposed_at IS NULL AND retain_until <= ?")
        args: list[object] = [to_text(as_of)]
        if after is not None:
            sql += " AND (retain_until > ? OR (retain_until = ? AND record_id > ?))"
            args += [to_text(after[0]), to_text(after[0]), after[1]]
        sql += " ORDER BY retain_until, record_id LIMIT ?"
        args.append(limit)
        rows = await self._db.run(lambda c: c.execute(sql, args).fetchall())
        return [RetentionAssignment.model_validate_json(r[0]) for r in rows]

    async def assignments_under(self, schedule_id: str, after: str | None, limit: int) -> list[RetentionAssignment]:
        rows = await self._db.run(lambda c: c.execute(
            "SELECT doc FROM retention_assignments WHERE schedule_id = ? AND disposed_at IS NULL AND record_id > ?"
            " ORDER BY record_id LIMIT ?", (schedule_id, after or "", limit)).fetchall())
        return [RetentionAssignment.model_validate_json(r[0]) for r in rows]

    async def record_event(self, name: str, record_id: str, occurred_at: datetime) -> datetime:
        def upsert(conn: sqlite3.Connection) -> datetime:
            conn.execute("INSERT OR IGNORE INTO retention_events (name, record_id, occurred_at) VALUES (?, ?, ?)",
                         (name, record_id, to_text(occurred_at)))
            row = conn.execute("SELECT occurred_at FROM retention_events WHERE name = ? AND record_id = ?",
                               (name, record_id)).fetchone()
            return datetime.fromisoformat(row[0])

        return await self._db.run(self._db.transaction(upsert))

    async def event_time(self, name: str, record_id: str) -> datetime | None:
        row = await self._db.run(lambda c: c.execute(
            "SELECT occurred_at FROM retention_events WHERE name = ? AND record_id = ?", (name, record_id)).fetchone())
        return datetime.fromisoformat(row[0]) if row else None

    # --- legal holds ---------------------------------------------------------------------------

    async def add_hold(self, hold: LegalHold, events: Sequence[AuditEventDraft] = ()) -> list[str]:
        q = hold.query

        def insert(conn: sqlite3.Connection) -> list[str]:
            # Writers are serialised (BEGIN IMMEDIATE): a destruction decided before this
            # transaction shows here as a doomed or missing key, and the stored hold says so.
            keys = {rid: states.key_state(True, row[0]) for rid in dict.fromkeys(hold.record_ids) if (row := conn.execute(
                "SELECT doomed_at FROM data_keys WHERE record_id = ?", (rid,)).fetchone()) is not None}
            doomed_matching: list[str] = []
            if q is not None:  # records the saved query matches whose destruction is under way (few: data_keys_doomed)
                doomed_matching = [rid for (rid,) in conn.execute(
                    "SELECT r.id FROM data_keys k JOIN records r ON r.id = k.record_id WHERE k.doomed_at IS NOT NULL"
                    " AND (:kind IS NULL OR r.kind = :kind) AND (:account IS NULL OR r.customer_account_idx = :account)"
                    " AND (:phone IS NULL OR r.customer_phone_idx = :phone) AND (:since IS NULL OR r.received_at >= :since)"
                    " AND (:until IS NULL OR r.received_at < :until) ORDER BY r.id",
                    {"kind": q.kind.value if q.kind else None, "account": q.customer_account_index,
                     "phone": q.customer_phone_index, "since": _t(q.received_from), "until": _t(q.received_to)})]
            decided = states.decided_before_hold(hold.record_ids, keys, doomed_matching)
            stored = hold.with_decided(decided)
            conn.execute(
                "INSERT INTO legal_holds (id, placed_at, released_at, has_query, q_kind, q_account_idx, q_phone_idx,"
                " q_from, q_to, doc) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)",
                (hold.id, to_text(hold.placed_at), int(q is not None), q.kind.value if q and q.kind else None,
                 q.customer_account_index if q else None, q.customer_phone_index if q else None,
                 _t(q.received_from) if q else None, _t(q.received_to) if q else None, stored.model_dump_json()))
            conn.executemany("INSERT OR IGNORE INTO legal_hold_items (record_id, hold_id) VALUES (?, ?)",
                             [(rid, hold.id) for rid in hold.record_ids])
            return decided

        return await self._write(insert, events)

    async def hold(self, hold_id: str) -> LegalHold | None:
        row = await self._db.run(lambda c: c.execute("SELECT doc FROM legal_holds WHERE id = ?", (hold_id,)).fetchone())
        return LegalHold.model_validate_json(row[0]) if row else None

    async def holds(self, active_only: bool = False) -> list[LegalHold]:
        sql = "SELECT doc FROM legal_holds" + (" WHERE released_at IS NULL" if active_only else "") + " ORDER BY placed_at DESC, id"
        rows = await self._db.run(lambda c: c.execute(sql).fetchall())
        return [LegalHold.model_validate_json(r[0]) for r in rows]

    async def release_hold(self, hold: LegalHold, events: Sequence[AuditEventDraft] = ()) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("UPDATE legal_holds SET released_at = ?, doc = ? WHERE id = ? AND released_at IS NULL",
                               (_t(hold.released_at), hold.model_dump_json(), hold.id))
            return cur.rowcount == 1

        return await self._write(update, events)

    async def holds_on(self, record_id: str) -> list[str]:
        return await self._db.run(lambda c: _holds_on(c, record_id))

    async def retention_of(self, record_ids: list[str]) -> dict[str, tuple[RetentionAssignment, list[str]]]:
        def load(conn: sqlite3.Connection) -> dict[str, tuple[RetentionAssignment, list[str]]]:
            found = {}
            for rid in dict.fromkeys(record_ids):
                if (a := _get_assignment(conn, rid)) is not None:
                    found[rid] = (a, _holds_on(conn, rid))
            return found

        return await self._db.run(load)

    async def decide_destruction(self, record_id: str) -> list[str]:
        def decide(conn: sqlite3.Connection) -> list[str]:
            key = conn.execute("SELECT doomed_at FROM data_keys WHERE record_id = ?", (record_id,)).fetchone()
            decision = states.decide_destruction(states.key_state(key is not None, key[0] if key else None), _holds_on(conn, record_id))
            if decision.doom:
                conn.execute("UPDATE data_keys SET doomed_at = coalesce(doomed_at, ?) WHERE record_id = ?",
                             (to_text(utcnow()), record_id))
            return decision.refused_by

        return await self._db.run(self._db.transaction(decide))

    # --- batches -------------------------------------------------------------------------------

    async def add_batch(self, batch: DispositionBatch, events: Sequence[AuditEventDraft] = ()) -> None:
        assert batch.id is not None

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO disposition_batches (id, status, created_at, doc) VALUES (?, ?, ?, ?)",
                         (batch.id, batch.status.value, to_text(batch.created_at), _batch_header(batch)))
            _insert_items(conn, batch.id, batch.items)
            for item in batch.items:
                claimed = conn.execute(
                    "UPDATE retention_assignments SET batch_id = ?, doc = json_set(doc, '$.batch_id', ?)"
                    " WHERE record_id = ? AND batch_id IS NULL AND disposed_at IS NULL", (batch.id, batch.id, item.record_id))
                if claimed.rowcount != 1:
                    raise Conflict(f"record {item.record_id} was gathered by another sweep meanwhile; sweep again")

        await self._write(insert, events)

    def _load_batch(self, conn: sqlite3.Connection, batch_id: str, with_items: bool = True) -> DispositionBatch | None:
        row = conn.execute("SELECT doc FROM disposition_batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            return None
        batch = DispositionBatch.model_validate_json(row[0])
        if with_items:
            batch.items = [BatchItem.model_validate_json(r[0]) for r in conn.execute(
                "SELECT doc FROM disposition_items WHERE batch_id = ? ORDER BY position", (batch_id,))]
            batch.progress = batch.summary()
        return batch

    async def batch(self, batch_id: str) -> DispositionBatch | None:
        return await self._db.run(lambda c: self._load_batch(c, batch_id))

    async def batch_progress(self, batch_id: str) -> DispositionBatch | None:
        def load(conn: sqlite3.Connection) -> DispositionBatch | None:
            batch = self._load_batch(conn, batch_id, with_items=False)
            if batch is not None:
                rows = conn.execute("SELECT state, decision, COUNT(*) FROM disposition_items "
                                    "WHERE batch_id = ? GROUP BY 1, 2", (batch_id,)).fetchall()
                batch.progress = progress_of({(state, decision): n for state, decision, n in rows})
            return batch

        return await self._db.run(load)

    async def batch_items(self, batch_id: str, filters: ItemFilter, offset: int, limit: int) -> ItemPage:
        where, args = "batch_id = ?", [batch_id]
        if filters.decision is not None:
            where, args = where + " AND decision = ?", [*args, filters.decision.value]
        if filters.kind is not None:
            where, args = where + " AND kind = ?", [*args, filters.kind.value]
        if filters.reference:  # LIKE ignores the case of ASCII letters, as references are written
            where, args = where + " AND reference LIKE ? ESCAPE '\\'", [*args, _like_prefix(filters.reference)]

        def load(conn: sqlite3.Connection) -> ItemPage:
            matched = conn.execute(f"SELECT COUNT(*) FROM disposition_items WHERE {where}", args).fetchone()[0]
            rows = conn.execute(f"SELECT doc FROM disposition_items WHERE {where} ORDER BY position LIMIT ? OFFSET ?",
                                [*args, limit, offset]).fetchall()
            return ItemPage(items=[BatchItem.model_validate_json(r[0]) for r in rows], matched=matched)

        return await self._db.run(load)

    async def decision_tally(self, batch_id: str, approvals_needed: int) -> DecisionTally:
        def count(conn: sqlite3.Connection) -> DecisionTally:
            row = conn.execute(
                "SELECT COUNT(*), coalesce(SUM(decision = 'pending'), 0),"
                " coalesce(SUM(decision = 'approve' AND staged = 0 AND approvals < :needed), 0),"
                " coalesce(SUM(decision = 'approve'), 0), coalesce(SUM(decision IN ('reject', 'extend')), 0)"
                " FROM disposition_items WHERE batch_id = :batch", {"batch": batch_id, "needed": approvals_needed}).fetchone()
            total, pending, short, approved, kept = row
            return DecisionTally(total=total, pending=pending, short=short, approved=approved - short, kept=kept)

        return await self._db.run(count)

    async def waiting(self, who: Principal, decides_unstaged: bool, batch_id: str | None, limit: int) -> WaitingItems:
        params = {"us": US, "role": who.role.value, "name": who.name, "unstaged": int(decides_unstaged),
                  "batch": batch_id, "limit": limit}
        source = (" FROM disposition_items d JOIN disposition_batches b ON b.id = d.batch_id"
                  f" WHERE b.status = 'open' AND (:batch IS NULL OR d.batch_id = :batch) AND {_WAITS_FOR}")

        def load(conn: sqlite3.Connection) -> WaitingItems:
            total = conn.execute("SELECT COUNT(*)" + source, params).fetchone()[0]
            rows = conn.execute("SELECT d.batch_id, d.doc" + source + " ORDER BY d.retain_until, d.reference, d.batch_id,"
                                " d.record_id LIMIT :limit", params).fetchall() if limit > 0 else []
            return WaitingItems(items=[(r[0], BatchItem.model_validate_json(r[1])) for r in rows], total=total)

        return await self._db.run(load)

    async def batches(self, status: str | None, limit: int) -> list[DispositionBatch]:
        sql = "SELECT doc FROM disposition_batches" + (" WHERE status = ?" if status else "") + " ORDER BY created_at DESC, id LIMIT ?"
        args: list[object] = [status, limit] if status else [limit]
        rows = await self._db.run(lambda c: c.execute(sql, args).fetchall())
        return [DispositionBatch.model_validate_json(r[0]) for r in rows]

    async def update_batch(self, batch: DispositionBatch, expected_status: str, events: Sequence[AuditEventDraft] = ()) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("UPDATE disposition_batches SET status = ?, doc = ? WHERE id = ? AND status = ?",
                               (batch.status.value, _batch_header(batch), batch.id, expected_status))
            return cur.rowcount == 1

        return await self._write(update, events)

    async def decide(self, batch_id: str, items: list[BatchItem], assignments: list[RetentionAssignment],
                     events: Sequence[AuditEventDraft] = ()) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT status FROM disposition_batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None or row[0] != "open":
                return False
            for i in items:
                _update_item(conn, batch_id, i)
            for a in assignments:
                _put_assignment(conn, a)
            return True

        return await self._write(update, events)

    async def claim_item(self, batch_id: str, record_id: str, events: Sequence[AuditEventDraft] = ()) -> str:
        def claim(conn: sqlite3.Connection) -> str:
            row = conn.execute("SELECT doc FROM disposition_items WHERE batch_id = ? AND record_id = ?",
                               (batch_id, record_id)).fetchone()
            if row is None:
                raise states.not_in_batch(batch_id, record_id)
            claim = states.claim(BatchItem.model_validate_json(row[0]), _holds_on(conn, record_id),
                                 _get_assignment(conn, record_id))
            if claim.item is not None:
                _update_item(conn, batch_id, claim.item)
            if claim.assignment is not None:
                _put_assignment(conn, claim.assignment)
            if claim.write_events:
                insert_events(conn, list(events))
            return claim.outcome

        return await self._db.run(self._db.transaction(claim))

    async def release_item(self, batch_id: str, item: BatchItem, assignments: list[RetentionAssignment],
                           events: Sequence[AuditEventDraft] = ()) -> bool:
        released = states.released(item)

        def update(conn: sqlite3.Connection) -> bool:
            if not _update_item(conn, batch_id, released, ItemState.executing):
                return False
            for a in assignments:
                _put_assignment(conn, a)
            conn.execute("UPDATE data_keys SET doomed_at = NULL WHERE record_id = ?", (item.record_id,))  # void
            return True

        return await self._write(update, events)

    async def finish_item(self, batch_id: str, item: BatchItem, tombstone: Tombstone,
                          events: Sequence[AuditEventDraft] = ()) -> bool:
        def finish(conn: sqlite3.Connection) -> bool:
            if not _update_item(conn, batch_id, item.model_copy(update={"state": ItemState.disposed}), ItemState.executing):
                return False
            conn.execute("INSERT OR REPLACE INTO tombstones (record_id, batch_id, doc) VALUES (?, ?, ?)",
                         (tombstone.record_id, batch_id, tombstone.model_dump_json()))
            if (closed := states.closed(_get_assignment(conn, item.record_id), tombstone.destroyed_at)) is not None:
                _put_assignment(conn, closed)
            return True

        return await self._write(finish, events)

    async def tombstone(self, record_id: str) -> Tombstone | None:
        row = await self._db.run(lambda c: c.execute("SELECT doc FROM tombstones WHERE record_id = ?", (record_id,)).fetchone())
        return Tombstone.model_validate_json(row[0]) if row else None

    async def put_tombstone(self, tombstone: Tombstone) -> bool:
        def insert(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("INSERT OR IGNORE INTO tombstones (record_id, batch_id, doc) VALUES (?, ?, ?)",
                               (tombstone.record_id, tombstone.batch_id, tombstone.model_dump_json()))
            if cur.rowcount == 1 and (closed := states.closed(_get_assignment(conn, tombstone.record_id),
                                                               tombstone.destroyed_at)) is not None:
                _put_assignment(conn, closed)
            return cur.rowcount == 1

        return await self._db.run(self._db.transaction(insert))

    # --- certificates --------------------------------------------------------------------------

    async def add_certificate(self, certificate: DestructionCertificate, batch: DispositionBatch,
                              events: Sequence[AuditEventDraft] = ()) -> bool:
        def insert(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("UPDATE disposition_batches SET status = ?, doc = ? WHERE id = ? AND status = 'executing'",
                               (batch.status.value, _batch_header(batch), batch.id))
            if cur.rowcount != 1:
                return False
            conn.execute("INSERT INTO destruction_certificates (id, batch_id, issued_at, doc) VALUES (?, ?, ?, ?)",
                         (certificate.id, certificate.batch_id, to_text(certificate.issued_at), certificate.model_dump_json()))
            conn.execute("UPDATE tombstones SET doc = json_set(doc, '$.certificate_id', ?) WHERE batch_id = ?",
                         (certificate.id, certificate.batch_id))
            return True

        return await self._write(insert, events)

    async def certificate(self, certificate_id: str) -> DestructionCertificate | None:
        row = await self._db.run(lambda c: c.execute(
            "SELECT doc FROM destruction_certificates WHERE id = ?", (certificate_id,)).fetchone())
        return DestructionCertificate.model_validate_json(row[0]) if row else None

    async def certificate_ids(self) -> list[str]:
        rows = await self._db.run(lambda c: c.execute("SELECT id FROM destruction_certificates ORDER BY issued_at, id").fetchall())
        return [r[0] for r in rows]

    async def unlinked_tombstones(self, limit: int) -> list[Tombstone]:
        rows = await self._db.run(lambda c: c.execute(
            "SELECT t.doc FROM tombstones t LEFT JOIN destruction_certificates c"
            " ON c.id = json_extract(t.doc, '$.certificate_id') WHERE c.id IS NULL ORDER BY t.record_id LIMIT ?",
            (limit,)).fetchall())
        return [Tombstone.model_validate_json(r[0]) for r in rows]

    async def restore_evidence(self, batch: DispositionBatch, certificate: DestructionCertificate | None) -> bool:
        assert batch.id is not None

        def restore(conn: sqlite3.Connection) -> bool:
            changed = False
            row = conn.execute("SELECT doc FROM disposition_batches WHERE id = ?", (batch.id,)).fetchone()
            header = _batch_header(batch)
            if row is None or DispositionBatch.model_validate_json(row[0]) != DispositionBatch.model_validate_json(header):
                conn.execute("INSERT INTO disposition_batches (id, status, created_at, doc) VALUES (?, ?, ?, ?)"
                             " ON CONFLICT(id) DO UPDATE SET status = excluded.status, doc = excluded.doc",
                             (batch.id, batch.status.value, to_text(batch.created_at), header))
                conn.execute("DELETE FROM disposition_items WHERE batch_id = ?", (batch.id,))
                _insert_items(conn, batch.id, batch.items)
                changed = True
            if certificate is not None:
                cur = conn.execute("INSERT OR IGNORE INTO destruction_certificates (id, batch_id, issued_at, doc)"
                                   " VALUES (?, ?, ?, ?)", (certificate.id, certificate.batch_id,
                                                            to_text(certificate.issued_at), certificate.model_dump_json()))
                linked = conn.execute(
                    "UPDATE tombstones SET doc = json_set(doc, '$.certificate_id', ?) WHERE batch_id = ?"
                    " AND json_extract(doc, '$.certificate_id') IS NOT ?", (certificate.id, batch.id, certificate.id))
                changed = changed or cur.rowcount == 1 or linked.rowcount > 0
            return changed

        return await self._db.run(self._db.transaction(restore))
