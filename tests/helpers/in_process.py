"""Driving the service in the test's own process: a coroutine on a test client's event loop, the
CLI through click, the files a data dir holds, and the problem response every refusal must be."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from litestar.testing import TestClient

from records.cli import main
from records.roles import Principal, Role

PROBLEM = "application/problem+json"

ALICE = Principal("alice", Role.agent)
SAM = Principal("sam", Role.supervisor)
ADA = Principal("ada", Role.archivist)


def call(client: TestClient, fn: Callable[..., Any], *args: Any) -> Any:
    """Run an async function on the app's own event loop (one portal call)."""
    with client.portal() as portal:
        return portal.call(fn, *args)


def cli(*args: str) -> Any:
    """``records …`` in-process; an exception escaping the command fails the test (no tracebacks)."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (except the serving lock restore takes) with its digest."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files_under(root)
        if p.name != "serve.lock"
    }


def assert_problem(response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    if code is not None:
        assert response.json()["code"] == code, response.text
    assert "Traceback" not in response.text
