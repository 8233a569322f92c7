"""Installing, switching and removing plugins at run time, and keeping every instance in step.

The installed set and the trust store live in the store (``PluginRepository``), the wheels in
the blob store; each instance reconciles its loaded plugins with them whenever the store's
plugin generation moves (on every API change here, and by polling for changes made elsewhere).
A change is tried on this instance first — load, validate against the hookspecs, rebuild what
plugins declare — and committed only if that works, so a broken plugin is refused, not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import anyio.to_thread
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version
from pydantic import BaseModel, Field

from records.audit.trail import committed, drafts_for_change
from records.clock import utcnow
from records.errors import (
    BuiltinPlugin,
    InvalidConfiguration,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PluginAlreadyInstalled,
    PluginChanged,
    PluginLoadFailed,
    PluginNotFound,
    PluginPackageInvalid,
    PluginPublisherMismatch,
    PluginRequired,
    PluginSignatureInvalid,
    RecordsError,
    TrustedKeyNotFound,
)
from records.plugins.failures import PluginFailure, load_failure
from records.plugins.installed import InstalledPluginLoader
from records.plugins.manager import RecordsPluginManager, plugin_name, same_names
from records.plugins.signing import decode_signature, fingerprint, load_public_key, public_pem, verifies
from records.plugins.wheels import check_wheel
from records.ports import BlobStore, InstalledPlugin, PluginRepository, TrustedKey
from records.roles import Principal
from records.settings import RecordsSettings

log = logging.getLogger("records.plugins")
KEY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")


class PluginInfo(BaseModel):
    name: str = Field(description="Entry point name of a built-in or package plugin; distribution name of an installed one.")
    origin: str = Field(description="`built-in`, `installed` (through the API), `package` (another distribution's entry point) or `registered` in code.")
    distribution: str | None = None
    version: str | None = None
    status: str = Field(description="`active`, `failing` (its hooks raised since start), `disabled`, `blocked` by settings, or `failed` to load.")
    enabled: bool = True
    hooks: list[str] = Field(default_factory=list)
    publisher: str | None = Field(None, description="Installed plugins: the trusted key that signed the wheel.")
    sha256: str | None = None
    installed_at: datetime | None = None
    installed_by: str | None = None
    error: str | None = Field(None, description="Why it is blocked or failed to load.")
    failures: int = Field(0, description="Runtime failures of its hooks since this instance started.")
    last_failure: str | None = Field(
        None, description="The last runtime failure: its hook, the exception's type and the request id "
                          "(`records_classify raised builtins.ValueError (request 3f2a…)`), never the exception's message.")
    last_failure_request_id: str | None = Field(
        None, description="The request the last failure happened in (its `X-Request-Id` and audit event's `request_id`).")
    last_failure_at: datetime | None = None


def _last_failure(failure: PluginFailure | None) -> dict[str, Any]:
    if failure is None:
        return {}
    return {"last_failure": str(failure), "last_failure_request_id": failure.request_id, "last_failure_at": failure.at}


class TrustedKeyInfo(BaseModel):
    name: str
    fingerprint: str
    public_key: str
    added_at: datetime
    added_by: str


def _signer(trusted: list[TrustedKey], signature: bytes, wheel: bytes) -> TrustedKey | None:
    """The trusted publisher whose key verifies the signature over the wheel's bytes, if any."""
    return next((k for k in trusted if verifies(load_public_key(k.public_key), signature, wheel)), None)


def _blob_key(plugin: InstalledPlugin) -> str:
    return f"plugins/{plugin.name}/{plugin.version}-{plugin.sha256[:16]}.whl"


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


class PluginService:
    def __init__(self, pm: RecordsPluginManager, repository: PluginRepository, blobs: BlobStore,
                 loader: InstalledPluginLoader, apply: Callable[[], None], settings: RecordsSettings) -> None:
        self.pm = pm
        self._repo = repository
        self._blobs = blobs
        self._loader = loader
        self._apply = apply
        self._settings = settings
        # Plugins present at start (built-ins, package entry points, registered in code): they can
        # be disabled and enabled again, never uninstalled.
        self._static = dict(pm.list_name_plugin())
        self._failed: dict[str, str] = {}  # installed plugins that failed to load on this instance
        self._lock = asyncio.Lock()
        self._seen = -1
        # Run after the plugin set changed here (an install, an enable, a sync that loaded
        # something): e.g. retention stores the default schedules a new plugin registers.
        self.after_change: list[Callable[[], Awaitable[object]]] = []

    async def _changed(self) -> None:
        for callback in self.after_change:
            try:
                await callback()
            except Exception as exc:  # noqa: BLE001 - the plugin change itself is committed and live
                detail = exc.detail if isinstance(exc, RecordsError) else type(exc).__name__
                log.error("after a plugin change, %s failed: %s", getattr(callback, "__name__", callback), detail)

    # --- keeping in step with the store ------------------------------------------------------

    async def sync(self) -> None:
        async with self._lock:
            await self._sync()

    async def _sync(self) -> None:
        generation = await self._repo.generation()
        if generation == self._seen:
            return
        rows = {p.name: p for p in await self._repo.list_installed()}
        disabled = await self._repo.disabled_builtins()
        for name, plugin in self._static.items():
            registered = self.pm.get_plugin(name) is not None
            if name in disabled and registered:
                self.pm.unregister(name=name)
            elif name not in disabled and not registered:
                self.pm.register(plugin, name=name)
        for name in list(self._loader.loaded):
            row = rows.get(name)
            if row is None or not row.enabled or row.sha256 != self._loader.loaded[name].plugin.sha256:
                self._loader.unload(name)
        for name in list(self._failed):
            if name not in rows or not rows[name].enabled:
                del self._failed[name]
        for name, row in rows.items():
            if row.enabled and name not in self._loader.loaded and self._failed.get(name) != row.sha256:
                try:
                    await self._load(row)
                    self._failed.pop(name, None)
                except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin must never stop the service
                    # Our own refusals say why in words we wrote; the plugin's own exceptions by type only.
                    detail = exc.detail if isinstance(exc, RecordsError) else load_failure(exc)
                    log.error("installed plugin %s left disabled on this instance: %s", name, detail)
                    self._loader.unload(name)
                    self._failed[name] = row.sha256
                    self.pm.status.refused(name, "installed", row.version, "failed", detail)
        try:
            self._apply()
        except InvalidConfiguration as exc:
            log.error("the plugin set from the store is not usable here: %s", exc.detail)
        self._seen = generation
        await self._changed()

    async def prune_unused(self) -> int:
        """Remove unpacked code of versions no longer installed (a crash between an upgrade's
        commit and its clean-up) and half-done unpacks. Only the server calls this, as it starts:
        a CLI command on the same data dir could meet another process's install in flight."""
        async with self._lock:
            rows = await self._repo.list_installed()
            return self._loader.prune({self._loader.path_for(row) for row in rows})

    async def _advance_seen(self) -> None:
        """After committing a change of our own (the lock held, synced just before it): count the
        new generation as seen only if ours is the one change since; otherwise another instance
        changed something meanwhile and the next sync must apply it."""
        generation = await self._repo.generation()
        if generation == self._seen + 1:
            self._seen = generation

    async def _load(self, row: InstalledPlugin) -> None:
        """Load one installed plugin here (fetching its wheel from the blob store if this instance
        has not unpacked it) and check that everything plugins declare still builds."""
        if not self._loader.is_unpacked(row):
            await anyio.to_thread.run_sync(self._loader.unpack, row, await self._fetch(row))
        self._loader.load(row)
        try:
            self._apply()
        except InvalidConfiguration as exc:
            self._loader.unload(row.name)
            self._apply()
            raise PluginLoadFailed(f"plugin {row.display_name} {row.version} breaks the plugin set: {exc.detail}") from None

    async def _fetch(self, row: InstalledPlugin) -> bytes:
        try:
            chunks = [chunk async for chunk in await self._blobs.open(_blob_key(row))]
        except NotFound:
            raise PluginLoadFailed(f"the wheel of {row.display_name} {row.version} is missing from the blob store") from None
        wheel = b"".join(chunks)
        if hashlib.sha256(wheel).hexdigest() != row.sha256:
            raise PluginLoadFailed(f"the stored wheel of {row.display_name} {row.version} does not match its hash: refusing it")
        return wheel

    @staticmethod
    def wheel_key(plugin: InstalledPlugin) -> str:
        return _blob_key(plugin)

    def close(self) -> None:
        """Unload installed plugins: their modules and import paths leave the process with them."""
        for name in list(self._loader.loaded):
            self._loader.unload(name)

    # --- listing -------------------------------------------------------------------------------

    async def list(self) -> list[PluginInfo]:
        await self.sync()
        disabled = await self._repo.disabled_builtins()
        rows = await self._repo.list_installed()
        board = self.pm.status.states
        items: dict[str, PluginInfo] = {}
        for name, plugin in self._static.items():
            state = board.get(name)
            registered = self.pm.get_plugin(name) is not None
            hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or []) if registered else sorted(
                n for n in dir(plugin) if n.startswith("records_") and hasattr(self.pm.hook, n))
            failures = state.failures if state else 0
            items[plugin_name(name)] = PluginInfo(
                name=plugin_name(name), origin=state.origin if state else "registered", distribution=state.distribution if state else None,
                version=state.version if state else None, enabled=name not in disabled, hooks=hooks,
                status="disabled" if name in disabled else ("failing" if failures else "active"),
                failures=failures, **_last_failure(state.last_failure if state else None),
            )
        for name, state in board.items():
            if plugin_name(name) not in items and state.status in ("blocked", "failed") and state.origin != "installed":
                items[plugin_name(name)] = PluginInfo(name=plugin_name(name), origin=state.origin, distribution=state.distribution,
                                         version=state.version, status=state.status, enabled=False, error=state.error)
        for row in rows:
            loaded = self._loader.loaded.get(row.name)
            names = loaded.names if loaded else []
            states = [board[n] for n in names if n in board]
            failures = sum(s.failures for s in states)
            last = max((s for s in states if s.last_failure_at), key=lambda s: s.last_failure_at, default=None)  # type: ignore[arg-type,return-value]
            failed = board.get(row.name) if row.name in self._failed else None
            if not row.enabled:
                status = "disabled"
            elif failed is not None or loaded is None:
                status = "failed"
            else:
                status = "failing" if failures else "active"
            items[row.name] = PluginInfo(
                name=row.name, origin="installed", distribution=row.display_name, version=row.version,
                status=status, enabled=row.enabled,
                hooks=sorted({c.name for n in names for c in self.pm.get_hookcallers(self.pm.get_plugin(n)) or []}),
                publisher=row.publisher, sha256=row.sha256, installed_at=row.installed_at, installed_by=row.installed_by,
                error=failed.error if failed else None, failures=failures,
                **_last_failure(last.last_failure if last else None),
            )
        return [items[n] for n in sorted(items)]

    def _static_named(self, name: str) -> str | None:
        """The registered name of the built-in or package plugin a user calls ``name``, in any spelling."""
        wanted = canonicalize_name(name)
        return next((n for n in self._static if n == name or plugin_name(n) == wanted), None)

    async def get(self, name: str) -> PluginInfo:
        static = self._static_named(name)
        wanted = plugin_name(static) if static else canonicalize_name(name)
        for item in await self.list():
            if item.name == wanted:
                return item
        raise PluginNotFound(f"no plugin is called {name!r}; GET /api/v1/plugins lists them")

    # --- installing ----------------------------------------------------------------------------

    async def install(self, filename: str, wheel: bytes, signature: str | bytes, actor: Principal) -> PluginInfo:
        if len(wheel) > self._settings.max_plugin_bytes:
            raise PayloadTooLarge(f"plugin wheels may be at most {self._settings.max_plugin_bytes} bytes")
        filename = filename.replace("\\", "/").rsplit("/", 1)[-1]
        try:
            key = canonicalize_name(parse_wheel_filename(filename)[0])
        except (InvalidWheelFilename, ValueError) as exc:
            raise PluginPackageInvalid(f"not a wheel file name ({exc}); expected name-version-py3-none-any.whl", field="wheel") from None
        raw_signature = decode_signature(signature)
        async with self._lock:
            await self._sync()
            trusted = await self._repo.list_trusted_keys()
            # The signature is checked before the archive is even opened: untrusted bytes get no parser.
            # Signature, archive checks and unpacking run in a worker thread: hashing and fsyncing a
            # wheel of up to RECORDS_MAX_PLUGIN_BYTES must not stall every other request on this loop.
            publisher = await anyio.to_thread.run_sync(_signer, trusted, raw_signature, wheel)
            if publisher is None:
                raise PluginSignatureInvalid(
                    "the signature does not verify with any trusted publisher key"
                    + ("" if trusted else " (the trust store is empty: an admin adds keys with POST /api/v1/plugins/trusted-keys)")
                )
            if self._static_named(key) is not None or key == "records":
                raise PluginAlreadyInstalled(f"{key} is the name of a built-in or package plugin")
            rows = {p.name: p for p in await self._repo.list_installed()}
            prior = rows.get(key)
            if prior is not None and prior.publisher_fingerprint not in (None, publisher.fingerprint):
                # A distribution belongs to the publisher who first installed it: another trusted
                # team cannot replace its code by uploading a "newer version".
                raise PluginPublisherMismatch(
                    f"{prior.display_name} was installed from key {prior.publisher}; an upgrade must be signed by the same "
                    "key (uninstall it first to hand the name to another publisher)")
            checked = await anyio.to_thread.run_sync(functools.partial(
                check_wheel, filename, wheel, allow_binary=self._settings.plugins_allow_binary,
                installed_modules=frozenset(prior.top_level) if prior else frozenset()))
            if prior is not None and Version(prior.version) >= checked.version:
                raise PluginAlreadyInstalled(
                    f"{prior.display_name} {prior.version} is installed; upload a newer version to upgrade it"
                )
            self._check_selected(checked.key, checked.top_level, checked.entry_points)
            taken = {m: p.name for p in rows.values() if p.name != key for m in p.top_level}
            clash = sorted(set(checked.top_level) & set(taken))
            if clash:
                raise PluginPackageInvalid(f"module {clash[0]} is already provided by the installed plugin {taken[clash[0]]}",
                                           field="wheel")
            now = utcnow()
            row = InstalledPlugin(
                name=key, display_name=checked.name, version=str(checked.version), filename=filename, sha256=checked.sha256,
                publisher=publisher.name, entry_points=checked.entry_points, top_level=checked.top_level,
                enabled=prior.enabled if prior else True, installed_at=prior.installed_at if prior else now,
                installed_by=prior.installed_by if prior else actor.name, updated_at=now,
                publisher_fingerprint=publisher.fingerprint,
            )
            await self._blobs.put(_blob_key(row), _one_chunk(wheel))
            saved: bool | None = False  # None: the commit's outcome is unknown
            try:
                try:
                    await anyio.to_thread.run_sync(self._loader.unpack, row, wheel)
                except OSError as exc:
                    raise PluginPackageInvalid(f"the wheel cannot be unpacked: {type(exc).__name__}: {exc.strerror or exc}",
                                               field="wheel") from None
                self._loader.unload(key)  # the prior version, if loaded
                # Loaded (and its hooks checked against the hookspecs) even when it will stay
                # disabled: code that cannot load is refused now, not when someone enables it.
                await self._load(row)
                if not row.enabled:
                    self._loader.unload(key)
                    self._apply()
                # The event names the bytes installed, who signed them and, for an upgrade, what they replace.
                targets = [f"plugin:{key}", f"plugin_version:{key}=={row.version}", f"sha256:{row.sha256}",
                           f"publisher:{publisher.name}@{publisher.fingerprint}"]
                if prior is not None:
                    targets.append(f"plugin_version:{key}=={prior.version}")
                saved = None
                saved = await self._repo.save_installed(row, prior.stamp if prior else None, drafts_for_change(*targets))
                if not saved:
                    raise PluginChanged(f"{key} was changed through another instance meanwhile; list plugins and try again")
                committed()
            except BaseException:
                # Back to what the store says: the new code unloaded, the prior version (if it was on) reloaded.
                self._loader.unload(key)
                if prior is not None and prior.enabled and saved is False:
                    with contextlib.suppress(Exception):
                        await self._load(prior)
                with contextlib.suppress(InvalidConfiguration):
                    self._apply()
                if saved is False:  # surely not committed: nothing may point at these
                    await self._blobs.delete(_blob_key(row))
                    shutil.rmtree(self._loader.path_for(row), ignore_errors=True)
                else:
                    self._seen = -1  # unknown outcome: reconcile with the store at the next sync
                raise
            self._failed.pop(key, None)
            if prior is not None:
                await self._blobs.delete(_blob_key(prior))
                shutil.rmtree(self._loader.path_for(prior), ignore_errors=True)
            await self._advance_seen()
            await self._changed()
        return await self.get(key)

    # --- switching and removing --------------------------------------------------------------

    async def set_enabled(self, name: str, enabled: bool, actor: Principal) -> PluginInfo:
        async with self._lock:
            await self._sync()
            static = self._static_named(name)
            if static is not None:
                await self._switch_static(static, enabled)
            else:
                await self._switch_installed(canonicalize_name(name), enabled)
            await self._advance_seen()
            if enabled:
                await self._changed()
        return await self.get(name)

    async def _switch_static(self, name: str, enabled: bool) -> None:
        registered = self.pm.get_plugin(name) is not None
        if registered != enabled:
            if enabled:
                self.pm.register(self._static[name], name=name)
            else:
                self.pm.unregister(name=name)
            try:
                self._apply()
            except InvalidConfiguration as exc:
                if enabled:
                    self.pm.unregister(name=name)
                else:
                    self.pm.register(self._static[name], name=name)
                self._apply()
                error = PluginLoadFailed if enabled else PluginRequired
                raise error(f"{'enabling' if enabled else 'disabling'} {plugin_name(name)} would break the plugin set: {exc.detail}") from None
        await self._repo.set_builtin_disabled(name, not enabled, drafts_for_change(f"plugin:{name}"))
        committed()

    async def _switch_installed(self, key: str, enabled: bool) -> None:
        row = next((p for p in await self._repo.list_installed() if p.name == key), None)
        if row is None:
            raise PluginNotFound(f"no plugin is called {key!r}; GET /api/v1/plugins lists them")
        if enabled and key not in self._loader.loaded:
            await self._load(row)
        elif not enabled and key in self._loader.loaded:
            self._unload_checked(row)
        self._failed.pop(key, None)
        if not await self._repo.save_installed(row.model_copy(update={"enabled": enabled, "updated_at": utcnow()}),
                                               row.stamp, drafts_for_change(f"plugin:{key}")):
            self._seen = -1
            raise PluginChanged(f"{key} was changed through another instance meanwhile; list plugins and try again")
        committed()

    def _unload_checked(self, row: InstalledPlugin) -> None:
        self._loader.unload(row.name)
        try:
            self._apply()
        except InvalidConfiguration as exc:
            self._loader.load(row)
            self._apply()
            raise PluginRequired(f"removing {row.display_name} would break the plugin set: {exc.detail}") from None

    async def uninstall(self, name: str, actor: Principal) -> None:
        async with self._lock:
            await self._sync()
            static = self._static_named(name)
            if static is not None:
                shown = plugin_name(static)
                raise BuiltinPlugin(f"{shown} ships with the service: disable it (POST /api/v1/plugins/{shown}/disable)")
            key = canonicalize_name(name)
            row = next((p for p in await self._repo.list_installed() if p.name == key), None)
            if row is None:
                raise PluginNotFound(f"no plugin is called {name!r}; GET /api/v1/plugins lists them")
            if key in self._loader.loaded:
                self._unload_checked(row)
            if not await self._repo.remove_installed(key, row.stamp, drafts_for_change(f"plugin:{key}", f"sha256:{row.sha256}")):
                self._seen = -1
                raise PluginChanged(f"{key} was changed through another instance meanwhile; list plugins and try again")
            committed()
            self._failed.pop(key, None)
            self.pm.status.states.pop(key, None)
            await self._blobs.delete(_blob_key(row))
            self._loader.remove_files(key)
            await self._advance_seen()

    def _check_selected(self, key: str, modules: list[str], entry_points: dict[str, str]) -> None:
        """RECORDS_PLUGINS_BLOCK / _ALLOW bind installed plugins too, by distribution, module or entry point."""
        block = same_names(self._settings.names("plugins_block"))
        allow = same_names(self._settings.names("plugins_allow")) if self._settings.plugins_allow is not None else None
        names = same_names({key, *modules, *entry_points, *(v.split(":")[0].strip() for v in entry_points.values())})
        if names & block:
            raise PluginPackageInvalid(f"{key} is blocked by RECORDS_PLUGINS_BLOCK", field="wheel")
        if allow is not None and not names & allow:
            raise PluginPackageInvalid(f"{key} is not in RECORDS_PLUGINS_ALLOW", field="wheel")

    # --- the trust store ---------------------------------------------------------------------

    async def trusted_keys(self) -> list[TrustedKeyInfo]:
        return [TrustedKeyInfo(**k.model_dump()) for k in await self._repo.list_trusted_keys()]

    async def trust(self, name: str, pem: str, actor: Principal) -> TrustedKeyInfo:
        if not isinstance(name, str) or not KEY_NAME.fullmatch(name):
            raise InvalidInput("name: 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", field="name")
        key = load_public_key(pem)
        trusted = TrustedKey(name=name, public_key=public_pem(key), fingerprint=fingerprint(key), added_at=utcnow(),
                             added_by=actor.name)
        await self._repo.add_trusted_key(trusted, drafts_for_change(f"trusted_key:{name}", f"fingerprint:{trusted.fingerprint}"))
        committed()
        return TrustedKeyInfo(**trusted.model_dump())

    async def distrust(self, name: str, actor: Principal) -> None:
        if not await self._repo.remove_trusted_key(name, drafts_for_change(f"trusted_key:{name}")):
            raise TrustedKeyNotFound(f"no trusted key is called {name!r}")
        committed()
