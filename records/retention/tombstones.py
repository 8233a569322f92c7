"""The register of tombstones, kept beside the register of destroyed keys, outside the database.

A disposition writes the record's tombstone here (fsynced) before it destroys anything, so that
(1) a run interrupted after the key was erased still knows the content hash it certifies, and
(2) a database restored from a backup older than the destruction gets the tombstone back (and
the record's leftover blobs deleted again) when the installation opens: destruction reaches
backups, and the record keeps answering 410 with its tombstone.
"""

from __future__ import annotations

import threading
from pathlib import Path

from records.durable import append_line
from records.errors import KeyUnavailable
from records.retention.models import Tombstone


class TombstoneRegister:
    FILE = "tombstones.jsonl"

    def __init__(self, directory: Path) -> None:
        self.path = directory / self.FILE
        self._lock = threading.Lock()

    def record(self, tombstone: Tombstone) -> None:
        with self._lock:
            try:
                append_line(self.path, (tombstone.model_dump_json() + "\n").encode())
            except OSError as exc:
                raise KeyUnavailable(f"cannot write the register of tombstones: {exc.strerror}") from None

    def entries(self) -> dict[str, Tombstone]:
        """By record id; the last complete line for a record wins (a torn last line is skipped)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise KeyUnavailable(f"cannot read the register of tombstones: {exc.strerror}") from None
        found: dict[str, Tombstone] = {}
        for line in text.splitlines():
            try:
                tombstone = Tombstone.model_validate_json(line)
            except ValueError:
                continue
            found[tombstone.record_id] = tombstone
        return found

    def get(self, record_id: str) -> Tombstone | None:
        return self.entries().get(record_id)
