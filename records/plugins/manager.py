"""Building the plugin manager: hookspecs, built-in plugins, then installed entry points."""

from __future__ import annotations

import importlib

import pluggy

from records.plugins import PROJECT, hookspecs

# Built-ins are plugins like any other, so a deployment can replace each one.
BUILTIN_PLUGINS = ("records.plugins.builtin.local_keys",)


def plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if load_entry_points:
        pm.load_setuptools_entrypoints(PROJECT)
    pm.check_pending()
    return pm
