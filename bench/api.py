"""Records through the API against a real ``records serve`` process: filing (encrypted, audited,
durable), audited reads, list and filter queries over a large store, start-up time and idle
memory, each beside its ceiling measured in the same run: the bare litestar app of
``bench/bare.py`` on the same server stack (uvicorn, one process) and raw durable SQLite commits.

``BENCH_RECORDS`` (or ``python -m bench api --records N``) sets the size of the store the reads
and queries run over (default 10,000); ``BENCH_API_SECONDS`` how long each load runs (default 4).
The store is seeded in process, in large transactions, with records encrypted under their own
data keys exactly as filing does, so that reads and queries decrypt real records.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.audit import raw_durable_commits
from bench.load import Connection, Sender, ServedProcess, bare_argv, records_argv, run_load

RECORDS = int(os.environ.get("BENCH_RECORDS", "10000"))
SECONDS = float(os.environ.get("BENCH_API_SECONDS", "4"))
CONCURRENCY = (1, 16, 64)
MiB = 1024 * 1024
SEED_START = datetime(2025, 1, 1, tzinfo=UTC)
SEED_SPAN = timedelta(days=365)
OWNERS = [f"agent-{n:02d}" for n in range(20)]
FILING = {
    "kind": "consultation", "channel": "phone", "urgency": "general", "subject": "bench",
    "description": "Customer asks about the signal at home.",
    "customer": {"name": "B", "phone": "13800000000", "account": "B-1"},
}


def _seed_record(i: int, n: int) -> Any:
    from records.models import Channel, Customer, Kind, Record, TimelineEvent, Urgency

    kind = (Kind.consultation, Kind.complaint, Kind.emergency)[i % 3]
    at = SEED_START + SEED_SPAN * (i / max(n, 1))
    prefix = {Kind.consultation: "CN", Kind.complaint: "CP", Kind.emergency: "EM"}[kind]
    return Record(
        id=str(uuid.uuid4()), kind=kind, reference=f"{prefix}-2025-{i:07d}",
        status={Kind.consultation: "received", Kind.complaint: "accepted", Kind.emergency: "received"}[kind],
        # Fields vary independently of each other (no filter combination is empty by construction).
        version=1, owner=OWNERS[(i * 7) % len(OWNERS)], created_by=OWNERS[(i * 7) % len(OWNERS)],
        channel=list(Channel)[(i // 9) % len(Channel)], urgency=list(Urgency)[(i // 3) % len(Urgency)],
        customer=Customer(name=f"Customer {i}", phone=f"138{i:08d}", account=f"ACC-{i % 50_000}"),
        subject=f"Seeded file {i}", description="No mobile signal at home since Monday.",
        classification=["content:network.signal"] if i % 4 == 0 else ["content:business_handling.account_query"],
        received_at=at, created_at=at, updated_at=at,
        timeline=[TimelineEvent(at=at, actor="bench", event="filed", detail={"kind": kind.value})],
    )


def seed(data_dir: Path, n: int, batch: int = 5_000) -> tuple[float, list[str]]:
    """Fill the store with ``n`` encrypted records; returns records/s and a sample of their ids."""
    from records.clock import to_text
    from records.installation import Installation
    from records.settings import load_settings
    from records.storage.sqlite.records import _COLUMNS, _row, _set_classification, _set_deadlines

    async def fill() -> tuple[float, list[str]]:
        installation = await Installation.open(load_settings(data_dir=data_dir))
        service, db = installation.records, installation.storage._db  # bench only: bulk inserts
        sample: list[str] = []
        start = time.perf_counter()
        try:
            for first in range(0, n, batch):
                sealed = []
                for i in range(first, min(n, first + batch)):
                    record = _seed_record(i, n)
                    key, wrapped = service._keys.issue(record.id)
                    sealed.append((service._sealer.seal(record, key), wrapped))
                    if i % max(1, n // 1000) == 0:
                        sample.append(record.id)

                def insert(conn: sqlite3.Connection, sealed: list = sealed) -> None:
                    rows = [_row(s) for s, _ in sealed]
                    conn.executemany(f"INSERT INTO records ({_COLUMNS}) VALUES ({', '.join('?' * len(rows[0]))})", rows)
                    conn.executemany(
                        "INSERT INTO data_keys (record_id, key_version, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?)",
                        [(w.record_id, w.key_version, w.kek_id, w.wrapped, to_text(w.created_at)) for _, w in sealed])
                    for s, _ in sealed:
                        _set_classification(conn, s)
                        _set_deadlines(conn, s)

                await db.run(db.transaction(insert))
            rate = n / (time.perf_counter() - start) if n else 0.0
        finally:
            await installation.close()
        return rate, sample

    return asyncio.run(fill())


def _token(data_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDS_")}
    subprocess.run([sys.executable, "-m", "records", "init", "--data-dir", str(data_dir)],
                   capture_output=True, check=True, env=env)
    return subprocess.run(
        [sys.executable, "-m", "records", "tokens", "create", "--role", "agent", "--name", "bench", "--data-dir", str(data_dir)],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.strip()


_FILING_BODY = json.dumps(FILING).encode()


async def _creates(connection: Connection, n: int) -> None:
    await connection.request("POST", "/api/v1/records", _FILING_BODY)


def _reads(ids: list[str]) -> Sender:
    async def send(connection: Connection, n: int) -> None:
        await connection.request("GET", f"/api/v1/records/{ids[n % len(ids)]}")
    return send


def _query(params: dict[str, str] | Callable[[int], dict[str, str]]) -> Sender:
    async def send(connection: Connection, n: int) -> None:
        query = urlencode(params(n) if callable(params) else params)
        await connection.request("GET", "/api/v1/records" + (f"?{query}" if query else ""))
    return send


def queries(n: int) -> dict[str, Any]:
    month = SEED_START + SEED_SPAN / 2
    return {
        "newest 50": {"limit": "50"},
        "kind + urgency": {"kind": "complaint", "urgency": "major", "limit": "50"},
        "owner + status": {"owner": "agent-07", "status": "accepted", "limit": "50"},
        "classification + received month": {
            "classification": "content:network.signal", "limit": "50",
            "received_from": month.isoformat().replace("+00:00", "Z"),
            "received_to": (month + timedelta(days=30)).isoformat().replace("+00:00", "Z")},
        "customer phone (blind index)": lambda k: {"customer_phone": f"+86 138-{(k * 7919) % max(n, 1):08d}"},
    }


def run() -> dict[str, Any]:
    results: dict[str, Any] = {"records_in_store": RECORDS, "seconds_per_load": SECONDS}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        commits = raw_durable_commits(tmp / "raw.sqlite3")
        results["raw_durable_sqlite_commits_per_s"] = round(commits, 1)

        bare = ServedProcess(bare_argv())
        try:
            results["bare_startup_s"] = round(bare.startup_s, 3)
            results["bare_idle_rss_mib"] = round(bare.idle_rss() / MiB, 1)
            results["bare_create"] = [run_load(bare.base, {}, _creates, c, SECONDS).as_dict() for c in CONCURRENCY]
            results["bare_read"] = [run_load(bare.base, {}, _reads(["x"]), c, SECONDS).as_dict() for c in CONCURRENCY]
            results["bare_page_of_50"] = run_load(bare.base, {}, _query({}), 1, SECONDS).as_dict()
        finally:
            bare.stop()

        data_dir = tmp / "data"
        token = _token(data_dir)  # initialises the data dir
        seed_rate, sample = seed(data_dir, RECORDS)
        results["seed_records_per_s"] = round(seed_rate, 1)
        random.Random(1).shuffle(sample)
        # The bench measures the lookup path itself, not the per-principal lookup limit.
        server = ServedProcess(records_argv(data_dir), env={"RECORDS_LOG_LEVEL": "warning", "RECORDS_LOOKUP_LIMIT": "100000000"})
        try:
            headers = {"Authorization": f"Bearer {token}"}
            results["records_startup_s"] = round(server.startup_s, 3)
            results["records_idle_rss_mib"] = round(server.idle_rss() / MiB, 1)
            results["read"] = [run_load(server.base, headers, _reads(sample), c, SECONDS).as_dict() for c in CONCURRENCY]
            results["queries"] = {name: run_load(server.base, headers, _query(params), 1, SECONDS / 2).as_dict()
                                  for name, params in queries(RECORDS).items()}
            results["create"] = [run_load(server.base, headers, _creates, c, SECONDS).as_dict() for c in CONCURRENCY]
            results["records_rss_after_load_mib"] = round(server.idle_rss() / MiB, 1)
        finally:
            server.stop()
    _print(results)
    return results


def _print(r: dict[str, Any]) -> None:
    print(f"api (store of {r['records_in_store']:,} records, {r['seconds_per_load']:.0f} s per load, "
          f"seeded at {r['seed_records_per_s']:,.0f} records/s)")
    print(f"  {'figure':<44} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs ceiling':>11}  ceiling")
    commits = r["raw_durable_sqlite_commits_per_s"]
    print(f"  {'raw durable SQLite commits':<44} {commits:>9,.0f}")
    for label, real, bare in [("create", r["create"], r["bare_create"]), ("read (audited)", r["read"], r["bare_read"])]:
        for mine, ceiling in zip(real, bare, strict=True):
            name = f"{label}, {mine['clients']} client{'s' if mine['clients'] > 1 else ''}"
            print(f"  {name:<44} {mine['per_s']:>9,.0f} {mine['p50_ms']:>8.1f} {mine['p99_ms']:>8.1f} "
                  f"{mine['per_s'] / ceiling['per_s']:>10.3f}x  bare litestar {ceiling['per_s']:,.0f}/s")
            if label == "create":
                print(f"  {'':<44} {'':>9} {'':>8} {'':>8} {mine['per_s'] / commits:>10.3f}x  raw SQLite commits")
    page = r["bare_page_of_50"]["per_s"]
    for name, q in r["queries"].items():
        print(f"  {'list: ' + name:<44} {q['per_s']:>9,.0f} {q['p50_ms']:>8.1f} {q['p99_ms']:>8.1f} "
              f"{q['per_s'] / page:>10.3f}x  bare litestar page of 50, {page:,.0f}/s")
    print(f"  start-up: records {r['records_startup_s']:.2f} s, bare litestar {r['bare_startup_s']:.2f} s "
          f"({r['records_startup_s'] / r['bare_startup_s']:.1f}x)")
    print(f"  idle RSS: records {r['records_idle_rss_mib']:.0f} MiB (after load {r['records_rss_after_load_mib']:.0f} MiB), "
          f"bare litestar {r['bare_idle_rss_mib']:.0f} MiB ({r['records_idle_rss_mib'] / r['bare_idle_rss_mib']:.1f}x)")
