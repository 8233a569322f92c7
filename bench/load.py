"""Closed-loop HTTP load: N concurrent clients, each sending its next request when the last one
answered, for a fixed time; throughput and latency percentiles. Also server processes' start-up
time and resident memory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.server import free_port


@dataclass
class LoadResult:
    clients: int
    requests: int
    per_s: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, float]:
        return {"clients": self.clients, "requests": self.requests, "per_s": round(self.per_s, 1),
                "p50_ms": round(self.p50_ms, 2), "p99_ms": round(self.p99_ms, 2)}


class Connection:
    """A minimal keep-alive HTTP/1.1 client connection. A general client (httpx) spends more CPU per
    request than the bare server does, so with 64 clients on a small machine it, not the server,
    would set the pace; this one costs little more than the socket calls."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, body: bytes | None = None,
                      content_type: str = "application/json") -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}"
        if body is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        self._writer.write(head.encode() + b"\r\n" + (body or b""))
        assert self._reader is not None
        status_line, *lines = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        fields = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines if line))
        if "content-length" in fields:
            payload = await self._reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding") == "chunked":
            parts = []
            while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self._reader.readexactly(size))
                await self._reader.readexactly(2)
            await self._reader.readuntil(b"\r\n")
            payload = b"".join(parts)
        else:
            raise RuntimeError(f"{method} {target}: response without a length")
        if status >= 400:
            raise RuntimeError(f"{method} {target}: {status} {payload[:200]!r}")
        return status, payload

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


# send(connection, n) makes the n-th request of one client; Connection.request raises on >= 400.
Sender = Callable[[Connection, int], Awaitable[object]]


def run_load(base: str, headers: dict[str, str], send: Sender, clients: int, seconds: float) -> LoadResult:
    host, port = base.removeprefix("http://").split(":")

    async def main() -> LoadResult:
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def worker(slot: int) -> None:
            connection, n = Connection(host, int(port), headers), slot
            try:
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    await send(connection, n)
                    latencies.append(time.perf_counter() - t0)
                    n += clients
            finally:
                await connection.close()

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
        latencies.sort()
        return LoadResult(clients, len(latencies), len(latencies) / elapsed, latencies[len(latencies) // 2] * 1000,
                          latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000)

    return asyncio.run(main())


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/PID/status")


class ServedProcess:
    """A server process started from ``argv`` (with ``{port}`` filled in); ``startup_s`` is the time
    from spawning it to its first healthy answer."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("RECORDS_")}, **(env or {})}
        start = time.perf_counter()
        self.proc = subprocess.Popen([a.format(port=self.port) for a in argv], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with httpx.Client(timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{argv[:4]} exited with {self.proc.returncode}")
                try:
                    if client.get(f"{self.base}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.01)
                if time.perf_counter() - start > 120:
                    self.stop()
                    raise RuntimeError(f"{argv[:4]} did not start")
        self.startup_s = time.perf_counter() - start

    def idle_rss(self, settle: float = 1.0) -> int:
        time.sleep(settle)
        return rss_bytes(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def records_argv(data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "records", "serve", "--data-dir", str(data_dir), "--port", "{port}", "--host", "127.0.0.1"]


def bare_argv() -> list[str]:
    return [sys.executable, "-m", "uvicorn", "bench.bare:app", "--port", "{port}", "--host", "127.0.0.1", "--log-level", "warning"]
