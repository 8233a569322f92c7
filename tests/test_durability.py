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
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from records.crypto.stream import ciphertext_size
from tests.helpers.server_process import (
    KINDS,
    RECORDS_URL,
    BackgroundFiler,
    ServerProcess,
    api,
    create_token,
    file_record,
    files_under,
    list_all_records,
)

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


# --- kill -9 ------------------------------------------------------------------------------------


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
