"""The register of destroyed data keys, and why a restored backup cannot bring a record back.

Destroying a record's data key (crypto-shredding) makes every copy of its ciphertext, in the
database, the blob store and every backup, undecryptable, provided no copy of the key survives.
Backups necessarily hold the wrapped data keys of their time. So:

1. The register of destroyed keys lives in the keyring directory, never in the database and
   never in a backup. Shredding appends to it (fsynced) *before* erasing the key.
2. Backups never contain the keyring (KEKs, index key, register): a backup alone is ciphertext.
3. Whenever the service or the CLI opens a data dir, and after every restore, every key the
   register names is erased again and its record marked destroyed. A backup taken before a
   shredding therefore comes back without that record's key.

What this cannot stop: someone holding both an old backup and an old copy of the keyring,
outside the service. Keep keyring copies (if any) under the same destruction policy, or use
``RECORDS_MASTER_KEY``/a KMS so the keyring file alone is useless.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from records.clock import to_text
from records.durable import append_line
from records.errors import KeyUnavailable


class DestroyedKeyRegister:
    FILE = "destroyed-keys"

    def __init__(self, directory: Path) -> None:
        self.path = directory / self.FILE
        self._lock = threading.Lock()

    def record(self, record_id: str, at: datetime) -> None:
        """Append durably; a crash right after still leaves the record registered."""
        with self._lock:
            try:
                append_line(self.path, f"{record_id}\t{to_text(at)}\n".encode())
            except OSError as exc:
                raise KeyUnavailable(f"cannot write the register of destroyed keys: {exc.strerror}") from None

    def entries(self) -> dict[str, datetime]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise KeyUnavailable(f"cannot read the register of destroyed keys: {exc.strerror}") from None
        found: dict[str, datetime] = {}
        for line in text.splitlines():
            record_id, _, at = line.partition("\t")
            if record_id and at:  # a torn last line (crash mid-append) is not an entry
                try:
                    found.setdefault(record_id, datetime.fromisoformat(at))
                except ValueError:
                    continue
        return found
