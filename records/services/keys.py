"""Record data keys: issue, unwrap, destroy (crypto-shredding), rotate the KEK over them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio

from records.audit.trail import committed, drafts_for_change
from records.clock import utcnow
from records.crypto.envelope import DataKey, WrappedDataKey, rewrap
from records.crypto.keyring import KeyEncryptionKeys
from records.crypto.shredding import DestroyedKeyRegister
from records.errors import KeyUnavailable
from records.ports import DataKeyRepository, RecordRepository
from records.stored import StoredRecord

REWRAP_BATCH = 500


@dataclass
class RotationReport:
    active_kek: str
    resumed: bool
    rewrapped: int
    retired: list[str]
    still_in_use: dict[str, int]


class RecordKeys:
    def __init__(self, keks: KeyEncryptionKeys, data_keys: DataKeyRepository, register: DestroyedKeyRegister) -> None:
        self.keks = keks  # the local keyring, or a KMS through the records_key_provider hook
        self._data_keys = data_keys
        self._register = register

    def issue(self, record_id: str) -> tuple[DataKey, WrappedDataKey]:
        key = DataKey.generate(record_id)
        return key, key.wrap(self.keks)

    async def for_record(self, stored: StoredRecord) -> DataKey | None:
        """The record's data key, or None when it was destroyed."""
        if stored.destroyed_at is not None:
            return None
        wrapped = await self._data_keys.get(stored.id)
        if wrapped is None:
            raise KeyUnavailable(f"record {stored.id} has no data key and is not marked destroyed (run records fsck)")
        return DataKey.unwrap(wrapped, self.keks)

    async def for_records(self, stored: list[StoredRecord]) -> dict[str, DataKey | None]:
        live = [s.id for s in stored if s.destroyed_at is None]
        wrapped = await self._data_keys.get_many(live)
        keys: dict[str, DataKey | None] = {}
        for s in stored:
            if s.destroyed_at is not None:
                keys[s.id] = None
            elif s.id not in wrapped:
                raise KeyUnavailable(f"record {s.id} has no data key and is not marked destroyed (run records fsck)")
            else:
                keys[s.id] = DataKey.unwrap(wrapped[s.id], self.keks)
        return keys

    # --- crypto-shredding ------------------------------------------------------------------

    async def shred(self, records: RecordRepository, record_id: str) -> StoredRecord | None:
        """Destroy a record's data key everywhere the service can reach, durably and for good.

        Order matters: the register entry is durable before the key is erased, so no crash can
        leave a key erased here but resurrectable from a backup.
        """
        now = utcnow()
        self._register.record(record_id, now)
        await self._data_keys.destroy(record_id)
        return await self._mark_destroyed(records, record_id, now)

    async def _mark_destroyed(self, records: RecordRepository, record_id: str, at) -> StoredRecord | None:  # type: ignore[no-untyped-def]
        for _ in range(20):
            stored = await records.get(record_id)
            if stored is None or stored.destroyed_at is not None:
                return stored
            # The sealed values are undecryptable now; dropping them keeps nothing useless around.
            marked = stored.model_copy(
                update={"destroyed_at": at, "sealed": {}, "version": stored.version + 1, "updated_at": at,
                        "customer_phone_index": None, "customer_account_index": None}
            )
            if await records.replace(
                marked, expected_version=stored.version,
                events=drafts_for_change(f"record:{record_id}", action="record.destroy"),
            ):
                committed()
                return marked
        raise KeyUnavailable(f"record {record_id} kept changing while being marked destroyed; run again")

    def destroyed_register_entries(self) -> set[str]:
        """Ids of the records whose keys the register says were destroyed."""
        return set(self._register.entries())

    async def enforce_register(self, records: RecordRepository) -> int:
        """Erase again every key the register names (e.g. after restoring an older backup)."""
        enforced = 0
        for record_id, at in self._register.entries().items():
            erased = await self._data_keys.destroy(record_id) if await self._data_keys.get(record_id) else False
            stored = await records.get(record_id)
            if stored is not None and stored.destroyed_at is None:
                await self._mark_destroyed(records, record_id, at)
                erased = True
            enforced += int(erased)
        return enforced

    # --- KEK rotation ------------------------------------------------------------------------

    async def rotate(self, grace_seconds: float = 5.0, progress: Callable[[int, int], None] | None = None) -> RotationReport:
        """Move every data key to a new KEK, then retire KEKs nothing uses any more.

        Re-running after a crash resumes: while a KEK is still ``retiring`` no new KEK is added,
        the remaining keys are re-wrapped. Only wrappings change; no data is re-encrypted.
        """
        retiring = [k.kek_id for k in self.keks.keks() if k.state == "retiring"]
        resumed = bool(retiring)
        active = self.keks.active_kek_id() if resumed else self.keks.begin_rotation()
        rewrapped = await self._rewrap_all(active, progress)
        if grace_seconds:
            # A request that read the old active KEK just before the switch may still commit a key
            # under it: wait out such requests, then sweep once more before erasing anything.
            await anyio.sleep(grace_seconds)
            rewrapped += await self._rewrap_all(active, progress)
        counts = await self._data_keys.count_by_kek()
        retired = []
        for info in self.keks.keks():
            if info.state == "retiring" and counts.get(info.kek_id, 0) == 0:
                self.keks.retire(info.kek_id)
                retired.append(info.kek_id)
        still = {k: n for k, n in counts.items() if k != active}
        return RotationReport(active, resumed, rewrapped, retired, still)

    async def _rewrap_all(self, active: str, progress: Callable[[int, int], None] | None) -> int:
        counts = await self._data_keys.count_by_kek()
        total = sum(n for k, n in counts.items() if k != active)
        done = 0
        while batch := await self._data_keys.not_under(active, REWRAP_BATCH):
            if self.keks.active_kek_id() != active:
                # Another rotation began meanwhile: it owns the re-wrapping now; chasing its KEK
                # from here would re-wrap the same keys forever.
                raise KeyUnavailable("another key rotation started meanwhile; run `records keys rotate` again")
            for wrapped in batch:
                if await self._data_keys.rewrap(rewrap(wrapped, self.keks), expected_kek_id=wrapped.kek_id):
                    done += 1
                if progress:
                    progress(done, total)
        return done
