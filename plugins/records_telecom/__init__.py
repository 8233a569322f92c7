"""The telecom operator's customer-service specification (../shared/SPEC.md) as plugins.

Each module is its own plugin, loaded through the ``records`` entry-point group exactly as a
third-party plugin is, so a deployment can block or replace any of them.
"""
