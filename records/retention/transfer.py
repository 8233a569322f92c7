"""Transfer packages: one BagIt bag (RFC 8493) per record, written with the Library of
Congress's ``bagit`` library and validated before the record is destroyed here.

A bag holds ``data/record.json`` (the record decrypted, as the API shows it in clear),
``data/attachments/<id>/<filename>`` (decrypted), ``data/metadata.json`` (retention: schedule,
retain-until and why, the disposition batch, content hash) and ``data/audit/`` (the record's
audit events, each with its RFC 9162 inclusion proof, and the signed checkpoint they lead to).
The bag is built in a hidden directory beside its destination and renamed into place once it
validates, so a directory named as a bag is always whole; a run resumed after a crash finds it
and uses it as it is.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import bagit

from records.durable import fsync_dir
from records.errors import RecordsError


class TransferFailed(RecordsError):
    code, status, title = "transfer_failed", 500, "Transfer failed"


def bag_path(root: Path, batch_id: str, reference: str) -> Path:
    return root / batch_id / reference


def _safe_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip(".")
    return cleaned[:200] or "attachment"


def _validate(path: Path) -> None:
    try:
        bagit.Bag(str(path)).validate()
    except (bagit.BagError, bagit.BagValidationError) as exc:
        raise TransferFailed(f"the transfer package {path} does not validate: {exc}") from None


async def write_bag(
    root: Path,
    batch_id: str,
    reference: str,
    record: dict[str, Any],
    attachments: list[tuple[str, str, AsyncIterator[bytes]]],
    metadata: dict[str, Any],
    audit: dict[str, Any],
    bag_info: dict[str, str],
) -> Path:
    """Write and validate the bag for one record; returns its path. Idempotent: an existing bag
    that validates is kept."""
    final = bag_path(root, batch_id, reference)
    if final.exists():
        await anyio.to_thread.run_sync(_validate, final)
        return final
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    work = final.parent / f".incoming-{reference}-{uuid.uuid4().hex[:8]}"
    work.mkdir(mode=0o700)
    try:
        (work / "record.json").write_text(json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True))
        (work / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False, indent=2, sort_keys=True))
        (work / "audit").mkdir()
        (work / "audit" / "events.json").write_text(json.dumps(audit, ensure_ascii=False, indent=2, sort_keys=True))
        for attachment_id, filename, chunks in attachments:
            folder = work / "attachments" / attachment_id
            folder.mkdir(parents=True)
            with (folder / _safe_name(filename)).open("wb") as handle:
                async for chunk in chunks:
                    handle.write(chunk)

        def finish() -> None:
            bagit.make_bag(str(work), bag_info=bag_info, checksums=["sha256", "sha512"])
            _validate(work)
            for path in sorted(work.rglob("*"), reverse=True):
                if path.is_file():
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            os.replace(work, final)
            fsync_dir(final.parent)

        await anyio.to_thread.run_sync(finish)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final
