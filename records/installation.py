"""One opened installation: storage, keyring and the services over them.

The API server and every CLI command open the data dir through here, so the same checks run
everywhere: the keyring matches the data, and the register of destroyed keys is enforced
(a database restored or copied from an older backup loses the keys destroyed since).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pluggy

from records.audit.locked import LockedCheckpoints
from records.audit.service import AuditService
from records.classification import SchemeRegistry, classifier
from records.crypto.blind_index import BlindIndex
from records.crypto.keyring import LocalKeyring, parse_master_key
from records.crypto.sealing import RecordSealer
from records.crypto.shredding import DestroyedKeyRegister
from records.errors import KeyUnavailable
from records.lifecycle import Notifier
from records.plugins.installed import InstalledPluginLoader
from records.plugins.manager import RecordsPluginManager, plugin_manager
from records.plugins.status import PluginStatusBoard
from records.ports import LockingBlobStore, Storage
from records.registries import PluginRegistries, RegistriesInForce
from records.retention.registry import registered_schedules, retention_policy
from records.retention.service import RetentionService
from records.retention.tombstones import TombstoneRegister
from records.services.keys import RecordKeys
from records.services.lookups import IdentifierLookups
from records.services.metrics import MetricService
from records.services.personal_data import MaskedAttachments, PersonalDataPolicy
from records.services.plugins import PluginService
from records.services.records import RecordService
from records.services.tokens import TokenService
from records.settings import RecordsSettings
from records.storage import open_storage
from records.validation import validator


def _transfer_hook(plugins: pluggy.PluginManager):  # type: ignore[no-untyped-def]
    """The ``records_deliver_transfer`` hook, when a plugin implements it."""
    if not plugins.hook.records_deliver_transfer.get_hookimpls():
        return None
    return lambda **kw: plugins.hook.records_deliver_transfer(**kw)


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
    registries: RegistriesInForce | None = None
    destroyed_again: int = 0  # keys the register named that were found (restored) and erased on open
    metrics: MetricService | None = None
    notifier: Notifier | None = None
    plugin_service: PluginService | None = None
    retention: RetentionService | None = None

    @classmethod
    async def open(cls, settings: RecordsSettings, plugins: pluggy.PluginManager | None = None) -> Installation:
        plugins = plugins or plugin_manager(block=settings.names("plugins_block"),
                                            allow=settings.names("plugins_allow") if settings.plugins_allow is not None else None)
        # Plugin declarations first: a configuration mistake is refused before any data is opened.
        registries = RegistriesInForce(PluginRegistries.build(plugins, settings))
        storage = open_storage(settings)
        try:
            keyring = await cls._open_keyring(settings, storage)
            keks = plugins.hook.records_key_provider(settings=settings, keyring=keyring)
            keys = RecordKeys(keks, storage.data_keys, DestroyedKeyRegister(keyring.directory))
            destroyed_again = await keys.enforce_register(storage.records)
        except BaseException:
            await storage.close()
            raise
        status = getattr(plugins, "status", None) or PluginStatusBoard()
        notifier = Notifier(plugins, status)
        records = RecordService(
            storage.records,
            storage.blobs,
            storage.tokens,
            keys,
            RecordSealer(BlindIndex(keyring.index_key)),
            PersonalDataPolicy(settings.roles("identity_roles"), settings.roles("reveal_roles"),
                               MaskedAttachments(settings.masked_attachments)),
            registries,
            classifier(plugins),
            settings.page_size_default,
            settings.page_size_max,
            notifier,
            validator(plugins),
            timedelta(seconds=settings.due_soon_seconds),
        )
        records.lookups = IdentifierLookups(
            BlindIndex(keyring.index_key), settings.roles("identity_roles"), settings.roles("lookup_roles"),
            settings.lookup_limit, settings.lookup_window_seconds)
        audit_dir = settings.data_dir / "audit"
        audit_dir.mkdir(mode=0o700, exist_ok=True)
        # A sealer that stops renewing (crashed, partitioned) hands over after a few seal periods.
        locked = None
        if isinstance(storage.blobs, LockingBlobStore):
            locked = LockedCheckpoints(storage.blobs, settings.audit_lock_publish_seconds,
                                       timedelta(days=settings.audit_lock_retention_days))
        audit = AuditService(storage.audit, keyring, audit_dir / "checkpoints.jsonl", storage.leases,
                             lease_seconds=max(15.0, 5 * settings.audit_seal_seconds), locked=locked)
        installation = cls(settings, storage, keyring, keys, records, TokenService(storage.tokens), audit, plugins,
                           registries, destroyed_again, MetricService(storage.records, registries), notifier)
        retention = RetentionService(
            storage.retention, records, storage.records, storage.blobs, audit, keyring, TombstoneRegister(keyring.directory),
            retention_policy(settings), _transfer_hook(plugins), check_codes=registries.check_codes)
        # Retention wraps the record service it is built over: told of every archiving, in every
        # destruction (a legal hold wins on every path) and answering for disposed records.
        records.archive_listeners.append(retention.on_archived)
        records.destruction_gate = retention.destruction_gate
        records.disposal_check = retention.raise_if_disposed
        installation.retention = retention
        try:
            if isinstance(plugins, RecordsPluginManager):
                installation.plugin_service = PluginService(
                    plugins, storage.plugins, storage.blobs, InstalledPluginLoader(plugins, settings.data_dir / "plugins"),
                    installation.apply_plugins, settings,
                )
                await installation.plugin_service.sync()  # installed plugins, and built-ins switched off

                async def seed_default_schedules() -> None:
                    await retention.seed_schedules(registered_schedules(plugins))

                # A plugin installed or enabled at run time brings its default schedules at once
                # (registered after the first sync: the seed below does it at start, and raises).
                installation.plugin_service.after_change.append(seed_default_schedules)
            await retention.seed_schedules(registered_schedules(plugins))
            await retention.enforce_tombstones()  # a restored backup gets its tombstones back
            await retention.enforce_evidence()  # ... and its batches' decisions and certificates
        except BaseException:
            await installation.close()
            raise
        return installation

    def apply_plugins(self) -> None:
        """Rebuild everything plugins declare from the plugins registered now, and switch to it.
        Raises ``InvalidConfiguration`` (and switches nothing) when that set is not usable."""
        assert self.plugins is not None and self.registries is not None
        self.registries.swap(PluginRegistries.build(self.plugins, self.settings))

    @property
    def schemes(self) -> SchemeRegistry | None:
        """The classification schemes in force."""
        return self.registries.schemes if self.registries is not None else None

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
        if self.plugin_service is not None:
            self.plugin_service.close()
        if self.audit is not None:
            await self.audit.resign()
        if self.notifier is not None:
            await self.notifier.drain()
            self.notifier.close()
        await self.storage.close()
