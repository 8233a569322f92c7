"""Installed plugins and trusted publisher keys on SQLite; the ``sequences`` row ``plugins`` is
the generation every change bumps, which instances poll to reconcile."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from records.audit.events import AuditEventDraft
from records.clock import to_text, utcnow
from records.errors import TrustedKeyExists
from records.ports import InstalledPlugin, TrustedKey
from records.storage.sqlite.audit import insert_events
from records.storage.sqlite.database import Database


def _bump(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO sequences (name, value) VALUES ('plugins', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1")


def _stamp(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT doc FROM plugin_installs WHERE name = ?", (name,)).fetchone()
    return InstalledPlugin.model_validate_json(row[0]).stamp if row else None


class SqlitePluginRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def generation(self) -> int:
        row = await self._db.run(lambda c: c.execute("SELECT value FROM sequences WHERE name = 'plugins'").fetchone())
        return int(row[0]) if row else 0

    async def list_installed(self) -> list[InstalledPlugin]:
        rows = await self._db.run(lambda c: c.execute("SELECT doc FROM plugin_installs ORDER BY name").fetchall())
        return [InstalledPlugin.model_validate_json(r[0]) for r in rows]

    async def save_installed(self, plugin: InstalledPlugin, expected: str | None,
                             events: Sequence[AuditEventDraft] = ()) -> bool:
        def save(conn: sqlite3.Connection) -> bool:
            if _stamp(conn, plugin.name) != expected:
                return False
            conn.execute(
                "INSERT INTO plugin_installs (name, doc) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET doc = excluded.doc",
                (plugin.name, plugin.model_dump_json()),
            )
            _bump(conn)
            insert_events(conn, list(events))
            return True

        return await self._db.run(self._db.transaction(save))

    async def remove_installed(self, name: str, expected: str, events: Sequence[AuditEventDraft] = ()) -> bool:
        def remove(conn: sqlite3.Connection) -> bool:
            if _stamp(conn, name) != expected:
                return False
            conn.execute("DELETE FROM plugin_installs WHERE name = ?", (name,))
            _bump(conn)
            insert_events(conn, list(events))
            return True

        return await self._db.run(self._db.transaction(remove))

    async def disabled_builtins(self) -> set[str]:
        rows = await self._db.run(lambda c: c.execute("SELECT name FROM plugin_disabled_builtins").fetchall())
        return {r[0] for r in rows}

    async def set_builtin_disabled(self, name: str, disabled: bool, events: Sequence[AuditEventDraft] = ()) -> None:
        def switch(conn: sqlite3.Connection) -> None:
            if disabled:
                conn.execute("INSERT OR IGNORE INTO plugin_disabled_builtins (name, disabled_at) VALUES (?, ?)",
                             (name, to_text(utcnow())))
            else:
                conn.execute("DELETE FROM plugin_disabled_builtins WHERE name = ?", (name,))
            _bump(conn)
            insert_events(conn, list(events))

        await self._db.run(self._db.transaction(switch))

    async def list_trusted_keys(self) -> list[TrustedKey]:
        rows = await self._db.run(lambda c: c.execute("SELECT doc FROM plugin_trusted_keys ORDER BY name").fetchall())
        return [TrustedKey.model_validate_json(r[0]) for r in rows]

    async def add_trusted_key(self, key: TrustedKey, events: Sequence[AuditEventDraft] = ()) -> None:
        def add(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("INSERT INTO plugin_trusted_keys (name, fingerprint, doc) VALUES (?, ?, ?)",
                             (key.name, key.fingerprint, key.model_dump_json()))
            except sqlite3.IntegrityError:
                raise TrustedKeyExists(f"a trusted key named {key.name!r} or with fingerprint {key.fingerprint} exists") from None
            _bump(conn)
            insert_events(conn, list(events))

        await self._db.run(self._db.transaction(add))

    async def remove_trusted_key(self, name: str, events: Sequence[AuditEventDraft] = ()) -> bool:
        def remove(conn: sqlite3.Connection) -> bool:
            if conn.execute("DELETE FROM plugin_trusted_keys WHERE name = ?", (name,)).rowcount != 1:
                return False
            _bump(conn)
            insert_events(conn, list(events))
            return True

        return await self._db.run(self._db.transaction(remove))
