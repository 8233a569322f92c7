"""One opened installation: storage, keyring and the services over them.

The API server and every CLI command open the data dir through here, so the same checks run
everywhere: the keyring matches the data, and the register of destroyed keys is enforced
(a database restored or copied from an older backup loses the keys destroyed since).
"""

from __future__ import annotations

from dataclasses import dataclass

import pluggy

from records.audit.service import AuditService
from records.classification import SchemeRegistry, classifier
from records.crypto.blind_index import BlindIndex
from records.crypto.keyring import LocalKeyring, parse_master_key
from records.crypto.sealing import RecordSealer
from records.crypto.shredding import DestroyedKeyRegister
from records.errors import InvalidConfiguration, KeyUnavailable
from records.plugins.manager import plugin_manager
from records.ports import Storage
from records.services.keys import RecordKeys
from records.services.personal_data import PersonalDataPolicy
from records.services.records import RecordService
from records.services.tokens import TokenService
from records.settings import RecordsSettings
from records.storage import open_storage
from records.workflow import WorkflowRegistry
from records.retention.registry import registered_schedules, retention_policy
from records.retention.service import RetentionService
from records.retention.tombstones import TombstoneRegister


def _transfer_hook(plugins: pluggy.PluginManager):  # type: ignore[no-untyped-def]
    """The ``records_deliver_transfer`` hook, when a plugin implements it."""
    if not plugins.hook.records_deliver_transfer.get_hookimpls():
        return None
    return lambda **kw: plugins.hook.records_deliver_transfer(**kw)


def _workflows(plugins: pluggy.PluginManager) -> WorkflowRegistry:
    try:
        return WorkflowRegistry.from_plugins(plugins.hook)
    except ValueError as exc:
        raise InvalidConfiguration(f"workflow plugins: {exc}") from None


@dataclass
class Installation:
    settings: RecordsSettings
    storage: Storage
    keyring: LocalKeyring
    keys: RecordKeys
    records: RecordService
    tokens: TokenService
    audit: AuditService | None = None
    plugins: pluggy.PluginManager | None = None
    schemes: SchemeRegistry | None = None
    destroyed_again: int = 0  # keys the register named that were found (restored) and erased on open
    retention: RetentionService | None = None

    @classmethod
    async def open(cls, settings: RecordsSettings, plugins: pluggy.PluginManager | None = None) -> Installation:
        plugins = plugins or plugin_manager()
        storage = open_storage(settings)
        try:
            keyring = await cls._open_keyring(settings, storage)
            keks = plugins.hook.records_key_provider(settings=settings, keyring=keyring)
            keys = RecordKeys(keks, storage.data_keys, DestroyedKeyRegister(keyring.directory))
            destroyed_again = await keys.enforce_register(storage.records)
            workflows = _workflows(plugins)
        except BaseException:
            await storage.close()
            raise
        records = RecordService(
            storage.records,
            storage.blobs,
            storage.tokens,
            keys,
            RecordSealer(BlindIndex(keyring.index_key)),
            PersonalDataPolicy(settings.roles("identity_roles"), settings.roles("reveal_roles")),
            workflows,
            classifier(plugins),
            settings.page_size_default,
            settings.page_size_max,
        )
        audit_dir = settings.data_dir / "audit"
        audit_dir.mkdir(mode=0o700, exist_ok=True)
        audit = AuditService(storage.audit, keyring, audit_dir / "checkpoints.jsonl")
        retention = RetentionService(
            storage.retention, records, storage.records, storage.blobs, audit, keyring, BlindIndex(keyring.index_key),
            TombstoneRegister(keyring.directory), retention_policy(settings), _transfer_hook(plugins))
        records.archive_listeners.append(retention.on_archived)
        records.destruction_gate = retention.destruction_gate
        records.disposal_check = retention.raise_if_disposed
        try:
            await retention.seed_schedules(registered_schedules(plugins))
            await retention.enforce_tombstones()  # a restored backup gets its tombstones back
        except BaseException:
            await storage.close()
            raise
        return cls(settings, storage, keyring, keys, records, TokenService(storage.tokens), audit, plugins,
                   SchemeRegistry.from_plugins(plugins.hook), destroyed_again, retention)

    @staticmethod
    async def _open_keyring(settings: RecordsSettings, storage: Storage) -> LocalKeyring:
        directory = settings.keyring_path
        if not (directory / LocalKeyring.FILE).exists() and await storage.data_keys.count_by_kek():
            # A fresh keyring could never open these data keys: refuse rather than create one.
            raise KeyUnavailable(
                f"the keyring {directory} is missing but the store holds encrypted records; restore the keyring"
            )
        master = parse_master_key(settings.master_key.get_secret_value()) if settings.master_key else None
        return LocalKeyring.open(directory, master)

    async def close(self) -> None:
        await self.storage.close()
