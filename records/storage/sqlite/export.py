"""The embedded store read part by part as stored (``records.ports.StoreExport``): the source of
``records migrate``. Only reads; each part is one query, its rows in the domain's form."""

from __future__ import annotations

import json
from typing import Any

from records.errors import InvalidInput
from records.ports import ExportedPart
from records.storage.sqlite.database import Database


def _doc(text: str) -> dict[str, Any]:
    return json.loads(text)


# part → (the query that reads it, how a row becomes the part's row). ``doc`` columns hold a
# model's JSON whole; the other columns are what the part's readers need beside it.
_PARTS: dict[str, tuple[str, Any]] = {
    "tokens": ("SELECT secret_hash, name, role, created_at, revoked_at FROM api_tokens ORDER BY created_at, secret_hash",
               lambda r: {"secret_hash": r[0], "name": r[1], "role": r[2], "created_at": r[3], "revoked_at": r[4]}),
    "sequences": ("SELECT name, value FROM sequences ORDER BY name", lambda r: {"name": r[0], "value": int(r[1])}),
    "breaches_reported": ("SELECT record_id, name, breach_reported_at FROM record_deadlines"
                          " WHERE breach_reported_at IS NOT NULL ORDER BY record_id, name",
                          lambda r: {"record_id": r[0], "name": r[1], "at": r[2]}),
    "retention_schedules": ("SELECT doc FROM retention_schedules ORDER BY id, version", lambda r: {"doc": _doc(r[0])}),
    "retention_assignments": ("SELECT doc FROM retention_assignments ORDER BY record_id", lambda r: {"doc": _doc(r[0])}),
    "retention_events": ("SELECT name, record_id, occurred_at FROM retention_events ORDER BY name, record_id",
                         lambda r: {"name": r[0], "record_id": r[1], "occurred_at": r[2]}),
    "legal_holds": ("SELECT doc FROM legal_holds ORDER BY id", lambda r: {"doc": _doc(r[0])}),
    "legal_hold_items": ("SELECT record_id, hold_id FROM legal_hold_items ORDER BY hold_id, record_id",
                         lambda r: {"record_id": r[0], "hold_id": r[1]}),
    "disposition_batches": ("SELECT doc, created_at FROM disposition_batches ORDER BY id",
                            lambda r: {"doc": _doc(r[0]), "created_at": r[1]}),
    "disposition_items": ("SELECT batch_id, position, doc FROM disposition_items ORDER BY batch_id, position",
                          lambda r: {"batch_id": r[0], "position": r[1], "doc": _doc(r[2])}),
    "tombstones": ("SELECT record_id, batch_id, doc FROM tombstones ORDER BY record_id",
                   lambda r: {"record_id": r[0], "batch_id": r[1], "doc": _doc(r[2])}),
    "destruction_certificates": ("SELECT id, batch_id, issued_at, doc FROM destruction_certificates ORDER BY id",
                                 lambda r: {"id": r[0], "batch_id": r[1], "issued_at": r[2], "doc": _doc(r[3])}),
    "retention_floors": ("SELECT doc FROM retention_floors ORDER BY key", lambda r: {"doc": _doc(r[0])}),
    "plugin_installs": ("SELECT name, doc FROM plugin_installs ORDER BY name", lambda r: {"name": r[0], "doc": _doc(r[1])}),
    "plugin_disabled_builtins": ("SELECT name, disabled_at FROM plugin_disabled_builtins ORDER BY name",
                                 lambda r: {"name": r[0], "disabled_at": r[1]}),
    "plugin_trusted_keys": ("SELECT name, fingerprint, doc FROM plugin_trusted_keys ORDER BY name",
                            lambda r: {"name": r[0], "fingerprint": r[1], "doc": _doc(r[2])}),
    "audit_nodes": ("SELECT level, idx, hash FROM audit_nodes ORDER BY level, idx",
                    lambda r: {"level": r[0], "idx": r[1], "hash": bytes(r[2])}),
}
_TABLES = {"breaches_reported": "record_deadlines WHERE breach_reported_at IS NOT NULL", "tokens": "api_tokens",
           "audit_events": "audit_events"}


class SqliteExport:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def export_part(self, name: str) -> ExportedPart:
        if name not in _PARTS:
            raise InvalidInput(f"the embedded store exports no part {name!r}")
        sql, row = _PARTS[name]
        rows = await self._db.read(lambda c: c.execute(sql).fetchall())
        return ExportedPart(name, [row(r) for r in rows])

    async def count(self, name: str) -> int:
        if name not in _PARTS and name not in _TABLES:
            raise InvalidInput(f"the embedded store exports no part {name!r}")
        table = _TABLES.get(name, name)  # a part is the table of its name unless listed
        (n,) = await self._db.read(lambda c: c.execute(f"SELECT count(*) FROM {table}").fetchone())  # table names from _PARTS and _TABLES only
        return int(n)
