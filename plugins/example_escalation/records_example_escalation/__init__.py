"""An example plugin for records: see docs/plugin_authoring.md."""

__version__ = "1.0.0"
