"""Two `records serve` processes on one MongoDB (nx-27017) and one S3 bucket (SeaweedFS): either
answers any request, exactly one seals the audit log, each breached deadline is reported once,
and the tree both built verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.storage.servers import free_port

pytestmark = pytest.mark.slow


def _env(mongo: str, s3, keyring: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDS_")}
    env.update({
        "RECORDS_STORE": f"{mongo}/instances", "RECORDS_BLOBS": "s3://instances", "RECORDS_S3_ENDPOINT": s3.endpoint,
        "RECORDS_S3_ACCESS_KEY": s3.access_key, "RECORDS_S3_SECRET_KEY": s3.secret_key, "RECORDS_S3_SECURE": "false",
        "RECORDS_KEYRING_DIR": str(keyring), "RECORDS_AUDIT_SEAL_SECONDS": "0.5", "RECORDS_SLA_CHECK_SECONDS": "0.5",
    })
    return env


def _records(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "records", *args], check=False, env=env, capture_output=True, text=True,
                          timeout=120)


def test_two_instances_on_one_mongo_one_sealer_one_sweep_consistent_tree(tmp_path, nx_mongodb_url, seaweedfs_s3):
    env = _env(nx_mongodb_url, seaweedfs_s3, tmp_path / "keyring")
    assert _records(env, "init", "--data-dir", str(tmp_path / "a")).returncode == 0
    created = _records(env, "tokens", "create", "--role", "admin", "--name", "root", "--data-dir", str(tmp_path / "a"))
    assert created.returncode == 0, created.stderr
    admin = {"Authorization": f"Bearer {created.stdout.strip()}"}
    servers = []
    try:
        for name in ("a", "b"):
            port = free_port()
            log = (tmp_path / f"{name}.log").open("wb")
            proc = subprocess.Popen([sys.executable, "-m", "records", "serve", "--data-dir", str(tmp_path / name),
                                     "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
            servers.append((proc, httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=admin, timeout=30)))
        for proc, client in servers:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "a.log").read_text()
                time.sleep(0.2)

        # Requests alternate between the instances; each sees what the other wrote.
        received = (datetime.now(UTC) - timedelta(days=5)).isoformat()
        ids = []
        for n in range(6):
            _, client = servers[n % 2]
            made = client.post("/api/v1/records", json={
                "kind": "complaint", "channel": "phone", "urgency": "major", "received_at": received,
                "customer": {"name": "张三", "phone": "13812345678", "account": "ACC-1"}, "subject": f"file {n}", "description": "d"})
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
            upload = client.post(f"/api/v1/records/{ids[-1]}/attachments", files={"file": ("r.txt", b"x" * 1000)})
            assert upload.status_code == 201, upload.text
        for n, record_id in enumerate(ids):
            _, other = servers[(n + 1) % 2]
            assert other.get(f"/api/v1/records/{record_id}").json()["subject"] == f"file {n}"

        # Both instances sweep every 0.5 s: wait until every breach was reported, then a while more.
        _, client = servers[0]

        def breaches() -> list[dict]:
            page = client.get("/api/v1/audit/events", params={"action": "deadline.breached", "format": "jsonl"})
            return [json.loads(line) for line in page.text.splitlines() if line]

        deadline = time.monotonic() + 30
        while len({e["targets"][0] for e in breaches()}) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(2)
        reported = [tuple(e["targets"]) for e in breaches()]
        assert len({t[0] for t in reported}) == len(ids)
        assert len(reported) == len(set(reported)), "a breach was reported twice"

        # Both answer with the same checkpoint; exactly one instance signed checkpoints.
        checkpoints = [c.post("/api/v1/audit/checkpoints").json() for _, c in servers]
        assert checkpoints[0]["root_hash"] == checkpoints[1]["root_hash"] or \
            checkpoints[0]["tree_size"] != checkpoints[1]["tree_size"]
        published = [tmp_path / name / "audit" / "checkpoints.jsonl" for name in ("a", "b")]
        signers = [p for p in published if p.exists() and p.read_text().strip()]
        assert len(signers) == 1, [p.exists() and len(p.read_text().splitlines()) for p in published]
    finally:
        for proc, client in servers:
            client.close()
            proc.terminate()
            proc.wait(timeout=30)
    verified = _records(env, "audit", "verify", "--data-dir", str(signers[0].parent.parent))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit log intact" in verified.stdout
