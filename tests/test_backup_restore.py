"""A malformed backup is refused cleanly and leaves the data dir as it was."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from records.installation import Installation
from records.models import RecordCreate
from records.services.records import UploadMeta
from tests.conftest import record_body
from tests.helpers.in_process import ALICE, cli, files_under, snapshot

# --- malformed backups are refused cleanly ---------------------------------------------------------


class _Bytes:
    def __init__(self, content: bytes) -> None:
        self._content = content

    async def begin(self) -> UploadMeta:
        return UploadMeta("scan.png", "image/png")

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._content


def _manifest(backup: Path) -> dict[str, Any]:
    return json.loads((backup / "manifest.json").read_text())


def _write_manifest(backup: Path, manifest: Any) -> None:
    (backup / "manifest.json").write_text(json.dumps(manifest))


def _list_as_is(backup: Path, name: str) -> None:
    """Make the manifest agree with the file ``name`` as it now is (size and digest)."""
    manifest = _manifest(backup)
    path = backup / name
    manifest["files"][name] = {"size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    _write_manifest(backup, manifest)


def _manifest_is_a_list(backup: Path, outside: Path) -> None:
    _write_manifest(backup, [])


def _entry_without_size(backup: Path, outside: Path) -> None:
    manifest = _manifest(backup)
    del manifest["files"]["records.sqlite3"]["size"]
    _write_manifest(backup, manifest)


def _no_files_listed(backup: Path, outside: Path) -> None:
    manifest = _manifest(backup)
    manifest["files"] = {}
    _write_manifest(backup, manifest)


def _unlisted_extra_file(backup: Path, outside: Path) -> None:
    (backup / "blobs" / "attachments" / "extra.bin").write_bytes(b"not in the manifest")


def _symlink_in_blobs(backup: Path, outside: Path) -> None:
    # A link to a file outside the backup, listed with that file's size and digest.
    outside.write_bytes(b"a file outside the backup")
    (backup / "blobs" / "attachments" / "linked").symlink_to(outside)
    _list_as_is(backup, "blobs/attachments/linked")


def _garbage_database(backup: Path, outside: Path) -> None:
    (backup / "records.sqlite3").write_bytes(b"this is not an SQLite database " * 200)
    _list_as_is(backup, "records.sqlite3")


def _nested_manifest_named_file(backup: Path, outside: Path) -> None:
    (backup / "blobs" / "attachments" / "manifest.json").write_bytes(b"not in the manifest either")


MALFORMED = [
    pytest.param(_manifest_is_a_list, id="manifest-is-a-list"),
    pytest.param(_entry_without_size, id="files-entry-without-size"),
    pytest.param(_no_files_listed, id="no-files-listed"),
    pytest.param(_unlisted_extra_file, id="unlisted-extra-file"),
    pytest.param(_symlink_in_blobs, id="symlink-in-blobs"),
    pytest.param(_garbage_database, id="garbage-database-with-matching-manifest"),
    pytest.param(_nested_manifest_named_file, id="unlisted-file-named-manifest.json"),
]


@pytest.mark.parametrize("damage", MALFORMED)
def test_a_malformed_backup_is_refused_and_the_data_dir_untouched(settings, data_dir, tmp_path, damage):
    async def populate() -> None:
        installation = await Installation.open(settings)
        try:
            record = await installation.records.file(RecordCreate(**record_body()), ALICE)
            await installation.records.attach(record.id, _Bytes(b"\x89PNG scan" * 100), ALICE)
        finally:
            await installation.close()

    anyio.run(populate)
    backup_dir = tmp_path / "backup"
    assert cli("backup", "--to", str(backup_dir), "--data-dir", str(data_dir)).exit_code == 0
    assert len(files_under(backup_dir / "blobs")) == 1
    before = snapshot(data_dir)

    damage(backup_dir, tmp_path / "outside.txt")
    result = cli("restore", "--from", str(backup_dir), "--force", "--data-dir", str(data_dir))
    assert result.exit_code == 2, result.output
    assert "[backup_failed]" in result.output
    assert "Traceback" not in result.output
    assert snapshot(data_dir) == before
    assert not (data_dir / ".restoring").exists()
