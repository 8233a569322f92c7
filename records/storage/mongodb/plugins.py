"""Installed plugins and trusted publisher keys on MongoDB. The ``sequences`` counter
``counter:plugins`` (the SQLite ``plugins`` row after ``records migrate``) is the generation
every change bumps in its transaction; instances poll it to reconcile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from records.audit.events import AuditEventDraft
from records.clock import to_text, utcnow
from records.errors import TrustedKeyExists
from records.ports import InstalledPlugin, TrustedKey
from records.storage.mongodb.audit import insert_events
from records.storage.mongodb.database import MongoDatabase
from records.storage.mongodb.documents import (
    PluginDisabledBuiltinDocument,
    PluginInstallDocument,
    TrustedKeyDocument,
    stored,
)

GENERATION = "counter:plugins"


class MongoPluginRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._installs = db.collection("plugin_installs")
        self._builtins = db.collection("plugin_disabled_builtins")
        self._keys = db.collection("plugin_trusted_keys")

    async def _bump(self, events: Sequence[AuditEventDraft], session: Any) -> None:
        await self._db.collection("sequences").update_one({"_id": GENERATION}, {"$inc": {"value": 1}}, upsert=True,
                                                          session=session)
        await insert_events(self._db, list(events), session)

    async def generation(self) -> int:
        found = await self._db.read(lambda: self._db.collection("sequences").find_one({"_id": GENERATION}))
        return int(found["value"]) if found else 0

    async def list_installed(self) -> list[InstalledPlugin]:
        rows = await self._db.read(lambda: PluginInstallDocument.find_all().sort("+_id").to_list())
        return [InstalledPlugin.model_validate(r.doc) for r in rows]

    async def _stamp(self, name: str, session: Any) -> str | None:
        found = await self._installs.find_one({"_id": name}, session=session)
        return InstalledPlugin.model_validate(found["doc"]).stamp if found else None

    async def save_installed(self, plugin: InstalledPlugin, expected: str | None,
                             events: Sequence[AuditEventDraft] = ()) -> bool:
        async def save(session: Any) -> bool:
            if await self._stamp(plugin.name, session) != expected:
                return False
            await self._installs.replace_one(
                {"_id": plugin.name}, stored(PluginInstallDocument(id=plugin.name, doc=plugin.model_dump(mode="json"))),
                upsert=True, session=session)
            await self._bump(events, session)
            return True

        return await self._db.transaction(save)

    async def remove_installed(self, name: str, expected: str, events: Sequence[AuditEventDraft] = ()) -> bool:
        async def remove(session: Any) -> bool:
            if await self._stamp(name, session) != expected:
                return False
            if (await self._installs.delete_one({"_id": name}, session=session)).deleted_count != 1:
                return False
            await self._bump(events, session)
            return True

        return await self._db.transaction(remove)

    async def disabled_builtins(self) -> set[str]:
        rows = await self._db.read(lambda: PluginDisabledBuiltinDocument.find_all().to_list())
        return {r.id for r in rows}

    async def set_builtin_disabled(self, name: str, disabled: bool, events: Sequence[AuditEventDraft] = ()) -> None:
        async def switch(session: Any) -> None:
            if disabled:
                await self._builtins.update_one({"_id": name}, {"$setOnInsert": {"disabled_at": to_text(utcnow())}},
                                                upsert=True, session=session)
            else:
                await self._builtins.delete_one({"_id": name}, session=session)
            await self._bump(events, session)

        await self._db.transaction(switch)

    async def list_trusted_keys(self) -> list[TrustedKey]:
        rows = await self._db.read(lambda: TrustedKeyDocument.find_all().sort("+_id").to_list())
        return [TrustedKey.model_validate(r.doc) for r in rows]

    async def add_trusted_key(self, key: TrustedKey, events: Sequence[AuditEventDraft] = ()) -> None:
        from pymongo.errors import DuplicateKeyError

        async def add(session: Any) -> None:
            # The unique indexes (_id: the name; trusted_keys_fingerprint_unique) refuse a second copy.
            await self._keys.insert_one(
                stored(TrustedKeyDocument(id=key.name, fingerprint=key.fingerprint, doc=key.model_dump(mode="json"))),
                session=session)
            await self._bump(events, session)

        await self._db.ready()
        try:
            await self._db.transaction(add)
        except DuplicateKeyError:
            raise TrustedKeyExists(f"a trusted key named {key.name!r} or with fingerprint {key.fingerprint} exists") from None

    async def remove_trusted_key(self, name: str, events: Sequence[AuditEventDraft] = ()) -> bool:
        async def remove(session: Any) -> bool:
            if (await self._keys.delete_one({"_id": name}, session=session)).deleted_count != 1:
                return False
            await self._bump(events, session)
            return True

        return await self._db.transaction(remove)
