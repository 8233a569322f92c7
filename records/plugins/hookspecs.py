"""Every hook a plugin may implement, with what it is called with and what it returns.

Hooks are called with keyword arguments; signatures only grow. ``docs/plugin_hooks.md``
documents each one with an example (a test fails when a hook is missing there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from records.plugins import hookspec

if TYPE_CHECKING:
    from records.crypto.keyring import KeyEncryptionKeys, LocalKeyring
    from records.settings import RecordsSettings


@hookspec(firstresult=True)
def records_key_provider(settings: RecordsSettings, keyring: LocalKeyring) -> KeyEncryptionKeys | None:
    """Return the provider of key-encryption keys that wraps every record's data key.

    Called once when an installation opens. Return an object implementing
    ``records.crypto.keyring.KeyEncryptionKeys`` (a KMS, Vault transit, an HSM), or None to
    abstain. The first non-None result wins; the built-in implementation, which answers last,
    returns the local ``keyring``. The local keyring still holds the blind-index key and the
    register of destroyed keys whichever provider wraps data keys.
    """
