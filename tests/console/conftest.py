"""The console under test: plain HTTP clients signed in to the app, and for the browser tests a
real ``records serve`` driven by Playwright in Debian's Chromium.

Browser tests (those using ``page``) are ordered after every other test of the session
(``tests/conftest.py``): Playwright's sync API leaves an event loop behind that breaks later
``asyncio.run()`` calls in the same process. Without Chromium they are skipped with one reason,
except under ``CI=true``, where a missing browser fails them.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from records.roles import Role
from tests.helpers.server_process import ServerProcess, create_token

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- plain HTTP -------------------------------------------------------------------------------

def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


class ConsoleClient:
    """A browser-like HTTP client of the console, signed in with one token. Several share the one
    running app (one lifespan, one installation): each keeps its own cookie jar and language."""

    def __init__(self, client: TestClient, token: str | None = None, language: str = "en") -> None:
        self.client = client
        self.token = token
        self.csrf = ""
        self.jar = httpx.Cookies()
        self.headers = {"accept-language": language}

    def request(self, method: str, url: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        saved = self.client.cookies
        self.client.cookies = self.jar
        try:
            return self.client.request(method, url, headers={**self.headers, **(headers or {})}, **kw)
        finally:
            self.jar = self.client.cookies
            self.client.cookies = saved

    def sign_in(self, token: str | None = None, next_path: str = "/console/") -> httpx.Response:
        form = self.request("GET", "/console/sign-in")
        response = self.request("POST", "/console/sign-in", data={"token": token or self.token, "next": next_path,
                                                                 "csrf_token": csrf_of(form.text)}, follow_redirects=False)
        if response.status_code == 303:
            self.csrf = csrf_of(self.request("GET", "/console/").text)
        return response

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, follow_redirects=False, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, csrf: bool = True, **kw: Any) -> httpx.Response:
        body = {**({"csrf_token": self.csrf} if csrf else {}), **(data or {})}
        return self.request("POST", url, data=body, follow_redirects=False, **kw)


@pytest.fixture
def console_as(client: TestClient, issue_token) -> Callable[..., ConsoleClient]:  # type: ignore[no-untyped-def]
    """``console_as(Role.agent, "alice")`` → a console client signed in with a fresh token of that
    role; ``console_as(agent)`` signs in with an API client's token (the same person)."""

    def make(role: Role | Any, name: str | None = None) -> ConsoleClient:
        token = getattr(role, "token", None)
        if token is None:
            token = issue_token(role, name or f"{role.value}-console")
        console = ConsoleClient(client, token)
        response = console.sign_in()
        assert response.status_code == 303, response.text
        return console

    return make


# --- a real server and a real browser ----------------------------------------------------------

class ConsoleServer:
    def __init__(self, process: ServerProcess, tokens: dict[str, str]) -> None:
        self.process, self.tokens = process, tokens

    @property
    def base_url(self) -> str:
        return self.process.base_url

    def api(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.tokens[role]}"}, timeout=30)


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """``records serve`` on a fresh data dir with a token of every role (created before it starts)."""
    data_dir = tmp_path_factory.mktemp("console") / "data"
    tokens = {role.value: create_token(data_dir, f"{role.value}-browser", role.value) for role in Role}
    process = ServerProcess(data_dir, data_dir.parent / "server.log").start()
    try:
        yield ConsoleServer(process, tokens)
    finally:
        process.stop(grace=5.0)
        process.kill9()


@pytest.fixture(scope="session")
def chromium() -> Path:
    found = CHROMIUM if CHROMIUM.exists() else (Path(p) if (p := shutil.which("chromium")) else None)
    if found is None:
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run in CI: {message}")
        pytest.skip(f"browser tests need Chromium: {message}")
    return found


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], chromium: Path) -> dict[str, Any]:
    """pytest-playwright launches Debian's Chromium: Playwright's own browser download cannot work here."""
    return {**browser_type_launch_args, "executable_path": str(chromium)}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "locale": "en-US", "timezone_id": "Asia/Shanghai"}


def sign_in(page: Any, server: ConsoleServer, role: str = "agent") -> None:
    """Sign in through the form, as a person pasting their token would."""
    page.goto(f"{server.base_url}/console/sign-in")
    page.locator("input[name=token]").fill(server.tokens[role])
    page.locator("form[action='/console/sign-in'] button[type=submit]").click()
    page.wait_for_url(home_url(server))


def home_url(server: ConsoleServer) -> re.Pattern[str]:
    """The home page itself (a sign-in page's ``?next=/console/`` must not match)."""
    return re.compile(rf"^{re.escape(server.base_url)}/console/$")


def assert_accessible(page: Any) -> None:
    """axe-core (vendored) finds no violation on the page as it is now. Evaluated through the
    DevTools protocol, so the page's CSP (no inline scripts) stays in force for the page itself."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in result["violations"]
    ]
    assert not violations, f"axe found on {page.url}:\n" + "\n".join(violations)


def screenshot(page: Any, name: str) -> None:
    """docs/console/NAME.png when RECORDS_TEST_SCREENSHOTS=1 (the README's pictures come from here)."""
    if os.environ.get("RECORDS_TEST_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
