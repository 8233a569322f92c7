"""Building the plugin manager: hookspecs, built-in plugins, then installed entry points.

Entry points of group ``records`` load like pluggy's ``load_setuptools_entrypoints`` but one by
one, so that settings can block or allow each by name (its plugin name, or the module it names)
and so that one plugin failing to import or to validate against the hookspecs is reported and
left out while the service starts with the others.

Users see and type one form of a plugin's name, the PEP 503 normalised one pip uses
(``telecom-workflows``, ``local-keys``, ``records-example-escalation``), and any spelling that
normalises the same is accepted. Inside, plugins stay registered under their entry point (or
built-in module) names, which stored state (switched-off built-ins, retention origins) refers to.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Collection

import pluggy
from packaging.utils import canonicalize_name

from records import __version__
from records.plugins import PROJECT, hookspecs
from records.plugins.failures import load_failure
from records.plugins.status import PluginStatusBoard
from records.redaction import traceback_without_messages

log = logging.getLogger("records.plugins")

# Built-ins are plugins like any other, so a deployment can replace each one.
BUILTIN_PLUGINS = ("records.plugins.builtin.local_keys",)


def plugin_name(registered: str) -> str:
    """The name users see and type for a plugin registered as ``registered``: PEP 503 normalised;
    a built-in module (``records.plugins.builtin.local_keys``) by its last part (``local-keys``)."""
    return canonicalize_name(registered.rsplit(".", 1)[-1] if registered in BUILTIN_PLUGINS else registered)


def same_names(names: Collection[str]) -> set[str]:
    """Names as settings and requests may spell them, in the one form they are compared in."""
    return {canonicalize_name(name) for name in names}


class RecordsPluginManager(pluggy.PluginManager):
    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.status = PluginStatusBoard()


def _selected(names: Collection[str], block: Collection[str], allow: Collection[str] | None) -> tuple[bool, str]:
    names = same_names(names)
    if names & same_names(block):
        return False, "blocked by RECORDS_PLUGINS_BLOCK"
    if allow is not None and not names & same_names(allow):
        return False, "not in RECORDS_PLUGINS_ALLOW"
    return True, ""


def _register(pm: RecordsPluginManager, plugin: object, name: str) -> str | None:
    """Register and validate one plugin; on any failure leave it out and say why."""
    try:
        pm.register(plugin, name=name)
        pm.check_pending()
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the service
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)
        return f"{type(exc).__name__}: {exc}"
    return None


def plugin_manager(
    load_entry_points: bool = True, block: Collection[str] = (), allow: Collection[str] | None = None
) -> RecordsPluginManager:
    pm = RecordsPluginManager()
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        selected, why = _selected({name, plugin_name(name)}, block, allow if allow is None else {*allow, *BUILTIN_PLUGINS})
        if not selected:
            pm.status.refused(name, "built-in", None, "blocked", why)
            continue
        pm.register(importlib.import_module(name), name=name)
        pm.status.loaded(name, "built-in", __version__, "records")
    if load_entry_points:
        for ep in importlib.metadata.entry_points(group=PROJECT):
            dist = ep.dist
            distribution, version = (dist.name, dist.version) if dist is not None else (None, None)
            # Entry points of this very distribution are its built-in plugins (records_telecom).
            origin = "built-in" if distribution == "records" else "package"
            if pm.get_plugin(ep.name) is not None or ep.name in pm.status.states:
                continue  # the same entry point seen twice on sys.path
            selected, why = _selected({ep.name, plugin_name(ep.name), ep.value.split(":")[0]}, block, allow)
            if not selected:
                pm.status.refused(ep.name, origin, version, "blocked", why, distribution)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - report, start without it
                log.error("plugin %s failed to load\n%s", ep.name, traceback_without_messages(exc))
                pm.status.refused(ep.name, origin, version, "failed", load_failure(exc), distribution)
                continue
            error = _register(pm, plugin, ep.name)
            if error is not None:
                log.error("plugin %s left out: %s", ep.name, error)
                pm.status.refused(ep.name, origin, version, "failed", error, distribution)
            else:
                pm.status.loaded(ep.name, origin, version, distribution)
    pm.check_pending()
    return pm

