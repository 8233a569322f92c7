"""The console's pages at scale: each main page's time to answer, one viewer at a time, over a
store of ``BENCH_RECORDS`` records, each also under a retention schedule falling due over the next
ten years (``python -m bench console --records 1000000``), beside the
API call each page is built on and the bare litestar GET (``bench/bare.py``) measured in the same
run. Issue 16's goal: every page under 100 ms at 1,000,000 records on this machine.

Pages are fetched as a signed-in browser fetches them (the session cookie from the sign-in form),
rendered in full, and audited as the API reads are. A page that is not part of this release
(404) is reported as absent, not as a failure, so the bench runs on any checkout.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench.api import SEED_SPAN, SEED_START, seed
from bench.load import Connection, Sender, ServedProcess, bare_argv, records_argv, run_load

RECORDS = int(os.environ.get("BENCH_RECORDS", "10000"))
SECONDS = float(os.environ.get("BENCH_CONSOLE_SECONDS", "2"))
GOAL_MS = 100.0
# A full disposition batch (retention_batch_max_items' default) for the batch and reviews pages.
BATCH_ID, BATCH_ITEMS = "bench-disposition-batch", 10_000
ROLES = ("agent", "supervisor", "archivist", "compliance_officer", "admin")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def pages(sample: list[str]) -> list[tuple[str, str, Callable[[int], str], str | None]]:
    """(name, role, path of the n-th request, the API call the page is built on)."""
    month = SEED_START + SEED_SPAN / 2
    month_query = {"classification": "content:network.signal", "received_from": _iso(month),
                   "received_to": _iso(month + timedelta(days=30))}
    year = {"from": SEED_START.date().isoformat(), "to": (SEED_START + SEED_SPAN).date().isoformat()}
    listed = [
        ("home", "agent", lambda n: "/console/", None),
        ("files, newest", "agent", lambda n: "/console/records/", "/api/v1/records?limit=50"),
        ("files, kind + urgency", "agent", lambda n: "/console/records/?kind=complaint&urgency=major",
         "/api/v1/records?kind=complaint&urgency=major&limit=50"),
        ("files, classification + month", "agent", lambda n: "/console/records/?" + urlencode(month_query),
         "/api/v1/records?" + urlencode({**month_query, "limit": "50"})),
        ("files, customer phone", "agent",
         lambda n: "/console/records/?" + urlencode({"customer_phone": f"138{(n * 7919) % max(RECORDS, 1):08d}"}),
         "/api/v1/records?customer_phone=13800000007"),
        ("a file", "agent", lambda n: f"/console/records/{sample[n % len(sample)]}", f"/api/v1/records/{sample[0]}"),
        ("file a new one (form)", "agent", lambda n: "/console/records/new?kind=complaint", None),
        ("deadlines", "supervisor", lambda n: "/console/metrics/deadlines", "/api/v1/records?sla=breached&limit=50"),
        ("metrics, last 30 days", "supervisor", lambda n: "/console/metrics/", None),
        ("metrics, a year of 1M", "supervisor", lambda n: "/console/metrics/?" + urlencode(year), None),
        ("audit explorer", "compliance_officer", lambda n: "/console/audit/", "/api/v1/audit/events?limit=50"),
        ("audit, one actor", "compliance_officer", lambda n: "/console/audit/?actor=bench-agent", None),
        ("log integrity", "compliance_officer", lambda n: "/console/audit/integrity/", "/api/v1/audit/checkpoint"),
        ("disposition queue", "archivist", lambda n: "/console/retention/batches", "/api/v1/retention/batches"),
        (f"a batch of {BATCH_ITEMS:,} items", "archivist", lambda n: f"/console/retention/batches/{BATCH_ID}",
         f"/api/v1/retention/batches/{BATCH_ID}?limit=100"),
        ("a batch, page 50, one kind", "archivist",
         lambda n: f"/console/retention/batches/{BATCH_ID}?kind=complaint&decision=pending&offset=4900", None),
        ("reviews", "archivist", lambda n: "/console/retention/reviews/", "/api/v1/reviews"),
        ("legal holds", "archivist", lambda n: "/console/retention/holds/", "/api/v1/retention/holds"),
        ("schedules", "archivist", lambda n: "/console/retention/schedules/", "/api/v1/retention/schedules"),
        ("forecast", "archivist", lambda n: "/console/retention/forecast", None),
        ("certificates", "archivist", lambda n: "/console/retention/certificates", None),
        ("plugins", "admin", lambda n: "/console/plugins/", "/api/v1/plugins"),
        ("tokens", "admin", lambda n: "/console/admin/tokens", None),
    ]
    return listed + _unlisted(listed)


def _unlisted(listed: list[tuple[str, str, Callable[[int], str], str | None]]) -> list[tuple[str, str, Callable[[int], str], str | None]]:
    """Every page of the console's navigation the list above does not time yet, so that a new area
    is measured from the day it lands (as a viewer of the first role in ``ROLES`` that sees it)."""
    from records.console.nav import NAVIGATION

    timed = {path(0).split("?")[0].rstrip("/") for _, _, path, _ in listed}
    extra = []
    for entry in NAVIGATION:
        role = next((r for r in ROLES if r in {x.value for x in entry.roles}), None)
        if role is not None and entry.path.rstrip("/") not in timed:
            extra.append((entry.path, role, lambda n, p=entry.path: p, None))
    return extra


def seed_retention(data_dir: Path, n: int) -> None:
    """``n`` archived files' retention assignments under the built-in schedule of their kind, falling
    due evenly over the next ten years, so that the retention pages (queue, forecast) work over a
    store of this size: about 0.8 % fall due within 30 days, 10 % within a year. Inserted directly
    (setup, not measured), as ``bench/retention.py`` does."""
    from records.installation import Installation
    from records.retention.models import RetentionAssignment, ScheduleRef
    from records.settings import load_settings

    async def schedules() -> dict[str, ScheduleRef]:
        installation = await Installation.open(load_settings(data_dir=data_dir))
        try:
            assert installation.retention is not None
            return {kind.value: ScheduleRef(id=s.id, version=s.version, name=s.name)
                    for s in await installation.retention.schedules() for kind in s.kinds if not s.classification}
        finally:
            await installation.close()

    refs = asyncio.run(schedules())
    kinds = sorted(refs)
    now = datetime.now(UTC)
    conn = sqlite3.connect(data_dir / "records.sqlite3")
    rows = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        until = now + timedelta(days=1 + (i * 3650) // max(n, 1))
        a = RetentionAssignment(record_id=f"bench-{i:09d}-{uuid.uuid4().hex[:8]}", reference=f"CN-2025-{i:09d}",
                                kind=kind, schedule=refs[kind], trigger="archived", trigger_at=until - timedelta(days=1095),
                                retain_until=until, action="destroy", basis="bench")
        rows.append((a.record_id, refs[kind].id, until.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), a.model_dump_json()))
        if len(rows) >= 50_000:
            conn.executemany("INSERT INTO retention_assignments (record_id, schedule_id, retain_until, doc) VALUES (?, ?, ?, ?)", rows)
            conn.commit()
            rows = []
    conn.executemany("INSERT INTO retention_assignments (record_id, schedule_id, retain_until, doc) VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    _seed_batch(conn, refs, kinds, now)
    conn.close()


def _seed_batch(conn: sqlite3.Connection, refs: dict[str, Any], kinds: list[str], now: datetime) -> None:
    """An open batch of ``BATCH_ITEMS`` files (beside the ``n`` above) as a sweep stores one, under the
    two-person rule: 30 % approved once by someone else, 5 % rejected, the rest undecided."""
    from records.retention.models import (
        BatchItem,
        BatchStatus,
        Decision,
        DispositionBatch,
        ItemState,
        RetentionAssignment,
    )
    from records.storage.sqlite.retention import _batch_header, _insert_items

    items, rows = [], []
    for i in range(BATCH_ITEMS):
        kind = kinds[i % len(kinds)]
        until = now - timedelta(days=1, minutes=i)
        a = RetentionAssignment(record_id=f"bench-batch-{i:06d}", reference=f"CN-2024-{i:09d}", kind=kind,
                                schedule=refs[kind], trigger="archived", trigger_at=until - timedelta(days=1095),
                                retain_until=until, action="destroy", basis="bench", batch_id=BATCH_ID)
        rows.append((a.record_id, refs[kind].id, until.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), BATCH_ID, a.model_dump_json()))
        decided: dict[str, Any] = {}
        if i % 20 < 6:
            decided = {"decision": Decision.approve, "approvers": ["bench-first-approver"]}
        elif i % 20 == 6:
            decided = {"decision": Decision.reject, "approvers": ["bench-first-approver"], "reason": "bench",
                       "state": ItemState.kept}
        items.append(BatchItem(record_id=a.record_id, reference=a.reference, kind=a.kind, action=a.action,
                               retain_until=until, schedule=a.schedule, **decided))
    batch = DispositionBatch(id=BATCH_ID, status=BatchStatus.open, as_of=now, created_at=now, created_by="bench",
                             items=items, two_person_rule=True)
    conn.executemany("INSERT INTO retention_assignments (record_id, schedule_id, retain_until, batch_id, doc)"
                     " VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO disposition_batches (id, status, created_at, doc) VALUES (?, 'open', ?, ?)",
                 (BATCH_ID, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), _batch_header(batch)))
    _insert_items(conn, BATCH_ID, items)
    conn.commit()


def _tokens(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDS_")}
    subprocess.run([sys.executable, "-m", "records", "init", "--data-dir", str(data_dir)],
                   capture_output=True, check=True, env=env)
    return {role: subprocess.run(
        [sys.executable, "-m", "records", "tokens", "create", "--role", role, "--name", f"bench-{role.replace('_', '-')}",
         "--data-dir", str(data_dir)], capture_output=True, text=True, check=True, env=env).stdout.strip()
        for role in ROLES}


def _session_cookie(base: str, token: str) -> str:
    """Sign in through the form as a browser does; the ``Cookie`` header of that session."""
    with httpx.Client(base_url=base, headers={"accept-language": "zh-CN"}, timeout=30) as browser:
        form = browser.get("/console/sign-in")
        csrf = CSRF.search(form.text)
        assert csrf, "the sign-in form has no CSRF field"
        answer = browser.post("/console/sign-in", data={"token": token, "next": "/console/", "csrf_token": csrf.group(1)})
        assert answer.status_code in (200, 303), f"sign-in answered {answer.status_code}"
        return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def _get(path: Callable[[int], str]) -> Sender:
    async def send(connection: Connection, n: int) -> None:
        await connection.request("GET", path(n))
    return send


def _present(base: str, headers: dict[str, str], path: str) -> int:
    with httpx.Client(base_url=base, headers=headers, timeout=60, follow_redirects=False) as client:
        return client.get(path).status_code


def run() -> dict[str, Any]:
    results: dict[str, Any] = {"records_in_store": RECORDS, "seconds_per_page": SECONDS, "goal_ms": GOAL_MS}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bare = ServedProcess(bare_argv())
        try:
            results["bare_get"] = run_load(bare.base, {}, _get(lambda n: "/api/v1/records/x"), 1, SECONDS).as_dict()
        finally:
            bare.stop()
        data_dir = tmp / "data"
        tokens = _tokens(data_dir)
        seed_rate, sample = seed(data_dir, RECORDS)
        results["seed_records_per_s"] = round(seed_rate, 1)
        seed_retention(data_dir, RECORDS)
        results["retention_assignments"] = RECORDS
        random.Random(1).shuffle(sample)
        server = ServedProcess(records_argv(data_dir), env={"RECORDS_LOG_LEVEL": "warning", "RECORDS_LOOKUP_LIMIT": "100000000"})
        try:
            cookies = {role: _session_cookie(server.base, token) for role, token in tokens.items()}
            measured: dict[str, Any] = {}
            for name, role, path, api in pages(sample):
                browser = {"Cookie": cookies[role], "Accept-Language": "zh-CN"}
                status = _present(server.base, browser, path(0))
                if status == 404:
                    measured[name] = {"absent": True, "path": path(0)}
                    continue
                if status != 200:
                    raise RuntimeError(f"{name}: {path(0)} answered {status}")
                figure = {"path": path(0), **run_load(server.base, browser, _get(path), 1, SECONDS).as_dict()}
                if api is not None:
                    bearer = {"Authorization": f"Bearer {tokens[role]}"}
                    figure["api"] = api
                    figure["api_p50_ms"] = run_load(server.base, bearer, _get(lambda n, a=api: a), 1, SECONDS / 2).as_dict()["p50_ms"]
                measured[name] = figure
            results["pages"] = measured
        finally:
            server.stop()
    _print(results)
    return results


def _print(r: dict[str, Any]) -> None:
    print(f"console (store of {r['records_in_store']:,} records, {r['seconds_per_page']:.0f} s per page, one viewer, "
          f"goal < {r['goal_ms']:.0f} ms; bare litestar GET p50 {r['bare_get']['p50_ms']:.1f} ms)")
    print(f"  {'page':<32} {'p50 ms':>8} {'p99 ms':>8} {'per s':>7} {'API p50':>8}  {'goal':<5} path")
    for name, f in r["pages"].items():
        if f.get("absent"):
            print(f"  {name:<32} {'absent in this release':>34}  {f['path']}")
            continue
        api = f"{f['api_p50_ms']:>8.1f}" if "api_p50_ms" in f else f"{'':>8}"
        verdict = "ok" if f["p99_ms"] < r["goal_ms"] else "OVER"
        print(f"  {name:<32} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} {f['per_s']:>7.0f} {api}  {verdict:<5} {f['path']}")
