"""Appending to the audit log (group commit), sealing it into signed checkpoints, proofs,
queries and verification."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from records.audit.events import AuditEvent, AuditEventDraft, Outcome, parse_canonical
from records.audit.locked import LockedCheckpoints
from records.audit.log import AuditLogStore, Checkpoint, EventQuery, checkpoint_message
from records.audit.merkle import (
    EMPTY_ROOT,
    MerkleFrontier,
    consistency_path,
    frontier_root,
    inclusion_path,
    leaf_hash,
    root,
)
from records.clock import to_text, utcnow
from records.crypto.keyring import LocalKeyring
from records.durable import append_line
from records.errors import InvalidInput, RecordsError
from records.ports import Leases

SEAL_BATCH = 20_000  # events hashed per store round trip while sealing
SEALER_LEASE = "audit-sealer"


class AuditUnavailable(RecordsError):
    code, status, title = "audit_unavailable", 503, "Audit log unavailable"


def _recorded_keys(fn: Callable[[Callable[[int, int], bytes]], object]) -> list[tuple[int, int]]:
    """Which nodes ``fn`` reads: which subtrees a root or proof needs depends only on sizes and
    indexes, so a dry run with placeholder hashes lists them for one batched fetch."""
    keys: list[tuple[int, int]] = []

    def lookup(level: int, index: int) -> bytes:
        keys.append((level, index))
        return bytes(32)

    fn(lookup)
    return list(dict.fromkeys(keys))


class GroupCommitter:
    """Batches appends from concurrent requests into one transaction (one fsync): auditing
    every read must not halve the read rate. Each caller still waits until its event is durable."""

    def __init__(self, store: AuditLogStore) -> None:
        self._store = store
        self._pending: list[tuple[list[AuditEventDraft], asyncio.Future[list[AuditEvent]]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, drafts: list[AuditEventDraft]) -> list[AuditEvent]:
        future: asyncio.Future[list[AuditEvent]] = asyncio.get_running_loop().create_future()
        self._pending.append((drafts, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                events = await self._store.append([d for drafts, _ in batch for d in drafts])
            except BaseException as exc:  # noqa: BLE001 - every waiter learns its event was not stored, then it goes on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(AuditUnavailable(f"the audit log refused the event: {exc}"))
                continue
            offset = 0
            for drafts, future in batch:
                if not future.done():
                    future.set_result(events[offset : offset + len(drafts)])
                offset += len(drafts)


@dataclass
class VerificationReport:
    events: int
    checkpoints: int
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


class AuditService:
    def __init__(self, store: AuditLogStore, keyring: LocalKeyring, checkpoint_file: Path,
                 leases: Leases | None = None, lease_seconds: float = 30.0,
                 locked: LockedCheckpoints | None = None) -> None:
        self._store = store
        self._keyring = keyring
        self.checkpoint_file = checkpoint_file  # a copy outside the database: a rollback shows
        self._committer = GroupCommitter(store)
        self._seal_lock = asyncio.Lock()
        # With several instances on one store exactly one seals: the holder of this lease. It
        # keeps the lease while it runs (renewed at every seal) and gives it up on closing.
        self._leases = leases
        self._lease_seconds = lease_seconds
        self._locked = locked  # copies under Object Lock, when the blob store has it
        self._locked_checked = False

    # --- appending ---------------------------------------------------------------------------

    async def append(self, drafts: list[AuditEventDraft]) -> list[AuditEvent]:
        return await self._committer.append(drafts)

    # --- sealing -----------------------------------------------------------------------------

    async def seal(self) -> Checkpoint:
        """Integrate every appended event into the tree and sign a checkpoint over it. On an
        instance that is not the sealer, wait for the sealer's checkpoint over the events
        appended so far (or for its lease to expire, and seal then)."""
        async with self._seal_lock:
            if await self._hold_lease():
                return await self._seal_held()
        return await self._checkpoint_from_the_sealer()

    async def seal_if_sealer(self) -> Checkpoint | None:
        """The periodic round: seal if this instance is (or can become) the sealer, else None."""
        async with self._seal_lock:
            if await self._hold_lease():
                return await self._seal_held()
        return None

    async def resign(self) -> None:
        """Give the sealer lease up (on a clean stop) so that another instance takes over at once."""
        if self._leases is not None:
            await self._leases.release(SEALER_LEASE)

    async def _hold_lease(self) -> bool:
        return self._leases is None or await self._leases.acquire(SEALER_LEASE, self._lease_seconds)

    async def _checkpoint_from_the_sealer(self) -> Checkpoint:
        wanted = await self._store.size()
        deadline = asyncio.get_running_loop().time() + 2 * self._lease_seconds
        while asyncio.get_running_loop().time() < deadline:
            latest = await self._store.latest_checkpoint()
            if latest is not None and latest.tree_size >= wanted:
                return latest
            async with self._seal_lock:
                if await self._hold_lease():  # the sealer stopped renewing: this instance takes over
                    return await self._seal_held()
            await asyncio.sleep(0.1)
        raise AuditUnavailable("another instance holds the audit sealer lease but did not seal in time")

    async def _seal_held(self) -> Checkpoint:
        """Seal, this instance holding the lease (or no lease being needed)."""
        latest = await self._store.latest_checkpoint()
        sealed = latest.tree_size if latest else 0
        size = await self._store.size()
        if size < sealed:
            raise AuditUnavailable(f"the log holds {size} events but a checkpoint was signed at {sealed}: "
                                   "run `records audit verify`")
        candidates = self._published()
        if self._locked is not None and not self._locked_checked:
            # Once per process (a list of the bucket): a data dir rolled back whole still shows.
            locked = await self._locked.latest()
            candidates += [locked] if locked else []
            self._locked_checked = True
        published = max(candidates, key=lambda c: c.tree_size, default=None)
        if published is not None and (latest is None or published.tree_size > sealed or (
                published.tree_size == sealed and published.root_hash != latest.root_hash)):
            # Never sign a fork of what was published: the database was rolled back or replaced.
            raise AuditUnavailable("the database's audit log is behind or differs from the published checkpoints; "
                                   "run `records audit verify`")
        if latest is not None and size == sealed:
            return latest
        edge_keys = _recorded_keys(lambda look: MerkleFrontier.from_nodes(sealed, look))
        known = await self._store.nodes(edge_keys)
        if len(known) != len(edge_keys):
            raise AuditUnavailable("stored Merkle nodes are missing; run `records audit verify`")
        frontier = MerkleFrontier.from_nodes(sealed, lambda level, index: known[(level, index)])
        if latest is not None and frontier_root(frontier).hex() != latest.root_hash:
            # Never extend (and sign) a tree that no longer matches what was signed.
            raise AuditUnavailable("stored Merkle nodes disagree with the latest checkpoint; run `records audit verify`")
        for start in range(sealed, size, SEAL_BATCH):
            if start > sealed and not await self._hold_lease():
                # A seal slower than the lease: another instance may seal now; never two at once.
                raise AuditUnavailable("the audit sealer lease was lost while sealing; the next seal continues")
            nodes: list[tuple[int, int, bytes]] = []
            for entry in await self._store.entries(start, min(start + SEAL_BATCH, size)):
                nodes.extend(frontier.append(leaf_hash(entry.canonical)))
            checkpoint = self._sign(frontier.size, frontier_root(frontier)) if frontier.size == size else None
            await self._store.seal(nodes, checkpoint)  # type: ignore[arg-type]
        if size == 0:
            checkpoint = self._sign(0, EMPTY_ROOT)
            await self._store.seal([], checkpoint)
        assert checkpoint is not None
        self._publish(checkpoint)
        if self._locked is not None:
            await self._locked.publish(checkpoint)
        return checkpoint

    def _sign(self, tree_size: int, root_hash: bytes) -> Checkpoint:
        key_id, key = self._keyring.audit_signing_key()
        timestamp = to_text(utcnow())
        signature = key.sign(checkpoint_message(tree_size, root_hash.hex(), timestamp))
        return Checkpoint(tree_size=tree_size, root_hash=root_hash.hex(), timestamp=timestamp, key_id=key_id,
                          signature=base64.b64encode(signature).decode())

    def _publish(self, checkpoint: Checkpoint) -> None:
        append_line(self.checkpoint_file, (checkpoint.model_dump_json() + "\n").encode())

    async def latest(self) -> Checkpoint:
        return await self._store.latest_checkpoint() or await self.seal()

    # --- proofs ------------------------------------------------------------------------------

    async def _lookup(self, fn: Callable[[Callable[[int, int], bytes]], object]) -> Callable[[int, int], bytes]:
        found = await self._store.nodes(_recorded_keys(fn))
        return lambda level, index: found[(level, index)]

    async def _sealed_size(self) -> int:
        return (await self.latest()).tree_size

    async def inclusion(self, index: int, tree_size: int) -> dict:
        sealed = await self._sealed_size()
        if not 0 <= index < tree_size <= sealed:
            raise InvalidInput(
                f"need 0 <= index < tree_size <= {sealed} (the latest checkpoint's size); seal to include newer events",
                field="tree_size",
            )
        look = await self._lookup(lambda lk: (inclusion_path(index, tree_size, lk), lk(0, index)))
        return {
            "index": index,
            "tree_size": tree_size,
            "leaf_hash": look(0, index).hex(),
            "path": [h.hex() for h in inclusion_path(index, tree_size, look)],
        }

    async def consistency(self, first: int, second: int) -> dict:
        sealed = await self._sealed_size()
        if not 0 < first <= second <= sealed:
            raise InvalidInput(f"need 0 < first <= second <= {sealed} (the latest checkpoint's size)", field="second")
        look = await self._lookup(lambda lk: consistency_path(first, second, lk))
        return {"first": first, "second": second, "path": [h.hex() for h in consistency_path(first, second, look)]}

    async def root_at(self, tree_size: int) -> str:
        look = await self._lookup(lambda lk: root(tree_size, lk))
        return root(tree_size, look).hex()

    def public_keys(self) -> list[dict]:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return [
            {"key_id": key_id, "algorithm": "Ed25519",
             "public_key": key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()}
            for key_id, key in self._keyring.audit_public_keys().items()
        ]

    # --- queries -----------------------------------------------------------------------------

    async def find(self, query: EventQuery) -> list[AuditEvent]:
        return await self._store.find(query)

    async def export_pages(self, query: EventQuery, page: int = 1000) -> AsyncIterator[list[AuditEvent]]:
        """Every matching event after ``query.after_seq``, ``page`` at a time, up to the log's size
        when the export starts: memory stays one page whatever the size, and a log that grows
        meanwhile cannot keep the export running."""
        end = await self._store.size()
        after = query.after_seq
        while True:
            found = await self._store.find(query.model_copy(update={"after_seq": after, "limit": page}))
            within = [event for event in found if event.seq < end]
            if within:
                yield within
            if len(found) < page or len(within) < len(found):
                return
            after = found[-1].seq

    # --- verification ------------------------------------------------------------------------

    async def verify(self, progress: Callable[[int, int], None] | None = None) -> VerificationReport:
        """Recompute the whole tree from the events' canonical bytes and check it against every
        stored and published checkpoint; names the first inconsistency."""
        # The published file first, then size and checkpoints in one view: a seal running meanwhile
        # can only add what this verification does not look at.
        published = self._published()
        if self._locked is not None:
            locked = await self._locked.latest()
            published += [locked] if locked else []
        size, checkpoints = await self._store.head()
        keys = self._keyring.audit_public_keys()
        by_size = {c.tree_size: c for c in checkpoints}
        for cp in published:
            stored = by_size.get(cp.tree_size)
            if stored is None or stored.root_hash != cp.root_hash:
                return VerificationReport(size, len(checkpoints), f"published checkpoint at tree size {cp.tree_size} is "
                                          "missing from the database or differs: the log was rolled back or rewritten")
        for cp in checkpoints:
            if cp.tree_size > size:
                return VerificationReport(size, len(checkpoints), f"checkpoint at tree size {cp.tree_size} was signed but "
                                          f"the log holds only {size} events: events were deleted or the log rolled back")
            key = keys.get(cp.key_id)
            try:
                if key is None:
                    raise InvalidSignature
                key.verify(base64.b64decode(cp.signature), cp.signed_message())
            except (InvalidSignature, ValueError):
                return VerificationReport(size, len(checkpoints), f"checkpoint at tree size {cp.tree_size} has a bad signature")
        frontier = MerkleFrontier(0, {})
        if 0 in by_size and by_size[0].root_hash != EMPTY_ROOT.hex():
            return VerificationReport(size, len(checkpoints), "the empty checkpoint's root is wrong")
        sealed = max((c.tree_size for c in checkpoints), default=0)
        for start in range(0, size, SEAL_BATCH):
            entries = await self._store.entries(start, min(start + SEAL_BATCH, size))
            produced: list[tuple[int, int, bytes]] = []
            for offset, entry in enumerate(entries):
                expected = start + offset
                if entry.seq != expected:
                    return VerificationReport(size, len(checkpoints), f"event {expected} is missing (next is {entry.seq})")
                problem = _entry_problem(entry)
                if problem:
                    return VerificationReport(size, len(checkpoints), f"event {entry.seq}: {problem}")
                created = frontier.append(leaf_hash(entry.canonical))
                if frontier.size <= sealed:
                    produced.extend(created)
                cp = by_size.get(frontier.size)
                if cp is not None and frontier_root(frontier).hex() != cp.root_hash:
                    return VerificationReport(size, len(checkpoints), f"events up to {frontier.size} do not hash to the "
                                              f"root signed at tree size {frontier.size}: an event was edited, inserted or reordered")
            if len(entries) < min(SEAL_BATCH, size - start):
                return VerificationReport(size, len(checkpoints), f"events after {start + len(entries) - 1} are missing")
            # Proofs and later seals are computed from the stored nodes: they must be the tree's.
            stored = await self._store.nodes([(level, index) for level, index, _ in produced])
            for level, index, digest in produced:
                if stored.get((level, index)) != digest:
                    return VerificationReport(size, len(checkpoints), f"stored Merkle node (level {level}, index {index}) "
                                              "is missing or differs from the one the events hash to")
            if progress:
                progress(frontier.size, size)
        return VerificationReport(size, len(checkpoints), None)

    def _published(self) -> list[Checkpoint]:
        try:
            lines = self.checkpoint_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            try:
                found.append(Checkpoint.model_validate_json(line))
            except ValueError:
                continue  # a torn last line from a crash mid-append
        return found


_CANONICAL_KEYS = frozenset(AuditEvent.model_fields)
_OUTCOMES = frozenset(o.value for o in Outcome)
_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _optional_text(value: object) -> bool:
    return value is None or type(value) is str


def _entry_sound(entry) -> bool:  # type: ignore[no-untyped-def]
    """The checks of ``_entry_problem`` for a sound event, at the cost of one ``json.loads`` and
    one ``json.dumps``: verify reads the whole log, and a model validation per event made it
    take 39 s for a million. Anything unusual (even what the model would accept) goes to
    ``_entry_problem``, which names the problem; an event that passes here passes there."""
    try:
        event = json.loads(entry.canonical)
    except ValueError:
        return False
    if type(event) is not dict or event.keys() != _CANONICAL_KEYS:
        return False
    at, seq, status, targets = event["at"], event["seq"], event["status"], event["targets"]
    if (type(seq) is not int or seq != entry.seq or not (status is None or type(status) is int)
            or type(at) is not str or not _AT.fullmatch(at) or not "1000" <= at[:4] <= "9998"
            or type(event["action"]) is not str or event["outcome"] not in _OUTCOMES
            or not all(_optional_text(event[k]) for k in ("actor", "role", "request_id", "client", "purpose"))
            or type(targets) is not list or not all(type(t) is str for t in targets)):
        return False
    try:
        datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ")  # a real moment, not only its shape
    except ValueError:
        return False
    if json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() != entry.canonical:
        return False
    return (entry.at, entry.actor, entry.role, entry.action, entry.outcome, entry.request_id, entry.targets) == (
        at, event["actor"], event["role"], event["action"], event["outcome"], event["request_id"], sorted(set(targets)))


def _entry_problem(entry) -> str | None:  # type: ignore[no-untyped-def]
    """Do the queryable copies agree with the hashed canonical event?"""
    if _entry_sound(entry):
        return None
    try:
        event = parse_canonical(entry.canonical)
    except ValueError:
        return "its canonical bytes are not a valid event"
    if event.canonical() != entry.canonical:
        return "its stored bytes are not in canonical form"
    if event.seq != entry.seq:
        return f"it is stored at position {entry.seq} but says it is event {event.seq}: events were reordered"
    copies = {"at": to_text(event.at), "actor": event.actor, "role": event.role, "action": event.action,
              "outcome": event.outcome.value, "request_id": event.request_id, "targets": sorted(set(event.targets))}
    for name, value in copies.items():
        if getattr(entry, name) != value:
            return f"its queryable {name} ({getattr(entry, name)!r}) differs from the hashed event ({value!r})"
    return None
