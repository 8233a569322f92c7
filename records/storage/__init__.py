"""Opening storage from settings. Adapters are imported lazily so that a deployment only needs
the drivers of the adapters it uses."""

from __future__ import annotations

from records.errors import InvalidConfiguration
from records.ports import Storage
from records.settings import RecordsSettings


def open_storage(settings: RecordsSettings) -> Storage:
    """Open (and on first use initialise) the configured store and blob store."""
    if settings.store != "sqlite":
        raise InvalidConfiguration(f"RECORDS_STORE={settings.store!r} is not a known record store (known: sqlite)")
    if settings.blobs != "file":
        raise InvalidConfiguration(f"RECORDS_BLOBS={settings.blobs!r} is not a known blob store (known: file)")
    from records.storage.embedded import EmbeddedStorage

    return EmbeddedStorage.open(settings.data_dir)
