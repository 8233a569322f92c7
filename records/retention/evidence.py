"""The register of disposition evidence: every finished batch with its decisions and the signed
destruction certificate, kept beside the registers of tombstones and destroyed keys, outside the
database (``keyring/disposition-evidence.jsonl``, whichever storage adapter holds the database).

A backup never contains the keyring directory, so a database restored from a backup taken before
a destruction gets back, when the installation opens, not only the record's tombstone but the
batch (status, decisions, approvers), the certificate and each tombstone's link to it: proof of
destruction outlives every restore (``RetentionService.enforce_evidence``). ``records fsck``
compares the register with the database (``RetentionService.check_evidence``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pydantic import BaseModel

from records.durable import append_line
from records.errors import KeyUnavailable
from records.retention.models import DestructionCertificate, DispositionBatch

log = logging.getLogger("records.retention")


class DispositionEvidence(BaseModel):
    """One finished batch, items included, and its certificate (None when nothing was disposed of)."""

    batch: DispositionBatch
    certificate: DestructionCertificate | None = None


class EvidenceRegister:
    FILE = "disposition-evidence.jsonl"

    def __init__(self, directory: Path) -> None:
        self.path = directory / self.FILE
        self._lock = threading.Lock()

    def record(self, evidence: DispositionEvidence) -> None:
        with self._lock:
            try:
                append_line(self.path, (evidence.model_dump_json() + "\n").encode())
            except OSError as exc:
                raise KeyUnavailable(f"cannot write the register of disposition evidence: {exc.strerror}") from None

    def entries(self) -> dict[str, DispositionEvidence]:
        """By batch id; the last complete line for a batch wins (a torn last line is skipped)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise KeyUnavailable(f"cannot read the register of disposition evidence: {exc.strerror}") from None
        found: dict[str, DispositionEvidence] = {}
        for line in text.splitlines():
            try:
                evidence = DispositionEvidence.model_validate_json(line)
            except ValueError:
                continue
            if evidence.batch.id is not None:
                found[evidence.batch.id] = evidence
        return found


def record_evidence(register: EvidenceRegister | None, batch: DispositionBatch,
                    certificate: DestructionCertificate | None) -> None:
    """Register a finished batch outside the database, after its commit: should the write fail,
    the batch stands, ``records fsck`` reports it (``evidence_not_registered``) and the next start
    registers it. Without a register (library use) nothing is kept."""
    if register is None:
        return
    try:
        register.record(DispositionEvidence(batch=batch, certificate=certificate))
    except Exception:  # the commit stands; fsck and the next start catch up
        log.exception("registering the evidence of disposition batch %s failed; the next start does", batch.id)
