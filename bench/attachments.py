"""Attachment throughput through the API (upload+encrypt, download+decrypt) against a real
server process, beside raw AES-256-GCM and SHA-256 on the same machine in the same run.

The API figures include HTTP, multipart parsing, SHA-256 of the plaintext, STREAM encryption,
fsync and the record update; the ratios say how much of the raw cipher's speed survives that.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.server import file_record, records_server
from records.crypto.stream import SEGMENT_SIZE, decrypt_stream, encrypt_stream

MiB = 1024 * 1024
SIZE = int(os.environ.get("BENCH_ATTACHMENT_MIB", "256")) * MiB
CHUNK = MiB


def _rate(nbytes: int, seconds: float) -> float:
    return nbytes / MiB / seconds


def raw_aes_gcm() -> float:
    aead, nonce, segment = AESGCM(secrets.token_bytes(32)), secrets.token_bytes(12), os.urandom(SEGMENT_SIZE)
    n = SIZE // SEGMENT_SIZE
    start = time.perf_counter()
    for _ in range(n):
        aead.encrypt(nonce, segment, b"")
    return _rate(n * SEGMENT_SIZE, time.perf_counter() - start)


def raw_sha256() -> float:
    data, digest = os.urandom(CHUNK), hashlib.sha256()
    start = time.perf_counter()
    for _ in range(SIZE // CHUNK):
        digest.update(data)
    return _rate(SIZE, time.perf_counter() - start)


def stream_in_process() -> tuple[float, float]:
    key, aad, block = secrets.token_bytes(32), b"bench", os.urandom(CHUNK)

    async def source():
        for _ in range(SIZE // CHUNK):
            yield block

    async def measure() -> tuple[float, float]:
        sealed: list[bytes] = []
        start = time.perf_counter()
        async for piece in encrypt_stream(key, aad, source()):
            sealed.append(piece)
        enc = time.perf_counter() - start

        async def replay():
            for piece in sealed:
                yield piece

        start = time.perf_counter()
        async for _ in decrypt_stream(key, aad, replay()):
            pass
        return _rate(SIZE, enc), _rate(SIZE, time.perf_counter() - start)

    return anyio.run(measure)


def _multipart(boundary: str) -> Iterator[bytes]:
    yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.bin"\r\n'
           "Content-Type: application/octet-stream\r\n\r\n").encode()
    block = os.urandom(CHUNK)
    for _ in range(SIZE // CHUNK):
        yield block
    yield f"\r\n--{boundary}--\r\n".encode()


def through_api() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp, records_server(Path(tmp) / "data") as (base, token):
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=600) as client:
            record = file_record(client, "work_order")
            boundary = secrets.token_hex(16)
            start = time.perf_counter()
            response = client.post(
                f"/api/v1/records/{record['id']}/attachments", content=_multipart(boundary),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            upload = time.perf_counter() - start
            response.raise_for_status()
            attachment = response.json()
            start = time.perf_counter()
            received = 0
            with client.stream("GET", f"/api/v1/records/{record['id']}/attachments/{attachment['id']}") as down:
                for piece in down.iter_bytes(CHUNK):
                    received += len(piece)
            download = time.perf_counter() - start
            assert received == SIZE
        return _rate(SIZE, upload), _rate(SIZE, download)


def run() -> dict[str, float]:
    aes = raw_aes_gcm()
    sha = raw_sha256()
    enc, dec = stream_in_process()
    up, down = through_api()
    results = {
        "size_mib": SIZE // MiB,
        "raw_aes_gcm_mib_s": round(aes, 1),
        "raw_sha256_mib_s": round(sha, 1),
        "stream_encrypt_mib_s": round(enc, 1),
        "stream_decrypt_mib_s": round(dec, 1),
        "api_upload_encrypt_mib_s": round(up, 1),
        "api_download_decrypt_mib_s": round(down, 1),
    }
    print(f"attachments ({SIZE // MiB} MiB, one file)")
    print(f"  {'figure':<34} {'MiB/s':>9} {'vs raw AES-GCM':>15}")
    for label, value in [
        ("raw AES-256-GCM (64 KiB segments)", aes), ("raw SHA-256", sha),
        ("STREAM encrypt, in process", enc), ("STREAM decrypt, in process", dec),
        ("API upload + encrypt", up), ("API download + decrypt", down),
    ]:
        print(f"  {label:<34} {value:>9.1f} {value / aes:>14.2f}x")
    return results
