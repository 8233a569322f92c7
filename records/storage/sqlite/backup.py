"""Online backup and restore of the embedded store (database and blobs; never the keyring).

A backup is a directory: ``records.sqlite3`` (a consistent snapshot taken with SQLite's online
backup API while the service runs), ``blobs/`` (the encrypted attachment files) and
``manifest.json`` (every file's size and SHA-256). It is written beside its destination and
renamed into place when complete, so a directory named as a backup is always whole.

Everything in it is ciphertext: the keyring (KEKs, blind-index key, register of destroyed
keys) stays behind, and a restore is checked against the live register, so a record destroyed
after the backup was taken does not come back (see ``records.crypto.shredding``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from records.clock import to_text, utcnow
from records.crypto.keyring import KeyEncryptionKeys
from records.errors import RecordsError

MANIFEST = "manifest.json"
DATABASE = "records.sqlite3"
BACKUP_FORMAT = 1
SERVE_LOCK = "serve.lock"


class BackupError(RecordsError):
    code, status, title = "backup_failed", 422, "Backup or restore refused"


@dataclass
class BackupSummary:
    path: Path
    records: int
    blobs: int
    bytes: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def serving_lock(data_dir: Path, exclusive: bool) -> Iterator[None]:
    """The server holds this shared while it runs; restore needs it exclusively."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = (data_dir / SERVE_LOCK).open("a")
    try:
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                "the service is running on this data dir; stop it before restoring"
                if exclusive
                else "a restore is running on this data dir"
            ) from None
        yield
    finally:
        handle.close()


def backup(data_dir: Path, destination: Path) -> BackupSummary:
    database = data_dir / DATABASE
    if not database.is_file():
        raise BackupError(f"{data_dir} holds no records database")
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} exists and is not empty; back up into a new directory")
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, mode=0o700)
    try:
        source = sqlite3.connect(database)
        target = sqlite3.connect(partial / DATABASE)
        try:
            source.backup(target)  # consistent even while the service writes
            # One self-contained file: no -wal/-shm beside it when the backup is read later.
            target.execute("PRAGMA journal_mode=DELETE")
            records = target.execute("SELECT count(*) FROM records").fetchone()[0]
        finally:
            target.close()
            source.close()
        # Blobs are written once and never modified, so copying after the snapshot gives every
        # blob the snapshot references (a blob deleted since belongs to a destroyed record).
        blob_root = data_dir / "blobs"
        blobs = 0
        for path in sorted(blob_root.rglob("*")):
            relative = path.relative_to(blob_root)
            if path.is_file() and relative.parts[0] != ".incoming":
                copy = partial / "blobs" / relative
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
                blobs += 1
        files = {
            str(p.relative_to(partial)): {"size": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(partial.rglob("*"))
            if p.is_file()
        }
        manifest = {"format": BACKUP_FORMAT, "created_at": to_text(utcnow()), "records": records, "files": files}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        _fsync_tree(partial)
        if destination.exists():
            destination.rmdir()
        os.replace(partial, destination)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupSummary(destination, records, blobs, sum(f["size"] for f in files.values()))


def verify(source: Path) -> dict:
    """Check a backup against its manifest: its shape, that it lists exactly the files present
    (regular files only, no links, nothing outside the backup), and every size and digest."""
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{source} is not a records backup (no readable {MANIFEST})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BackupError(f"{source} has backup format {found!r}; this release reads {BACKUP_FORMAT}")
    files = manifest.get("files")
    if not isinstance(files, dict) or DATABASE not in files or not isinstance(manifest.get("records"), int):
        raise BackupError(f"{source}/{MANIFEST} is incomplete: it must list {DATABASE} and every blob")
    present = set()
    for path in source.rglob("*"):
        if path.is_symlink():
            raise BackupError(f"backup holds a link ({path.relative_to(source)}); backups hold regular files only")
        if path.is_file() and path != source / MANIFEST:
            present.add(str(path.relative_to(source)))
    if present != set(files):
        extra, missing = sorted(present - set(files)), sorted(set(files) - present)
        raise BackupError(f"backup files and manifest disagree: unlisted {extra[:3]}, missing {missing[:3]}")
    for name, expected in files.items():
        if not isinstance(expected, dict) or not isinstance(expected.get("size"), int) or not isinstance(
                expected.get("sha256"), str):
            raise BackupError(f"manifest entry for {name} is malformed")
        path = source / name
        if path.stat().st_size != expected["size"] or _sha256(path) != expected["sha256"]:
            raise BackupError(f"backup file {name} does not match its manifest (damaged or altered)")
    return manifest


def check_keys_available(source: Path, keks: KeyEncryptionKeys) -> None:
    """Refuse a backup whose data keys are wrapped by KEKs the key provider no longer holds."""
    usable = {k.kek_id for k in keks.keks() if k.state != "retired"}
    try:
        with sqlite3.connect(f"file:{source / DATABASE}?mode=ro", uri=True) as conn:
            used = {row[0] for row in conn.execute("SELECT DISTINCT kek_id FROM data_keys")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the backup's database cannot be read: {exc}") from None
    if missing := sorted(used - usable):
        raise BackupError(
            f"this backup's data keys are wrapped by KEK(s) {', '.join(missing)}, retired or unknown to this "
            "keyring; restoring it would leave its records unreadable"
        )


def restore(source: Path, data_dir: Path, keks: KeyEncryptionKeys, force: bool = False) -> dict:
    """Replace the data dir's database and blobs with a verified backup. The keyring stays."""
    manifest = verify(source)
    check_keys_available(source, keks)
    database = data_dir / DATABASE
    if database.exists() and not force:
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
                holds = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        except sqlite3.DatabaseError:
            holds = 1  # unreadable: do not overwrite it without --force either
        if holds:
            raise BackupError(f"{data_dir} already holds records; pass --force to replace them with the backup")
    incoming = data_dir / ".restoring"
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(mode=0o700)
    shutil.copyfile(source / DATABASE, incoming / DATABASE)
    if (source / "blobs").is_dir():
        shutil.copytree(source / "blobs", incoming / "blobs")
    else:
        (incoming / "blobs").mkdir()
    _fsync_tree(incoming)
    # Swap in: the old WAL must not be replayed over the restored database.
    for suffix in ("-wal", "-shm"):
        (data_dir / f"{DATABASE}{suffix}").unlink(missing_ok=True)
    os.replace(incoming / DATABASE, database)
    old_blobs = data_dir / ".blobs-replaced"
    shutil.rmtree(old_blobs, ignore_errors=True)
    if (data_dir / "blobs").exists():
        os.replace(data_dir / "blobs", old_blobs)
    os.replace(incoming / "blobs", data_dir / "blobs")
    shutil.rmtree(old_blobs, ignore_errors=True)
    shutil.rmtree(incoming, ignore_errors=True)
    # The restored audit log is the backup's: events recorded since are gone with the database.
    # The checkpoints published for them are kept, renamed, as evidence of what was rolled back;
    # the restored log starts a new published file (and `records restore` is itself audited).
    published = data_dir / "audit" / "checkpoints.jsonl"
    if published.exists():
        kept = published.with_name(f"checkpoints.before-restore-{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.jsonl")
        os.replace(published, kept)  # never over an earlier restore's evidence
    return manifest
