"""Opening storage from settings. Adapters are imported lazily so that a deployment only needs
the drivers of the adapters it uses (beanie/pymongo for MongoDB, minio for S3: the `production`
extra)."""

from __future__ import annotations

from records.errors import InvalidConfiguration, MissingDependency
from records.ports import BlobStore, Storage
from records.settings import RecordsSettings


def _driver_missing(what: str, exc: ImportError) -> MissingDependency:
    missing = f"{exc.name} is not installed" if exc.name else str(exc)
    return MissingDependency(f"{what} needs the production extra ({missing}): pip install 'records[production]'")


def open_blobs(settings: RecordsSettings) -> BlobStore | None:
    """The S3 blob store when configured; None means blobs on local disk under the data dir."""
    if settings.blobs == "file":
        return None
    if not settings.blobs.startswith("s3://"):
        raise InvalidConfiguration(f"RECORDS_BLOBS={settings.blobs!r} is not a known blob store (known: file, s3://BUCKET)")
    try:
        from records.storage.s3 import S3BlobStore, bucket_name
    except ImportError as exc:
        raise _driver_missing("RECORDS_BLOBS=s3://…", exc) from None
    if settings.s3_endpoint is None or settings.s3_access_key is None or settings.s3_secret_key is None:
        raise InvalidConfiguration("RECORDS_BLOBS=s3://… needs RECORDS_S3_ENDPOINT, RECORDS_S3_ACCESS_KEY and RECORDS_S3_SECRET_KEY")
    try:
        # The adapter imports minio when it is constructed, not when its module is imported.
        return S3BlobStore(settings.s3_endpoint, bucket_name(settings.blobs), settings.s3_access_key,
                           settings.s3_secret_key.get_secret_value(), settings.s3_secure, settings.s3_lock_mode)
    except ImportError as exc:
        raise _driver_missing("RECORDS_BLOBS=s3://…", exc) from None


def open_storage(settings: RecordsSettings) -> Storage:
    """Open (and on first use initialise) the configured store and blob store."""
    if settings.store != "sqlite" and not settings.store.startswith(("mongodb://", "mongodb+srv://")):
        raise InvalidConfiguration(f"RECORDS_STORE={settings.store!r} is not a known record store (known: sqlite, mongodb://…)")
    blobs = open_blobs(settings)
    if settings.store == "sqlite":
        from records.storage.embedded import EmbeddedStorage

        return EmbeddedStorage.open(settings.data_dir, blobs)
    try:
        from records.storage.mongodb.storage import MongoStorage
    except ImportError as exc:
        raise _driver_missing("RECORDS_STORE=mongodb://…", exc) from None
    # The data dir still holds this instance's published audit checkpoints (and the keyring by default).
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise InvalidConfiguration(f"cannot use data dir {settings.data_dir}: {exc.strerror}") from None
    if blobs is None:
        from records.storage.localdisk import LocalDiskBlobStore

        # Valid for one instance only: several instances need blobs they all reach (s3://).
        blobs = LocalDiskBlobStore(settings.blob_dir)
    return MongoStorage(settings.store, blobs)
