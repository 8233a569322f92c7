"""Plugins: the hook specifications (``records.plugins.hookspecs``) and the plugin manager.

Plugin authors import the marker from the package root: ``from records import hookimpl``.
"""

import pluggy

PROJECT = "records"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
