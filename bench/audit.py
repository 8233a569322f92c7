"""Audit log throughput: events appended per second under concurrent audited reads (real
server), sealing and verification rates over a large log, beside raw SHA-256 leaf hashing and
raw durable SQLite commits measured in the same run; then the whole large log exported as CSV
and as JSON Lines through a real server, with the server's resident memory watched meanwhile
(an export must stream in constant memory).

``BENCH_AUDIT_EVENTS`` sets the size of the verified log (default 1,000,000).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.server import file_record, records_server, records_server_process, resident_mib
from records.audit.events import AuditEventDraft, Outcome
from records.clock import utcnow

EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "1000000"))
CLIENTS = int(os.environ.get("BENCH_AUDIT_CLIENTS", "16"))
SECONDS = float(os.environ.get("BENCH_AUDIT_SECONDS", "10"))


def raw_leaf_hashing(n: int = 1_000_000) -> float:
    entry = b'{"action":"record.read","actor":"alice","at":"2026-11-28T00:50:00.712439Z","client":"10.0.0.1",' \
            b'"outcome":"allowed","purpose":null,"request_id":"ec9ea91d994243de8084907342034ab1","role":"agent",' \
            b'"seq":123456,"status":200,"targets":["record:c68b9285-4432-4e99-b867-933dfeba8413"]}'
    start = time.perf_counter()
    for _ in range(n):
        hashlib.sha256(b"\x00" + entry).digest()
    return n / (time.perf_counter() - start)


def raw_durable_commits(path: Path, seconds: float = 3.0) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (x BLOB)")
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 250,))
        conn.execute("COMMIT")
        n += 1
    conn.close()
    return n / (time.perf_counter() - start)


def appends_under_reads(tmp: Path) -> dict[str, float]:
    with records_server(tmp / "serve") as (base, token):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers) as client:
            record = file_record(client)
        reads, latencies, stop = [0] * CLIENTS, [], time.perf_counter() + SECONDS

        def reader(slot: int) -> None:
            with httpx.Client(base_url=base, headers=headers) as c:
                while time.perf_counter() < stop:
                    t0 = time.perf_counter()
                    c.get(f"/api/v1/records/{record['id']}").raise_for_status()
                    latencies.append(time.perf_counter() - t0)
                    reads[slot] += 1

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(CLIENTS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        latencies.sort()
        return {"audited_reads_per_s": sum(reads) / elapsed,
                "p50_ms": latencies[len(latencies) // 2] * 1000, "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000}


def seal_and_verify(tmp: Path) -> dict[str, float]:
    from records.installation import Installation
    from records.settings import load_settings
    from records.storage.sqlite.audit import insert_events

    settings = load_settings(data_dir=tmp / "big")

    async def run() -> dict[str, float]:
        installation = await Installation.open(settings)
        try:
            db = installation.storage._db  # direct inserts: the bench measures sealing and verifying
            batch = 20_000
            start = time.perf_counter()
            for done in range(0, EVENTS, batch):
                drafts = [AuditEventDraft(at=utcnow(), actor="alice", role="agent", action="record.read",
                                          targets=[f"record:{done + i}"], outcome=Outcome.allowed, status=200)
                          for i in range(min(batch, EVENTS - done))]
                await db.run(db.transaction(lambda c, d=drafts: insert_events(c, d)))
            insert = time.perf_counter() - start
            start = time.perf_counter()
            await installation.audit.seal()
            seal = time.perf_counter() - start
            start = time.perf_counter()
            report = await installation.audit.verify()
            verify = time.perf_counter() - start
            assert report.ok, report.problem
            return {"events": EVENTS, "bulk_insert_events_per_s": EVENTS / insert,
                    "seal_events_per_s": EVENTS / seal, "verify_events_per_s": EVENTS / verify}
        finally:
            await installation.close()

    return asyncio.run(run())


def export_at_scale(data_dir: Path, events: int) -> dict[str, float]:
    """Stream the whole log (``events`` of them, the export's own event aside) as CSV, as JSON Lines
    and as JSON Lines over a time range (the range may not make the store sort the whole log),
    sampling the server's resident memory every 50 ms."""
    results: dict[str, float] = {}
    with records_server_process(data_dir, role="compliance_officer") as (base, token, server):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            client.get("/api/v1/audit/events", params={"limit": 1}).raise_for_status()  # warm up
            results["server_rss_before_mib"] = resident_mib(server.pid)
            peak = results["server_rss_before_mib"]
            for name, params in (("csv", {"format": "csv"}), ("jsonl", {"format": "jsonl"}),
                                 ("jsonl_since", {"format": "jsonl", "since": "2000-01-01T00:00:00Z"})):
                rows = size = 0
                sampling, samples = True, []

                def sample() -> None:
                    while sampling:  # noqa: B023 - called within the iteration
                        samples.append(resident_mib(server.pid))  # noqa: B023 - called within the iteration
                        time.sleep(0.05)

                watcher = threading.Thread(target=sample)
                watcher.start()
                start = time.perf_counter()
                first_byte = None
                try:
                    with client.stream("GET", "/api/v1/audit/events", params=params) as response:
                        response.raise_for_status()
                        for chunk in response.iter_bytes():
                            first_byte = first_byte or time.perf_counter() - start
                            rows += chunk.count(b"\n")
                            size += len(chunk)
                finally:
                    sampling = False
                    watcher.join()
                elapsed = time.perf_counter() - start
                rows -= 1 if name == "csv" else 0  # the header line
                # Every event, plus the export's own (appended before its first byte) and earlier reads.
                if rows < events:
                    raise RuntimeError(f"the {name} export wrote {rows:,} events of {events:,}")
                peak = max([peak, *samples])
                results[f"export_{name}_events_per_s"] = rows / elapsed
                results[f"export_{name}_first_byte_ms"] = (first_byte or elapsed) * 1000
                results[f"export_{name}_mib"] = size / 2**20
            results["server_rss_peak_mib"] = peak
    return results


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sha = raw_leaf_hashing()
        commits = raw_durable_commits(tmp / "raw.sqlite3")
        reads = appends_under_reads(tmp)
        big = seal_and_verify(tmp)
        exports = export_at_scale(tmp / "big", EVENTS)
    results = {"raw_sha256_leaves_per_s": round(sha), "raw_durable_sqlite_commits_per_s": round(commits),
               **{k: round(v, 1) for k, v in reads.items()}, **{k: round(v) for k, v in big.items()},
               **{k: round(v, 1) for k, v in exports.items()}}
    print(f"audit ({CLIENTS} concurrent readers for {SECONDS:.0f} s; log of {EVENTS:,} events)")
    rows = [
        ("raw SHA-256 leaf hashes /s", sha, 1.0),
        ("raw durable SQLite commits /s", commits, None),
        ("audited reads = events appended /s", reads["audited_reads_per_s"], None),
        ("seal (hash + store nodes) events /s", big["seal_events_per_s"], big["seal_events_per_s"] / sha),
        ("verify events /s", big["verify_events_per_s"], big["verify_events_per_s"] / sha),
    ]
    for label, value, ratio in rows:
        extra = f"{ratio:>8.3f}x of raw SHA-256" if ratio is not None else ""
        print(f"  {label:<40} {value:>12,.0f} {extra}")
    for name, label in (("csv", "CSV"), ("jsonl", "JSON Lines"), ("jsonl_since", "JSON Lines, since=")):
        print(f"  export {label:<33} {exports[f'export_{name}_events_per_s']:>12,.0f} events/s, "
              f"{exports[f'export_{name}_mib']:,.0f} MiB, first byte {exports[f'export_{name}_first_byte_ms']:.0f} ms")
    print(f"  server resident memory: {exports['server_rss_before_mib']:.0f} MiB before the exports, "
          f"{exports['server_rss_peak_mib']:.0f} MiB at most during them")
    print(f"  events per durable commit (group commit): {reads['audited_reads_per_s'] / commits:.2f}x of raw commits/s;"
          f" read p50 {reads['p50_ms']:.1f} ms, p99 {reads['p99_ms']:.1f} ms")
    return results
