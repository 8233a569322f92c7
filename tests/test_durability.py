"""Durability and bounded-memory behaviour of a real ``records serve`` process.

These tests start the server as a separate process (``python -m records serve``), talk to it
over real sockets with httpx, and check what survives a ``kill -9``, that a large attachment
streams through the server in bounded memory both ways, and that a cut-off upload leaves
nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from records.crypto.stream import ciphertext_size

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
STARTUP_TIMEOUT = 30.0
RECORDS_URL = "/api/v1/records"
KINDS = ("consultation", "work_order", "complaint", "emergency")


# --- a real server process ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env() -> dict[str, str]:
    """The environment of the test run without any RECORDS_* setting (RECORDS_DATA_DIR above all)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RECORDS_")}


def create_token(data_dir: Path, name: str, role: str = "agent") -> str:
    if not (data_dir / "records.sqlite3").is_file():  # only serve and init create a data dir
        subprocess.run([sys.executable, "-m", "records", "init", "--data-dir", str(data_dir)],
                       capture_output=True, env=_clean_env(), timeout=60, check=True)
    result = subprocess.run(
        [sys.executable, "-m", "records", "tokens", "create", "--role", role, "--name", name, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
    )
    assert result.returncode == 0, f"tokens create failed ({result.returncode}): {result.stderr}"
    token = result.stdout.removesuffix("\n")
    assert token and "\n" not in token, f"stdout should be exactly the token and a newline: {result.stdout!r}"
    return token


class ServerProcess:
    """``records serve`` on a data dir, on a free port of 127.0.0.1, logging to a file."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    def start(self) -> ServerProcess:
        assert not self.running, "server already running"
        for attempt in range(3):
            self.port = _free_port()
            with self.log_path.open("ab") as log:
                log.write(f"\n=== start on port {self.port} (attempt {attempt + 1}) ===\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    [
                        sys.executable, "-m", "records", "serve",
                        "--data-dir", str(self.data_dir), "--port", str(self.port), "--host", "127.0.0.1",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=_clean_env(),
                )
            if self._wait_healthy():
                return self
            if "address already in use" not in self.log().lower():
                break  # not a lost race for the port: no point trying again
        self.kill9()
        pytest.fail(f"records serve did not become healthy within {STARTUP_TIMEOUT:.0f} s; log:\n{self.log()}")

    def _wait_healthy(self) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    return False
                try:
                    if client.get("/health").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        return False

    def kill9(self) -> None:
        """SIGKILL: no graceful shutdown, no chance to flush or clean anything up."""
        if self.running:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if the server has not exited within ``grace`` seconds."""
        if not self.running:
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill9()

    def vm_hwm(self) -> int:
        """Peak resident set size of the server process so far, in bytes (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                value, unit = line.split()[1:3]
                assert unit == "kB"
                return int(value) * 1024
        raise AssertionError("no VmHWM in /proc/PID/status")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server on ``data_dir`` (not started: tests create tokens first); always killed afterwards."""
    process = ServerProcess(data_dir, tmp_path / "server.log")
    try:
        yield process
    finally:
        process.stop(grace=3.0)
        process.kill9()


def api(server: ServerProcess, token: str, timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)


def record_body(kind: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": kind,
        "channel": "phone",
        "customer": {"name": "张三", "phone": "13812345678", "account": "ACC-1"},
        "subject": "s",
        "description": "d",
        "urgency": "urgent",
    }
    if kind == "work_order":
        body["service_type"] = "network"
    body.update(extra)
    return body


def file_record(client: httpx.Client, kind: str = "complaint", **extra: Any) -> dict[str, Any]:
    response = client.post(RECORDS_URL, json=record_body(kind, **extra))
    assert response.status_code == 201, response.text
    return response.json()


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def list_all_records(client: httpx.Client) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        response = client.get(RECORDS_URL, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        for item in page["items"]:
            assert item["id"] not in found, "a record was listed twice"
            found[item["id"]] = item
        cursor = page["next_cursor"]
        if not cursor:
            return found


# --- kill -9 ------------------------------------------------------------------------------------


class BackgroundFiler(threading.Thread):
    """Files records in a loop and remembers exactly those the server acknowledged with a 201."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(daemon=True)
        self._base_url, self._token = base_url, token
        self.acknowledged: dict[str, dict[str, Any]] = {}
        self.stop = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        with httpx.Client(base_url=self._base_url, headers=headers, timeout=5.0) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    response = client.post(RECORDS_URL, json=record_body(KINDS[n % 4], subject=f"bg-{n}"))
                except httpx.TransportError:
                    time.sleep(0.01)  # the server is gone (killed): keep trying until told to stop
                    continue
                if response.status_code == 201:
                    body = response.json()
                    self.acknowledged[body["id"]] = body
                else:
                    self.errors.append(f"{response.status_code}: {response.text[:200]}")


def test_acknowledged_writes_survive_kill_9(server: ServerProcess, data_dir: Path) -> None:
    token = create_token(data_dir, "alice")
    server.start()
    filer = BackgroundFiler(server.base_url, token)
    try:
        with api(server, token) as client:
            filer.start()
            deadline = time.monotonic() + 10
            while len(filer.acknowledged) < 20 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert filer.acknowledged, f"the background filer got no 201; errors: {filer.errors[:3]}"
            filed = {kind: file_record(client, kind) for kind in KINDS}
            for kind, record in filed.items():
                assert record["kind"] == kind and record["version"] == 1

            target = filed["complaint"]["id"]
            patched = client.patch(f"{RECORDS_URL}/{target}", json={"subject": "changed"}, headers={"If-Match": '"1"'})
            assert patched.status_code == 200, patched.text
            assert patched.json()["version"] == 2 and patched.headers["ETag"] == '"2"'

            noted = client.post(f"{RECORDS_URL}/{target}/notes", json={"text": "called back"})
            assert noted.status_code == 201, noted.text
            note = noted.json()

            content = random.Random(1).randbytes(3 * MiB)
            uploaded = client.post(
                f"{RECORDS_URL}/{target}/attachments",
                files={"file": ("evidence.bin", content, "application/octet-stream")},
            )
            assert uploaded.status_code == 201, uploaded.text
            attachment = uploaded.json()
            assert attachment["size"] == len(content)
            assert attachment["sha256"] == hashlib.sha256(content).hexdigest()

            # The state every acknowledged write adds up to, as the server reports it before the crash.
            before = {kind: client.get(f"{RECORDS_URL}/{r['id']}").json() for kind, r in filed.items()}
            assert before["complaint"]["version"] == 4  # filed, amended, note, attachment

            # Kill at once, while the background thread is still filing: some requests are in flight.
            server.kill9()
            assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
    finally:
        filer.stop.set()
        filer.join(timeout=10)
    assert not filer.is_alive()
    assert not filer.errors, filer.errors[:3]
    acknowledged_in_background = dict(filer.acknowledged)

    server.start()
    with api(server, token) as client:
        for kind, expected in before.items():
            response = client.get(f"{RECORDS_URL}/{expected['id']}")
            assert response.status_code == 200, response.text
            assert response.json() == expected, f"{kind} record differs after kill -9"

        after = client.get(f"{RECORDS_URL}/{target}").json()
        assert after["subject"] == "changed" and after["version"] == 4
        assert [n["id"] for n in after["notes"]] == [note["id"]]
        assert after["notes"][0]["text"] == "called back"
        assert after["attachments"] == [attachment]

        digest, size = hashlib.sha256(), 0
        with client.stream("GET", f"{RECORDS_URL}/{target}/attachments/{attachment['id']}") as download:
            assert download.status_code == 200
            for chunk in download.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
        assert size == len(content)
        assert digest.hexdigest() == hashlib.sha256(content).hexdigest()

        for record_id, expected in acknowledged_in_background.items():
            response = client.get(f"{RECORDS_URL}/{record_id}")
            assert response.status_code == 200, f"acknowledged record {record_id} lost: {response.text}"
            assert response.json() == expected

        listed = list_all_records(client)
        before_ids = {r["id"] for r in before.values()}
        missing = (before_ids | set(acknowledged_in_background)) - set(listed)
        assert not missing, f"{len(missing)} acknowledged records not listed"
        for record_id in before_ids:
            assert listed[record_id]["version"] == before[listed[record_id]["kind"]]["version"]
        # References stay unique: the sequence survived the crash along with the records.
        references = [r["reference"] for r in listed.values()]
        assert len(references) == len(set(references))

        # A file filed after the restart gets a fresh reference too.
        fresh = file_record(client, "complaint")
        assert fresh["reference"] not in references

    assert files_under(data_dir / "blobs" / ".incoming") == []


# --- a large attachment in bounded memory ----------------------------------------------------------


BIG_CHUNKS = 128  # 1 MiB each: a 128 MiB attachment
MEMORY_BOUND = 64 * MiB


def pseudo_random_chunk(index: int) -> bytes:
    """1 MiB of deterministic pseudo-random bytes, computed when needed and never kept."""
    return random.Random(0x5EED0000 + index).randbytes(MiB)


def multipart_body(boundary: str, chunks: int, digest: Any, counter: list[int]) -> Iterator[bytes]:
    """A multipart/form-data body with one ``file`` part, generated chunk by chunk."""
    yield (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        f"Content-Type: application/octet-stream\r\n"
        f"\r\n"
    ).encode()
    for index in range(chunks):
        chunk = pseudo_random_chunk(index)
        digest.update(chunk)
        counter[0] += len(chunk)
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def own_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmHWM from /proc")
def test_large_attachment_streams_in_bounded_memory(server: ServerProcess, data_dir: Path) -> None:
    token = create_token(data_dir, "alice")
    server.start()
    timeout = httpx.Timeout(120.0, connect=10.0)
    with api(server, token, timeout=120.0) as client:
        client.timeout = timeout
        record = file_record(client, "work_order")
        url = f"{RECORDS_URL}/{record['id']}/attachments"
        # Warm up the upload and download paths so that the baseline includes their code and buffers.
        warm = client.post(url, files={"file": ("warm.bin", os.urandom(MiB), "application/octet-stream")})
        assert warm.status_code == 201, warm.text
        warm_download = client.get(f"{url}/{warm.json()['id']}")
        assert warm_download.status_code == 200 and len(warm_download.content) == MiB

        server_baseline, own_baseline = server.vm_hwm(), own_peak_rss()
        boundary = f"records-test-{uuid.uuid4().hex}"
        sent_digest, sent = hashlib.sha256(), [0]
        response = client.post(
            url,
            content=multipart_body(boundary, BIG_CHUNKS, sent_digest, sent),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code == 201, response.text[:500]
        upload_growth = server.vm_hwm() - server_baseline
        assert sent[0] == BIG_CHUNKS * MiB
        attachment = response.json()
        assert attachment["size"] == sent[0]
        assert attachment["sha256"] == sent_digest.hexdigest()
        assert attachment["filename"] == "big.bin"
        assert attachment["content_type"] == "application/octet-stream"
        assert upload_growth < MEMORY_BOUND, (
            f"server peak RSS grew by {upload_growth / MiB:.1f} MiB for a {sent[0] // MiB} MiB upload"
        )

        blob = data_dir / "blobs" / "attachments" / record["id"] / attachment["id"]
        # The blob store holds the encrypted stream: exactly its size, never the plaintext's.
        assert blob.stat().st_size == ciphertext_size(sent[0])
        assert files_under(data_dir / "blobs" / ".incoming") == []

        received_digest, received = hashlib.sha256(), 0
        with client.stream("GET", f"{url}/{attachment['id']}") as download:
            assert download.status_code == 200
            assert int(download.headers["Content-Length"]) == sent[0]
            assert download.headers["ETag"] == f'"{sent_digest.hexdigest()}"'
            for chunk in download.iter_bytes():
                received_digest.update(chunk)
                received += len(chunk)
        assert received == sent[0]
        assert received_digest.hexdigest() == sent_digest.hexdigest()
        total_growth = server.vm_hwm() - server_baseline
        assert total_growth < MEMORY_BOUND, (
            f"server peak RSS grew by {total_growth / MiB:.1f} MiB over a {sent[0] // MiB} MiB upload and download"
        )
        # The test itself streamed both ways too (otherwise it would not be testing streaming).
        assert own_peak_rss() - own_baseline < MEMORY_BOUND

        listed = client.get(f"{RECORDS_URL}/{record['id']}").json()["attachments"]
        assert [a["id"] for a in listed] == [warm.json()["id"], attachment["id"]]


# --- a cut-off upload ----------------------------------------------------------------------------


def _wait_for(predicate: Any, timeout: float, what: str, server: ServerProcess, blobs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            left = [str(p.relative_to(blobs)) for p in files_under(blobs)]
            pytest.fail(f"timed out waiting for {what}; files under blobs/: {left}; server log:\n{server.log()[-4000:]}")
        time.sleep(0.02)


def start_partial_upload(server: ServerProcess, token: str, record_id: str, blobs: Path) -> socket.socket:
    """Announce a 10 MiB attachment on a raw socket, send 2 MiB of it, and return the open socket
    once the server is demonstrably streaming it into a partial blob."""
    boundary = f"records-test-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="cut.bin"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    request = (
        f"POST {RECORDS_URL}/{record_id}/attachments HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + 10 * MiB + len(tail)}\r\n"
        f"\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(request + head + random.Random(3).randbytes(2 * MiB))
        incoming = blobs / ".incoming"
        _wait_for(lambda: any(p.stat().st_size > 0 for p in files_under(incoming)), 10, "a partial blob", server, blobs)
    except BaseException:
        sock.close()
        raise
    return sock


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_cut_off_upload_leaves_nothing(server: ServerProcess, data_dir: Path, reset: bool) -> None:
    token = create_token(data_dir, "alice")
    server.start()
    blobs = data_dir / "blobs"
    with api(server, token) as client:
        record = file_record(client, "complaint")
        sock = start_partial_upload(server, token, record["id"], blobs)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
        sock.close()

        _wait_for(lambda: files_under(blobs) == [], 10, "the partial blob to be removed", server, blobs)
        assert (blobs / ".incoming").is_dir()
        time.sleep(0.2)  # nothing appears late either
        assert files_under(blobs) == []

        after = client.get(f"{RECORDS_URL}/{record['id']}")
        assert after.status_code == 200
        assert after.json()["attachments"] == []
        assert after.json()["version"] == record["version"] == 1
        assert after.headers["ETag"] == '"1"'
        assert [e["event"] for e in after.json()["timeline"]] == [e["event"] for e in record["timeline"]]  # nothing added
        # The server is unharmed: a complete upload right after succeeds.
        ok = client.post(
            f"{RECORDS_URL}/{record['id']}/attachments", files={"file": ("ok.txt", b"fine", "text/plain")}
        )
        assert ok.status_code == 201, ok.text


def test_upload_in_flight_at_kill_9_leaves_no_partial_blob(server: ServerProcess, data_dir: Path) -> None:
    token = create_token(data_dir, "alice")
    server.start()
    blobs = data_dir / "blobs"
    with api(server, token) as client:
        record = file_record(client, "complaint")
    sock = start_partial_upload(server, token, record["id"], blobs)
    try:
        server.kill9()
    finally:
        sock.close()

    server.start()
    with api(server, token) as client:
        after = client.get(f"{RECORDS_URL}/{record['id']}").json()
    assert after["attachments"] == [] and after["version"] == 1  # the unacknowledged upload is not referenced
    leftover = [str(p.relative_to(blobs)) for p in files_under(blobs)]
    assert leftover == [], f"partial blobs survive the restart: {leftover}"
