"""What every storage does with its blob store on closing, whichever adapter it is."""

from __future__ import annotations

from records.ports import BlobStore


async def close_blobs(blobs: BlobStore) -> None:
    """Blob stores holding connections (S3) close them; local disk has nothing to close."""
    close = getattr(blobs, "close", None)
    if close is not None:
        await close()
