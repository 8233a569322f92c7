"""Loading and unloading plugins installed through the API, without restarting.

Each installed version is unpacked into its own directory under ``<data dir>/plugins`` (never
into the service's site-packages) and appended to ``sys.path``, so it cannot shadow a module the
service uses (the wheel check refuses that too). Its entry points of group ``records`` register
with pluggy as ``<distribution>/<entry point>``, so no two plugins' names can collide. Unloading
unregisters them, forgets their modules and takes the directory off ``sys.path``, so an upgrade
imports the new code, not the cached old one.
"""

from __future__ import annotations

import importlib
import io
import os
import shutil
import sys
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pluggy

from records.durable import fsync_dir
from records.errors import PluginLoadFailed
from records.plugins.failures import load_failure
from records.plugins.manager import RecordsPluginManager
from records.plugins.wheels import NOT_INSTALLABLE_HOOKS
from records.ports import InstalledPlugin


class _NotLoadable(Exception):
    """A wheel whose code imported but that this service refuses to register."""


@dataclass
class LoadedPlugin:
    plugin: InstalledPlugin
    path: Path
    names: list[str]  # pluggy names of its registered entry points


def pluggy_name(plugin: InstalledPlugin, entry_point: str) -> str:
    return f"{plugin.name}/{entry_point}"


class InstalledPluginLoader:
    def __init__(self, pm: RecordsPluginManager, directory: Path) -> None:
        self.pm = pm
        self.directory = directory
        self.loaded: dict[str, LoadedPlugin] = {}

    def path_for(self, plugin: InstalledPlugin) -> Path:
        return self.directory / plugin.name / f"{plugin.version}-{plugin.sha256[:16]}"

    def is_unpacked(self, plugin: InstalledPlugin) -> bool:
        return self.path_for(plugin).is_dir()

    def unpack(self, plugin: InstalledPlugin, wheel: bytes) -> Path:
        """Unpack the (already checked) wheel into its own directory, atomically: a crash leaves a
        temporary directory that the next unpack replaces, never a half-filled plugin."""
        target = self.path_for(plugin)
        if target.is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = target.parent / f".unpacking-{uuid.uuid4().hex}"
        try:
            with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
                for info in archive.infolist():
                    destination = staging / info.filename
                    # The wheel check refused unsafe names; this re-check costs nothing.
                    if not destination.resolve().is_relative_to(staging.resolve()):
                        raise PluginLoadFailed(f"unsafe path {info.filename!r}")
                    if info.is_dir():
                        destination.mkdir(parents=True, exist_ok=True)
                        continue
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with open(destination, "xb") as out:
                        out.write(archive.read(info))
                        out.flush()
                        os.fsync(out.fileno())  # a power cut must not leave a renamed dir of empty files
                    fsync_dir(destination.parent)
            try:
                staging.rename(target)
            except OSError:
                if not target.is_dir():  # another process unpacked the same version first: theirs is as good
                    raise
                shutil.rmtree(staging, ignore_errors=True)
            fsync_dir(target.parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def prune(self, keep: set[Path]) -> int:
        """Remove unpacked versions nothing uses (an upgrade killed after its commit left the old
        one) and staging directories an interrupted unpack left; returns how many."""
        removed = 0
        if not self.directory.is_dir():
            return 0
        for plugin_dir in self.directory.iterdir():
            if not plugin_dir.is_dir():
                continue
            for version_dir in plugin_dir.iterdir():
                if version_dir not in keep:
                    shutil.rmtree(version_dir, ignore_errors=True)
                    removed += 1
            if not any(plugin_dir.iterdir()):
                plugin_dir.rmdir()
        return removed

    def remove_files(self, name: str) -> None:
        shutil.rmtree(self.directory / name, ignore_errors=True)

    def load(self, plugin: InstalledPlugin) -> LoadedPlugin:
        """Import and register every entry point; all or nothing. Raises ``PluginLoadFailed``."""
        path = self.path_for(plugin)
        sys.path.append(str(path))
        importlib.invalidate_caches()
        registered: list[str] = []
        try:
            for entry_point, target in plugin.entry_points.items():
                module_name, _, attribute = target.partition(":")
                obj: object = importlib.import_module(module_name.strip())
                for part in filter(None, attribute.strip().split(".")):
                    obj = getattr(obj, part)
                name = pluggy_name(plugin, entry_point)
                if self.pm.get_plugin(name) is not None:
                    raise _NotLoadable(f"a plugin called {name} is already registered")
                self.pm.register(obj, name=name)
                registered.append(name)
                self.pm.check_pending()  # a hook no hookspec declares: refused now, not ignored
                hooks = {caller.name for caller in self.pm.get_hookcallers(obj) or []}
                refused = sorted(hooks & set(NOT_INSTALLABLE_HOOKS))
                if refused:
                    raise _NotLoadable(f"implements {', '.join(refused)}, which only a deployed plugin may (it runs at start-up)")
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of foreign code is the plugin's, reported by name
            for name in registered:
                self.pm.unregister(name=name)
            self._forget(plugin, path)
            # Our refusals and pluggy's hook checks say why in their own words; the plugin's code by type.
            why = str(exc) if isinstance(exc, (_NotLoadable, pluggy.PluginValidationError)) else load_failure(exc)
            raise PluginLoadFailed(f"plugin {plugin.display_name} {plugin.version} failed to load: {why}") from None
        loaded = LoadedPlugin(plugin, path, registered)
        self.loaded[plugin.name] = loaded
        for name in registered:
            self.pm.status.loaded(name, "installed", plugin.version)
        return loaded

    def unload(self, name: str) -> None:
        loaded = self.loaded.pop(name, None)
        if loaded is None:
            return
        for pluggy_name_ in loaded.names:
            if self.pm.get_plugin(pluggy_name_) is not None:
                self.pm.unregister(name=pluggy_name_)
            self.pm.status.states.pop(pluggy_name_, None)
        self._forget(loaded.plugin, loaded.path)

    @staticmethod
    def _forget(plugin: InstalledPlugin, path: Path) -> None:
        for module in list(sys.modules):
            if module.split(".")[0] in plugin.top_level:
                del sys.modules[module]
        while str(path) in sys.path:
            sys.path.remove(str(path))
        importlib.invalidate_caches()
