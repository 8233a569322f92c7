"""Fault tests (issue 9, item 4): ``kill -9`` at random points during key rotation, disposition
execution, plugin install and filing under load; a full disk; a read-only data dir.

Every test runs the real programs as separate processes (``records serve`` through the
``ServerProcess`` helper of ``tests/helpers/server_process.py``, and ``python -m records ...`` for the
commands), kills them with SIGKILL, restarts, and then asks the installation itself whether it
is sound: ``records audit verify`` and ``records fsck`` must exit 0 and every acknowledged write
must be there. Kill points are partly chosen by watching the data dir (so that a kill lands
*inside* the interesting phase, not before it started) and partly random (seeded, printed on
failure).

The full-disk and read-only tests need to mount a tmpfs (root in a container); where that is
not possible they are skipped with the reason, rather than simulated with ``chmod`` (root
ignores it) or an rlimit that is not what a full disk does.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from records.plugins.signing import public_pem
from tests.helpers.server_process import (
    RECORDS_URL,
    BackgroundFiler,
    ServerProcess,
    api,
    clean_env,
    create_token,
    file_record,
    files_under,
    free_port,
    list_all_records,
    record_body,
)
from tests.plugin_wheels import build_wheel

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
SEED = int(os.environ.get("RECORDS_TEST_FAULT_SEED", "0")) or random.SystemRandom().randrange(1, 2**31)
RETENTION = "/api/v1/retention"
PLUGINS = "/api/v1/plugins"
PLUGIN_NAME = "records-example-escalation"
PLUGIN_METRIC = "major_complaint_share"


def rng(salt: str) -> random.Random:
    """A random source per test, reproducible with RECORDS_TEST_FAULT_SEED=<seed in the failure>."""
    return random.Random(f"{SEED}:{salt}")


# --- processes -------------------------------------------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    env = clean_env()
    env.update(extra)
    return env


def run_cli(data_dir: Path, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510
        [sys.executable, "-m", "records", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=cli_env(**env), timeout=timeout, stdin=subprocess.DEVNULL,
    )


def start_cli(data_dir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "records", *args, "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(**env), stdin=subprocess.DEVNULL,
    )


def kill9(proc: subprocess.Popen[Any]) -> bool:
    """SIGKILL the process if it still runs; True if it was killed (False: it had finished)."""
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=10)
    proc.output = (out or "", err or "")  # type: ignore[attr-defined]
    return killed and proc.returncode == -signal.SIGKILL


def wait_until(predicate: Callable[[], bool], timeout: float, proc: subprocess.Popen[Any] | None = None,
               poll: float = 0.005) -> bool:
    """True when ``predicate`` holds within ``timeout``; False on timeout or when ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except sqlite3.Error:
            pass  # the database is busy being written: look again
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(poll)
    return False


def db_query(data_dir: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the store beside the process under test (WAL: readers never block the writer)."""
    conn = sqlite3.connect(f"file:{data_dir / 'records.sqlite3'}?mode=ro", uri=True, timeout=1)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def assert_sound(data_dir: Path, context: str = "") -> dict[str, Any]:
    """``records audit verify`` and ``records fsck`` both exit 0; returns the fsck report."""
    verified = run_cli(data_dir, "audit", "verify")
    assert verified.returncode == 0, f"{context} audit verify failed (seed {SEED}): {verified.stdout}{verified.stderr}"
    assert "intact" in verified.stdout
    checked = run_cli(data_dir, "fsck", "--json")
    assert checked.returncode == 0, f"{context} fsck not clean (seed {SEED}): {checked.stdout}{checked.stderr}"
    report = json.loads(checked.stdout)
    assert report["clean"] and report["findings"] == [], report
    return report


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def file_many(server: ServerProcess, token: str, count: int, workers: int = 4, **extra: Any) -> list[dict[str, Any]]:
    """File ``count`` records over ``workers`` connections; every one must be acknowledged."""
    kinds = ("consultation", "work_order", "complaint", "emergency")

    def batch(offset: int) -> list[dict[str, Any]]:
        with api(server, token) as client:
            return [file_record(client, kinds[i % 4], subject=f"fault-{i}", **extra) for i in range(offset, count, workers)]

    with ThreadPoolExecutor(workers) as pool:
        return [r for part in pool.map(batch, range(workers)) for r in part]


def read_all(server: ServerProcess, token: str, ids: list[str], workers: int = 4) -> dict[str, httpx.Response]:
    def batch(offset: int) -> list[tuple[str, httpx.Response]]:
        with api(server, token) as client:
            return [(i, client.get(f"{RECORDS_URL}/{i}")) for i in ids[offset::workers]]

    with ThreadPoolExecutor(workers) as pool:
        return dict(pair for part in pool.map(batch, range(workers)) for pair in part)


# --- 1. key rotation killed -------------------------------------------------------------------------


def _kek_states(data_dir: Path) -> dict[str, str]:
    doc = json.loads((data_dir / "keyring" / "keyring.json").read_text())
    return {kek_id: entry["state"] for kek_id, entry in doc["keks"].items()}


def _keys_by_kek(data_dir: Path) -> dict[str, int]:
    return dict(db_query(data_dir, "SELECT kek_id, count(*) FROM data_keys GROUP BY kek_id"))


def test_key_rotation_killed_at_random_points_resumes_and_every_record_reads(server, data_dir):
    """``records keys rotate`` killed mid re-wrap, during its grace period and at a random moment;
    run again it finishes; every record reads exactly as before; audit verify and fsck pass."""
    r = rng("rotate")
    agent = create_token(data_dir, "alice", "agent")
    server.start()
    filed = file_many(server, agent, 240)
    with api(server, agent) as client:
        target = filed[0]["id"]
        content = r.randbytes(200_000)
        up = client.post(f"{RECORDS_URL}/{target}/attachments", files={"file": ("a.bin", content, "application/octet-stream")})
        assert up.status_code == 201, up.text
    ids = [f["id"] for f in filed]
    before = {i: resp.json() for i, resp in read_all(server, agent, ids).items()}
    server.stop()
    (original_kek,) = _kek_states(data_dir)
    assert _keys_by_kek(data_dir) == {original_kek: len(ids)}

    grace = {"RECORDS_KEY_ROTATION_GRACE_SECONDS": "1.0"}
    kill_points = []

    # (a) inside the re-wrap: some data keys moved to the new KEK, some not yet.
    proc = start_cli(data_dir, "keys", "rotate", **grace)
    mid = wait_until(lambda: len(_keys_by_kek(data_dir)) >= 2, 20, proc)
    killed = kill9(proc)
    kill_points.append(("mid re-wrap", mid, killed, _keys_by_kek(data_dir)))
    assert mid and killed, f"rotation was not caught mid re-wrap: {kill_points}; {proc.output}"
    states = _kek_states(data_dir)
    assert sorted(states.values()) == ["active", "retiring"], states

    # (b) at a random moment of a resumed run (start-up, re-wrap or grace).
    proc = start_cli(data_dir, "keys", "rotate", **grace)
    time.sleep(r.uniform(0.3, 1.6))
    kill_points.append(("random", kill9(proc), _keys_by_kek(data_dir), _kek_states(data_dir)))

    # (c) in the grace period: every key re-wrapped, the old KEK not yet retired.
    if "retiring" in _kek_states(data_dir).values():
        proc = start_cli(data_dir, "keys", "rotate", **grace)
        active = next(k for k, s in _kek_states(data_dir).items() if s == "active")
        in_grace = wait_until(lambda: set(_keys_by_kek(data_dir)) == {active}, 20, proc)
        time.sleep(r.uniform(0.0, 0.5))
        kill_points.append(("grace", in_grace, kill9(proc), _keys_by_kek(data_dir), _kek_states(data_dir)))

    # Run again: it resumes (or, if a kill came after the retirement, finds nothing left) and completes.
    done = run_cli(data_dir, "keys", "rotate", **grace)
    assert done.returncode == 0, f"{done.stderr} (kill points {kill_points}, seed {SEED})"
    no_traceback(done.stderr)
    states = _kek_states(data_dir)
    active = [k for k, s in states.items() if s == "active"]
    assert len(active) == 1 and "retiring" not in states.values(), (states, kill_points)
    assert states[original_kek] == "retired", states
    assert _keys_by_kek(data_dir) == {active[0]: len(ids)}, kill_points
    status = run_cli(data_dir, "keys", "status")
    assert status.returncode == 0 and active[0] in status.stdout, status.stderr

    server.start()
    after = read_all(server, agent, ids)
    unreadable = {i: resp.text[:200] for i, resp in after.items() if resp.status_code != 200}
    assert not unreadable, f"{len(unreadable)} records unreadable after the killed rotation: {list(unreadable.items())[:3]}"
    changed = [i for i in ids if after[i].json() != before[i]]
    assert not changed, f"{len(changed)} records read differently after rotation"
    with api(server, agent) as client:
        attachment = before[target]["attachments"][0]
        download = client.get(f"{RECORDS_URL}/{target}/attachments/{attachment['id']}")
        assert download.status_code == 200 and download.content == content
        file_record(client, "complaint")  # new filings wrap under the new KEK
    server.stop()
    assert_sound(data_dir, "after a killed key rotation")


# --- 2. disposition execution killed ---------------------------------------------------------------


def _due_batch(server: ServerProcess, admin: str, agent: str, count: int) -> tuple[str, list[str]]:
    """``count`` complaints, archived under a schedule that makes them due at once, swept into one
    batch and approved. Returns the batch id and the record ids."""
    with api(server, admin) as a:
        created = a.post(f"{RETENTION}/schedules", json={
            "name": "Faults: due at once", "kinds": ["complaint"], "classification": ["urgency:urgent"],
            "trigger": "archived", "period": "P0D", "action": "destroy"})
        assert created.status_code == 201, created.text

    def archive(offset: int) -> list[str]:
        ids = []
        with api(server, agent) as ag, api(server, admin) as ad:
            for i in range(offset, count, 4):
                record = file_record(ag, "complaint", subject=f"due-{i}")
                rid = record["id"]
                if i % 3 == 0:
                    up = ag.post(f"{RECORDS_URL}/{rid}/attachments", files={"file": ("e.txt", b"evidence %d" % i, "text/plain")})
                    assert up.status_code == 201, up.text
                for stage in ("investigating", "handling"):
                    assert ag.post(f"{RECORDS_URL}/{rid}/transitions", json={"to": stage}).status_code == 200
                version = ag.get(f"{RECORDS_URL}/{rid}").json()["version"]
                p = ag.patch(f"{RECORDS_URL}/{rid}", json={"result": "Done", "feedback": {"satisfaction": 4}},
                             headers={"If-Match": f'"{version}"'})
                assert p.status_code == 200, p.text
                assert ag.post(f"{RECORDS_URL}/{rid}/transitions", json={"to": "feedback"}).status_code == 200
                t = ad.post(f"{RECORDS_URL}/{rid}/transitions", json={"to": "archived"})
                assert t.status_code == 200, t.text
                ids.append(rid)
        return ids

    with ThreadPoolExecutor(4) as pool:
        record_ids = [i for part in pool.map(archive, range(4)) for i in part]
    with api(server, admin) as a:
        swept = a.post(f"{RETENTION}/sweeps", json={})
        assert swept.status_code == 200, swept.text
        batches = [b for b in swept.json()["batches"] if any(i["record_id"] in record_ids for i in b["items"])]
        assert len(batches) == 1, swept.json()
        batch = batches[0]
        assert {i["record_id"] for i in batch["items"]} == set(record_ids)
        decisions = [{"record_id": i["record_id"], "decision": "approve"} for i in batch["items"]]
        decided = a.post(f"{RETENTION}/batches/{batch['id']}/decisions", json={"decisions": decisions})
        assert decided.status_code == 200, decided.text
    return batch["id"], record_ids


def _disposed(data_dir: Path, batch_id: str) -> int:
    return db_query(data_dir, "SELECT count(*) FROM disposition_items WHERE batch_id = ? AND state = 'disposed'",
                    batch_id)[0][0]


def _all_events(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    events, cursor = [], None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/audit/events", params=query)
        assert page.status_code == 200, page.text
        events += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return events


def test_disposition_killed_at_random_points_disposes_each_record_exactly_once(server, data_dir, tmp_path):
    """The server killed after ``POST …/execute``, then ``records retention execute`` killed twice;
    the restarted server resumes the batch: every record 410, one destruction event each, a valid
    certificate; audit verify and fsck pass."""
    r = rng("dispose")
    count = 40
    admin = create_token(data_dir, "root", "admin")
    agent = create_token(data_dir, "alice", "agent")
    server.start()
    batch_id, record_ids = _due_batch(server, admin, agent, count)
    kill_points = []

    # (a) the server, while it executes the batch in the background.
    with api(server, admin) as a:
        started = a.post(f"{RETENTION}/batches/{batch_id}/execute")
        assert started.status_code == 202, started.text
        target = r.randint(0, count // 4)
        wait_until(lambda: _disposed(data_dir, batch_id) >= target, 10)
        server.kill9()
    kill_points.append(("server", target, _disposed(data_dir, batch_id)))

    # (b) the command, twice, at a random number of items done.
    for round_ in range(2):
        proc = start_cli(data_dir, "retention", "execute", batch_id)
        done_before = _disposed(data_dir, batch_id)
        target = min(count, done_before + r.randint(1, 8))
        reached = wait_until(lambda: _disposed(data_dir, batch_id) >= target, 20, proc)  # noqa: B023 (called within the iteration)
        time.sleep(r.uniform(0, 0.03))  # somewhere inside the next item
        kill_points.append((f"cli-{round_}", target, reached, kill9(proc), _disposed(data_dir, batch_id)))
        no_traceback(proc.output[1])

    # The restarted server resumes the executing batch by itself.
    server.start()
    with api(server, admin) as a:
        deadline = time.monotonic() + 30
        while (batch := a.get(f"{RETENTION}/batches/{batch_id}").json())["status"] != "done":
            assert time.monotonic() < deadline, f"batch not resumed to done: {batch} ({kill_points}, seed {SEED})"
            time.sleep(0.1)
        certificate_id = batch["certificate_id"]
        assert certificate_id, batch
        certificate = a.get(f"{RETENTION}/certificates/{certificate_id}")
        assert certificate.status_code == 200, certificate.text
        certificate = certificate.json()
        assert sorted(i["record_id"] for i in certificate["items"]) == sorted(record_ids), kill_points

        destroyed = [e for e in _all_events(a, action="retention.destroy")]
        per_record: dict[str, int] = {}
        for event in destroyed:
            for t in event["targets"]:
                if t.startswith("record:"):
                    per_record[t.removeprefix("record:")] = per_record.get(t.removeprefix("record:"), 0) + 1
        twice = {k: v for k, v in per_record.items() if v != 1}
        assert not twice, f"records disposed of more than once: {twice} ({kill_points})"
        assert set(per_record) == set(record_ids), kill_points
        issued = _all_events(a, action="retention.certificate.issue")
        assert len(issued) == 1, issued

    with api(server, agent) as ag:
        for rid in record_ids:
            gone = ag.get(f"{RECORDS_URL}/{rid}")
            assert gone.status_code == 410 and gone.json()["code"] == "record_destroyed", (rid, gone.text, kill_points)
    server.stop()

    cert_file = tmp_path / "certificate.json"
    cert_file.write_text(json.dumps(certificate))
    key_file = tmp_path / "audit-key.pem"
    key_file.write_text(certificate["public_key"])
    verified = subprocess.run(  # noqa: PLW1510
        [sys.executable, "-m", "records", "retention", "verify-certificate", str(cert_file), "--public-key", str(key_file)],
        capture_output=True, text=True, env=cli_env(), timeout=60)
    assert verified.returncode == 0 and "valid" in verified.stdout, verified.stderr
    again = run_cli(data_dir, "retention", "execute", batch_id)  # a finished batch is not run again
    assert again.returncode == 2 and "[batch_not_open]" in again.stderr, again.stdout + again.stderr
    # At least one kill landed inside the execution (not before it began, nor after it finished).
    assert any(0 < point[-1] < count for point in kill_points), kill_points
    print("disposition kill points:", kill_points)
    assert files_under(data_dir / "blobs" / "attachments") == [], "attachments of destroyed records remain"
    assert_sound(data_dir, "after a killed disposition")


# --- 3. plugin install killed ----------------------------------------------------------------------


PAYLOAD = random.Random(7).randbytes(6 * MiB)  # makes each install take long enough to be cut in its middle


def _signed_upload(key: Ed25519PrivateKey, version: str) -> dict[str, Any]:
    filename, wheel = build_wheel(version=version, extra={"records_example_escalation/payload.bin": PAYLOAD})
    signature = base64.b64encode(key.sign(wheel)).decode()
    return {"files": {"wheel": (filename, wheel, "application/zip"), "signature": (None, signature)}}


def _installed_version(data_dir: Path) -> str | None:
    rows = db_query(data_dir, "SELECT doc FROM plugin_installs WHERE name = ?", PLUGIN_NAME)
    return json.loads(rows[0][0])["version"] if rows else None


def _wheel_blobs(data_dir: Path) -> list[str]:
    return [p.name for p in files_under(data_dir / "blobs" / "plugins")] + \
        [p.name for p in files_under(data_dir / "blobs" / ".incoming")]


def _plugin_state(server: ServerProcess, admin: str) -> dict[str, Any] | None:
    with api(server, admin) as a:
        listed = a.get(PLUGINS)
        assert listed.status_code == 200, listed.text
        plugin = next((p for p in listed.json()["items"] if p["name"] == PLUGIN_NAME), None)
        metrics = [m["name"] for m in a.get("/api/v1/metrics").json()["items"]]
        failed = [p for p in listed.json()["items"] if p["status"] == "failed"]
        assert not failed, f"a plugin is half-installed: {failed}"
        if plugin is None:
            assert PLUGIN_METRIC not in metrics, "the plugin is absent but its metric is served"
            return None
        assert plugin["status"] == "active", plugin
        assert PLUGIN_METRIC in metrics, "the plugin is listed active but its metric is not served"
        value = a.get(f"/api/v1/metrics/{PLUGIN_METRIC}")
        assert value.status_code == 200, value.text
        return plugin


def test_plugin_install_killed_leaves_it_whole_or_absent(server, data_dir):
    """``kill -9`` during or just after ``POST /api/v1/plugins`` (installs and upgrades): after
    a restart the plugin is either fully installed at the old or new version or absent, never
    ``failed``; fsck is clean, or ``--repair`` fixes only orphan wheels and partial uploads."""
    r = rng("plugin")
    admin = create_token(data_dir, "root", "admin")
    manager = create_token(data_dir, "pat", "plugin_manager")
    publisher = Ed25519PrivateKey.generate()
    server.start()
    with api(server, admin) as a:
        trusted = a.post(f"{PLUGINS}/trusted-keys", json={"name": "team", "public_key": public_pem(publisher.public_key())})
        assert trusted.status_code == 201, trusted.text
    # How long one install takes here, to aim the kills (also the plugin works when not killed).
    with api(server, manager) as m:
        t0 = time.monotonic()
        first = m.post(PLUGINS, **_signed_upload(publisher, "0.9.0"))
        install_time = time.monotonic() - t0
        assert first.status_code == 201, first.text
        assert m.delete(f"{PLUGINS}/{PLUGIN_NAME}").status_code == 204

    installed: str | None = None
    outcomes = []
    phases = ["wheel blob being written", "install row committed", "random"]
    for round_, (phase, version) in enumerate(zip(phases, ["1.0.0", "1.1.0", "1.2.0"], strict=True)):
        response: list[Any] = []
        blobs_before = set(_wheel_blobs(data_dir))

        def upload() -> None:
            try:
                with api(server, manager, timeout=10) as m:
                    response.append(m.post(PLUGINS, **_signed_upload(publisher, version)))  # noqa: B023 (called within the iteration)
            except httpx.TransportError as exc:
                response.append(exc)  # noqa: B023 (called within the iteration)

        thread = threading.Thread(target=upload, daemon=True)
        thread.start()
        if phase == "wheel blob being written":
            hit = wait_until(lambda: set(_wheel_blobs(data_dir)) - blobs_before, 10, server.proc, poll=0.0005)  # noqa: B023 (called within the iteration)
            _stop(server)
        elif phase == "install row committed":
            hit = wait_until(lambda: _installed_version(data_dir) == version, 10, server.proc, poll=0.0005)  # noqa: B023 (called within the iteration)
            _stop(server)
        else:
            time.sleep(r.uniform(0, install_time * 1.3))
            hit = None
        server.kill9()
        thread.join(timeout=15)
        acknowledged = bool(response) and isinstance(response[0], httpx.Response) and response[0].status_code == 201
        if response and isinstance(response[0], httpx.Response):
            assert response[0].status_code == 201, response[0].text

        server.start()
        plugin = _plugin_state(server, admin)
        outcomes.append((phase, hit, version, acknowledged, plugin and plugin["version"]))
        if acknowledged:
            assert plugin is not None and plugin["version"] == version, f"an acknowledged install was lost: {outcomes}"
        else:
            assert plugin is None or plugin["version"] in (version, installed), outcomes
        if installed is not None:
            assert plugin is not None, f"a killed upgrade removed the installed plugin: {outcomes}"
        installed = plugin["version"] if plugin else None

        # The access log and the store agree; a leftover wheel is the only thing a repair may fix.
        server.stop()
        checked = run_cli(data_dir, "fsck", "--json")
        report = json.loads(checked.stdout)
        leftovers = {f["code"] for f in report["findings"]}
        assert leftovers <= {"orphan_blob", "incomplete_uploads"}, (report, outcomes)
        if leftovers:
            repaired = run_cli(data_dir, "fsck", "--repair", "--json")
            assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert_sound(data_dir, f"plugin round {round_} {outcomes}")
        server.start()
        if installed is None:  # absent: it installs cleanly on a retry
            with api(server, manager) as m:
                retry = m.post(PLUGINS, **_signed_upload(publisher, version))
                assert retry.status_code == 201, (retry.text, outcomes)
            installed = version
        assert _plugin_state(server, admin)["version"] == installed
    print(f"plugin install kills (install takes {install_time:.2f} s):", outcomes)


def _unpacked(data_dir: Path) -> list[str]:
    directory = data_dir / "plugins" / PLUGIN_NAME
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def test_a_plugin_upgrade_killed_after_its_commit_leaves_no_old_code_behind(server, data_dir):
    admin = create_token(data_dir, "root", "admin")
    manager = create_token(data_dir, "pat", "plugin_manager")
    publisher = Ed25519PrivateKey.generate()
    server.start()
    with api(server, admin) as a:
        assert a.post(f"{PLUGINS}/trusted-keys", json={"name": "team", "public_key": public_pem(
            publisher.public_key())}).status_code == 201
    with api(server, manager) as m:
        assert m.post(PLUGINS, **_signed_upload(publisher, "1.0.0")).status_code == 201
    caught = False
    for version in ["1.1.0", "1.2.0", "1.3.0", "1.4.0"]:
        installed = _installed_version(data_dir)
        thread = threading.Thread(target=lambda: _quiet_install(server, manager, publisher, version), daemon=True)  # noqa: B023 (called within the iteration)
        thread.start()
        hit = wait_until(lambda: _installed_version(data_dir) == version, 10, server.proc, poll=0.0002)  # noqa: B023 (called within the iteration)
        if hit:
            _stop(server)
        caught = hit and any(d.startswith(f"{installed}-") for d in _unpacked(data_dir))
        server.kill9()
        thread.join(timeout=10)
        server.start()
        if caught:
            break
    if not caught:
        pytest.skip("never stopped the server between an upgrade's commit and its clean-up")
    assert _plugin_state(server, admin)["version"] == version  # the upgrade itself is whole
    server.stop()
    repaired = run_cli(data_dir, "fsck", "--repair", "--json")  # removes the orphan old wheel
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    server.start()
    server.stop()
    leftovers = [d for d in _unpacked(data_dir) if not d.startswith(f"{version}-")]
    assert not leftovers, f"unpacked code of versions no longer installed stays in the data dir: {leftovers}"


def _quiet_install(server: ServerProcess, token: str, key: Ed25519PrivateKey, version: str) -> None:
    try:
        with api(server, token, timeout=10) as client:
            client.post(PLUGINS, **_signed_upload(key, version))
    except httpx.TransportError:
        pass


# --- 4. filing under concurrent load killed --------------------------------------------------------


class BackgroundUploader(threading.Thread):
    """Uploads small attachments to one record in a loop; remembers the acknowledged ones."""

    def __init__(self, base_url: str, token: str, record_id: str) -> None:
        super().__init__(daemon=True)
        self._base_url, self._token, self._record_id = base_url, token, record_id
        self.acknowledged: dict[str, dict[str, Any]] = {}
        self.stop = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self._base_url, headers={"Authorization": f"Bearer {self._token}"}, timeout=5) as c:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    response = c.post(f"{RECORDS_URL}/{self._record_id}/attachments",
                                      files={"file": (f"f{n}.bin", os.urandom(300_000), "application/octet-stream")})
                except httpx.TransportError:
                    time.sleep(0.01)
                    continue
                if response.status_code == 201:
                    self.acknowledged[response.json()["id"]] = response.json()
                elif response.status_code != 409:  # a concurrent version bump is fine
                    self.errors.append(f"{response.status_code}: {response.text[:200]}")


def test_filing_and_uploads_under_load_killed_repeatedly_stay_consistent(server, data_dir):
    """Several rounds of concurrent filers and uploaders killed at random: every 201 is present
    after restart, and audit verify and fsck pass (test_durability checks the contents)."""
    r = rng("filing")
    agent = create_token(data_dir, "alice", "agent")
    acknowledged: dict[str, dict[str, Any]] = {}
    attachments: dict[str, set[str]] = {}
    for round_ in range(3):
        server.start()
        with api(server, agent) as client:
            holder = file_record(client, "work_order", subject=f"holder-{round_}")
        acknowledged[holder["id"]] = holder
        workers = [BackgroundFiler(server.base_url, agent) for _ in range(3)]
        uploader = BackgroundUploader(server.base_url, agent, holder["id"])
        for w in [*workers, uploader]:
            w.start()
        time.sleep(r.uniform(0.4, 1.2))
        server.kill9()
        for w in [*workers, uploader]:
            w.stop.set()
        for w in [*workers, uploader]:
            w.join(timeout=10)
            assert not w.errors, w.errors[:3]
        for w in workers:
            acknowledged.update(w.acknowledged)
        attachments[holder["id"]] = set(uploader.acknowledged)
        assert sum(len(w.acknowledged) for w in workers), "nothing was acknowledged before the kill"

    server.start()
    with api(server, agent) as client:
        listed = list_all_records(client)
        missing = set(acknowledged) - set(listed)
        assert not missing, f"{len(missing)} acknowledged records lost (seed {SEED})"
        for holder_id, ids in attachments.items():
            present = {a["id"] for a in client.get(f"{RECORDS_URL}/{holder_id}").json()["attachments"]}
            assert ids <= present, f"acknowledged attachments lost: {ids - present}"
    server.stop()
    assert files_under(data_dir / "blobs" / ".incoming") == []
    verified = run_cli(data_dir, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # An upload cut off between its content and its commit is removed by the restart's recovery.
    report = json.loads(run_cli(data_dir, "fsck", "--json").stdout)
    assert report["findings"] == [], report["findings"]
    assert_sound(data_dir, "after filing under load killed")


def _stop(process: ServerProcess) -> None:
    os.kill(process.pid, signal.SIGSTOP)  # frozen where it is: the state on disk can be looked at, then killed


def test_an_upload_killed_between_its_blob_and_its_commit_leaves_fsck_clean(server, data_dir):
    agent = create_token(data_dir, "alice", "agent")
    server.start()
    with api(server, agent) as client:
        record_id = file_record(client, "complaint")["id"]
    caught = None
    for _attempt in range(6):
        directory = data_dir / "blobs" / "attachments" / record_id
        seen = {p.name for p in files_under(directory)}
        thread = threading.Thread(target=lambda: _quiet_upload(server, agent, record_id), daemon=True)
        thread.start()
        def new() -> set[str]:
            return {p.name for p in files_under(directory)} - seen  # noqa: B023 (called within the iteration)

        if wait_until(lambda: bool(new()), 10, server.proc, poll=0.0002):
            _stop(server)
            blob = next(iter(new()))
            listed = db_query(data_dir, "SELECT count(*) FROM records WHERE id = ? AND doc LIKE ?", record_id, f"%{blob}%")
            server.kill9()
            thread.join(timeout=10)
            if listed[0][0] == 0:
                caught = blob
                break
        else:
            server.kill9()
            thread.join(timeout=10)
        server.start()
    if caught is None:
        pytest.skip("the window between the blob's rename and the record's commit was never caught")
    server.start()  # a restart: whatever start-up reconciles, it has now done
    with api(server, agent) as client:
        assert client.get(f"{RECORDS_URL}/{record_id}").json()["attachments"] == []  # not acknowledged, not listed
    server.stop()
    assert_sound(data_dir, f"after an upload killed with its blob {caught} in place but uncommitted")


def _quiet_upload(server: ServerProcess, token: str, record_id: str) -> None:
    try:
        with api(server, token, timeout=10) as client:
            client.post(f"{RECORDS_URL}/{record_id}/attachments",
                        files={"file": ("w.bin", os.urandom(2 * MiB), "application/octet-stream")})
    except httpx.TransportError:
        pass


GROUP = 50


def _send_together(server: ServerProcess, token: str, requests: list[tuple[str, str, dict[str, Any] | None]],
                   on_answer: Callable[[], None]) -> list[httpx.Response | None]:
    """Send the requests at once, one connection each; None where the server died first."""
    answers: list[httpx.Response | None] = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def send(i: int) -> None:
        method, url, body = requests[i]
        with api(server, token, timeout=10) as client:
            client.get("/health")  # connected before the barrier: the requests arrive together
            start.wait()
            try:
                answers[i] = client.request(method, url, json=body)
            except httpx.TransportError:
                return
        on_answer()

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return answers


def test_a_group_of_concurrent_filings_and_reads_killed_loses_nothing_acknowledged(server, data_dir):
    """``kill -9`` while 50 filings (and the access events of 20 reads) are being committed as
    groups: every filing answered 201 is there, whole, after restart, and every read answered 200
    has its access event; audit verify and fsck pass."""
    r = rng("group")
    agent = create_token(data_dir, "alice", "agent")
    acknowledged: dict[str, dict[str, Any]] = {}
    read_ids: set[str] = set()
    unanswered = 0
    for round_ in range(3):
        server.start()
        with api(server, agent) as client:
            holder = file_record(client, "complaint", subject=f"read-{round_}")
        acknowledged[holder["id"]] = holder
        answered, kill_after, count = threading.Event(), r.randint(10, 60), iter(range(1, 10_000))
        requests: list[tuple[str, str, dict[str, Any] | None]] = [
            ("POST", RECORDS_URL, record_body("complaint", subject=f"group-{round_}-{i}")) for i in range(GROUP)]
        requests += [("GET", f"{RECORDS_URL}/{holder['id']}", None)] * 20
        r.shuffle(requests)
        killer = threading.Thread(target=lambda: (answered.wait(30), server.kill9()), daemon=True)  # noqa: B023 - joined below
        killer.start()
        # The kill comes after a random number of answers, with the rest of the groups in flight.
        answers = _send_together(server, agent, requests, lambda: next(count) >= kill_after and answered.set())  # noqa: B023 - called now
        killer.join(timeout=30)
        for answer in answers:
            if answer is None:
                unanswered += 1
            elif answer.request.method == "POST":
                assert answer.status_code == 201, answer.text
                acknowledged[answer.json()["id"]] = answer.json()
            else:
                assert answer.status_code == 200, answer.text
                read_ids.add(answer.headers["x-request-id"])
    print(f"group kill: {len(acknowledged)} filings and {len(read_ids)} reads acknowledged, {unanswered} cut off")
    assert len(acknowledged) > 3, "no filing of the groups was acknowledged before the kills"

    server.start()
    with api(server, agent) as client:
        for record_id, body in acknowledged.items():
            found = client.get(f"{RECORDS_URL}/{record_id}")
            assert found.status_code == 200, f"acknowledged filing {body['reference']} lost (seed {SEED})"
            assert (found.json()["reference"], found.json()["subject"]) == (body["reference"], body["subject"])
    server.stop()
    logged = {r[0] for r in db_query(data_dir, "SELECT request_id FROM audit_events WHERE action = 'record.read'")}
    assert read_ids <= logged, f"{len(read_ids - logged)} acknowledged reads have no access event"
    assert_sound(data_dir, "after a group commit killed")


# --- mounts ------------------------------------------------------------------------------------------


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], check=False, capture_output=True, text=True, timeout=20)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)) if os.geteuid() == 0 else None
    if done is None or done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() if done else 'not root'}): a full or read-only "
                    "data dir cannot be produced honestly (chmod does not bind root)")
    try:
        yield path
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(path)], check=False, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)


def _fill(directory: Path) -> Path:
    """Write a file until the filesystem is full (ENOSPC); returns it."""
    filler = directory / "filler.bin"
    with filler.open("wb", buffering=0) as f:
        block = b"\0" * (256 * 1024)
        try:
            while True:
                f.write(block)
        except OSError:
            pass
        small = b"\0" * 4096
        try:
            while True:
                f.write(small)
        except OSError:
            pass
    return filler


def _is_problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers.get("content-type", "").startswith("application/problem+json"), (
        response.status_code, response.headers.get("content-type"), response.text[:300])
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body), body
    assert body["status"] == response.status_code
    return body


# --- 5. full disk ------------------------------------------------------------------------------------


DISK_FULL_CODES = {"storage_full", "insufficient_storage", "storage_unavailable", "audit_unavailable"}


@contextmanager
def small_disk_server(tmp_path: Path, size: str = "24m") -> Iterator[tuple[Path, ServerProcess, str]]:
    """A server whose data dir is on a tmpfs of ``size``; stopped (then checked sound) afterwards."""
    with tmpfs(tmp_path / "disk", size) as disk:
        data_dir = disk / "data"
        server = ServerProcess(data_dir, tmp_path / "server.log")
        try:
            agent = create_token(data_dir, "alice", "agent")
            server.start()
            yield disk, server, agent
            server.stop()
            assert_sound(data_dir, "after a full disk")
        finally:
            server.stop(grace=3.0)
            server.kill9()


def test_an_upload_on_a_full_disk_gets_a_storage_error_not_internal_error(tmp_path):
    """An upload bigger than the space left: a problem+json 5xx naming storage, quickly; no partial
    blob; the record unchanged; the store sound afterwards."""
    with small_disk_server(tmp_path) as (disk, server, agent), api(server, agent, timeout=20) as client:
        data_dir = disk / "data"
        kept = file_record(client, "complaint", subject="before the disk filled")
        t0 = time.monotonic()
        big = client.post(f"{RECORDS_URL}/{kept['id']}/attachments",
                          files={"file": ("big.bin", os.urandom(40 * MiB), "application/octet-stream")})
        assert time.monotonic() - t0 < 20
        # What holds even now: a problem, no partial blob, the record untouched, the server serving.
        problem = _is_problem(big)
        assert files_under(data_dir / "blobs" / ".incoming") == [], "the partial upload was left behind"
        after = client.get(f"{RECORDS_URL}/{kept['id']}")
        assert after.status_code == 200 and after.json()["attachments"] == [] and after.json()["version"] == 1
        small = client.post(f"{RECORDS_URL}/{kept['id']}/attachments", files={"file": ("s.txt", b"small", "text/plain")})
        assert small.status_code == 201, small.text
        assert 500 <= big.status_code < 600 and problem["code"] in DISK_FULL_CODES, (
            f"a full disk during an upload gives {big.status_code} {problem['code']!r}: {problem['detail']}")


def test_filing_on_a_full_disk_fails_clearly_and_recovers_when_space_returns(tmp_path):
    """Filing on a disk full to the last block: a problem+json 5xx with a storage code, quickly; a
    read answers (or is refused as unauditable, by design); once space returns the same process
    files again, and the store passes fsck and audit verify."""
    with small_disk_server(tmp_path) as (disk, server, agent), api(server, agent, timeout=20) as client:
        kept = file_record(client, "complaint", subject="before the disk filled")
        filler = _fill(disk)
        try:
            statuses = []
            for i in range(5):
                t0 = time.monotonic()
                response = client.post(RECORDS_URL, json=record_body("complaint", subject=f"full-{i}"))
                assert time.monotonic() - t0 < 15, "filing on a full disk hung"
                statuses.append(response.status_code)
                if response.status_code != 201:
                    body = _is_problem(response)
                    assert 500 <= response.status_code < 600 and body["code"] in DISK_FULL_CODES, (response.status_code, body)
                    statuses[-1] = (response.status_code, body["code"])
            assert any(s != 201 for s in statuses), f"filing on a full disk kept succeeding: {statuses}"
            read = client.get(f"{RECORDS_URL}/{kept['id']}")
            # A read that cannot be audited is refused by design (README: "no event, no action").
            assert read.status_code == 200 or _is_problem(read)["code"] == "audit_unavailable", read.text
            assert server.running
        finally:
            filler.unlink()
        recovered = client.post(RECORDS_URL, json=record_body("complaint", subject="after space returned"))
        assert recovered.status_code == 201, (
            f"after space returned the running server still refuses to file: {recovered.status_code} {recovered.text[:300]}"
            f" (while full: {statuses})")
        assert client.get(f"{RECORDS_URL}/{recovered.json()['id']}").status_code == 200
        assert client.get(f"{RECORDS_URL}/{kept['id']}").status_code == 200
        print("filing on a full disk:", statuses, "read:", read.status_code)


# --- 6. read-only data dir ---------------------------------------------------------------------------


def test_a_read_only_data_dir_gives_clear_errors_and_stays_intact(tmp_path):
    """The data dir's filesystem remounted read-only: ``records serve`` and writing commands exit
    non-zero with ``Error: [code] message`` and no traceback; read-only commands either work or
    say so as clearly; once writable again nothing was damaged."""
    with tmpfs(tmp_path / "disk", "64m") as disk:
        data_dir = disk / "data"
        server = ServerProcess(data_dir, tmp_path / "server.log")
        try:
            agent = create_token(data_dir, "alice", "agent")
            server.start()
            with api(server, agent) as client:
                kept = file_record(client, "complaint", subject="kept")
            server.stop()

            ro = _mount("-o", "remount,ro", str(disk))
            if ro.returncode != 0:
                pytest.skip(f"cannot remount the tmpfs read-only: {ro.stderr.strip()}")
            try:
                with pytest.raises(OSError):
                    (data_dir / "probe").write_bytes(b"x")  # truly read-only, for root too

                port = str(free_port())
                serve = run_cli(data_dir, "serve", "--port", port, timeout=30)
                outcomes = {"serve": serve}
                for name, args in {
                    "tokens create": ("tokens", "create", "--role", "agent", "--name", "bob"),
                    "keys rotate": ("keys", "rotate"),
                    "audit seal": ("audit", "seal"),
                    "fsck --repair": ("fsck", "--repair"),
                    "init": ("init",),
                }.items():
                    outcomes[name] = run_cli(data_dir, *args)
                for name, result in outcomes.items():
                    print(f"read-only {name}: exit {result.returncode}: {result.stderr.strip().splitlines()[-1:]}")
                    assert result.returncode != 0, f"{name} succeeded on a read-only data dir: {result.stdout}"
                    no_traceback(result.stderr)
                    assert result.stderr.strip().splitlines()[-1].startswith("Error: ["), (name, result.stderr)
                for name, args in {"tokens list": ("tokens", "list"), "keys status": ("keys", "status"),
                                   "audit verify": ("audit", "verify"), "fsck": ("fsck",)}.items():
                    result = run_cli(data_dir, *args)
                    print(f"read-only {name}: exit {result.returncode}: {result.stderr.strip().splitlines()[-1:]}")
                    no_traceback(result.stderr)
                    if result.returncode != 0:
                        assert result.stderr.strip().splitlines()[-1].startswith("Error: ["), (name, result.stderr)
            finally:
                rw = _mount("-o", "remount,rw", str(disk))
                assert rw.returncode == 0, rw.stderr

            assert_sound(data_dir, "after a read-only spell")
            server.start()
            with api(server, agent) as client:
                assert client.get(f"{RECORDS_URL}/{kept['id']}").status_code == 200
                file_record(client, "complaint", subject="writable again")
        finally:
            server.stop(grace=3.0)
            server.kill9()
