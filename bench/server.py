"""A real ``records serve`` process on a fresh data dir, for benchmarks that go through HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def records_server(data_dir: Path, role: str = "agent") -> Iterator[tuple[str, str]]:
    """Yields (base URL, token of ``role``) while the server runs; stops it afterwards."""
    with records_server_process(data_dir, role) as (base, token, _):
        yield base, token


def resident_mib(pid: int) -> float:
    """The process's resident memory now (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextmanager
def records_server_process(data_dir: Path, role: str = "agent") -> Iterator[tuple[str, str, subprocess.Popen]]:
    """Like ``records_server``, also yielding the server process (to watch its memory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDS_")}
    cli = [sys.executable, "-m", "records"]
    subprocess.run([*cli, "init", "--data-dir", str(data_dir)], capture_output=True, check=True, env=env)
    token = subprocess.run(
        [*cli, "tokens", "create", "--role", role, "--name", "bench", "--data-dir", str(data_dir)],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--data-dir", str(data_dir), "--port", str(port), "--host", "127.0.0.1"],
        env={**env, "RECORDS_LOG_LEVEL": "warning"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("records serve did not start")
        yield base, token, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def file_record(client: httpx.Client, kind: str = "consultation") -> dict:
    response = client.post("/api/v1/records", json={
        "kind": kind, "channel": "phone", "urgency": "general", "subject": "bench", "description": "bench",
        "customer": {"name": "B", "phone": "13800000000", "account": "B-1"}})
    response.raise_for_status()
    return response.json()
