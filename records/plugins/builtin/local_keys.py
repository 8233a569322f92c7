"""The local keyring as the default key provider (the embedded default)."""

from __future__ import annotations

from records.crypto.keyring import KeyEncryptionKeys, LocalKeyring
from records.plugins import hookimpl
from records.settings import RecordsSettings


@hookimpl(trylast=True)
def records_key_provider(settings: RecordsSettings, keyring: LocalKeyring) -> KeyEncryptionKeys:
    return keyring
