"""A real ``records serve`` process for tests that need sockets, signals and a separate process:
started on a free port of 127.0.0.1 over a data dir, logging to a file, stopped or killed.

Loaded as a pytest plugin (``tests/conftest.py``), so ``server`` is a fixture everywhere."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_TIMEOUT = 30.0
RECORDS_URL = "/api/v1/records"
KINDS = ("consultation", "work_order", "complaint", "emergency")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env() -> dict[str, str]:
    """The environment of the test run without any RECORDS_* setting (RECORDS_DATA_DIR above all)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RECORDS_")}


def create_token(data_dir: Path, name: str, role: str = "agent") -> str:
    if not (data_dir / "records.sqlite3").is_file():  # only serve and init create a data dir
        subprocess.run([sys.executable, "-m", "records", "init", "--data-dir", str(data_dir)],
                       capture_output=True, env=clean_env(), timeout=60, check=True)
    result = subprocess.run(
        [sys.executable, "-m", "records", "tokens", "create", "--role", role, "--name", name, "--data-dir", str(data_dir)],
        check=False,  # the assertion below says what failed
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert result.returncode == 0, f"tokens create failed ({result.returncode}): {result.stderr}"
    token = result.stdout.removesuffix("\n")
    assert token and "\n" not in token, f"stdout should be exactly the token and a newline: {result.stdout!r}"
    return token


class ServerProcess:
    """``records serve`` on a data dir, on a free port of 127.0.0.1, logging to a file."""

    def __init__(self, data_dir: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.env = env or {}  # settings of this server (RECORDS_*), over a clean environment
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
            self.port = free_port()
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
                    env={**clean_env(), **self.env},
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
