"""Defences every response and every authentication attempt go through: security headers, and
throttling of clients that keep failing to authenticate.

Tokens are 256-bit secrets, so guessing one is hopeless; the throttle exists so that a client
hammering the API with bad credentials (credential stuffing, a misconfigured script) costs it
a 429 instead of a token lookup, an audit event and a log line per attempt.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from litestar.types import Message, Scope

from records.errors import TooManyAuthFailures

# Responses of the API proper: JSON and attachment bytes, never a page to render or frame.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The interactive docs (/schema/swagger, /schema for Scalar) are HTML pages whose scripts and
# styles come from jsDelivr and inline <script> blocks that litestar writes; they fetch the
# OpenAPI document and try requests on this origin only.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://cdn.jsdelivr.net; "
    "font-src 'self' data: https://cdn.jsdelivr.net https://fonts.gstatic.com https://fonts.scalar.com; "
    "connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_OURS = {name for name, _ in _COMMON_HEADERS} | {b"content-security-policy", b"cache-control"}


async def add_security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: runs for every response of the app, unknown routes included.

    Everything under ``/api/`` carries records or the access log, so no cache (browser, proxy)
    may keep a copy: ``Cache-Control: no-store``."""
    if message["type"] != "http.response.start":
        return
    path: str = scope.get("path", "")
    docs = path == "/schema" or (path.startswith("/schema/") and not path.endswith((".json", ".yaml", ".yml")))
    headers = [h for h in message.get("headers", []) if h[0].lower() not in _OURS]
    headers.extend(_COMMON_HEADERS)
    policy = DOCS_CONTENT_SECURITY_POLICY if docs else API_CONTENT_SECURITY_POLICY
    headers.append((b"content-security-policy", policy.encode()))
    if path.startswith("/api/"):
        headers.append((b"cache-control", b"no-store"))
    message["headers"] = headers


# Bounds the throttle's memory whatever the number of addresses attacking at once; when full, the
# client whose last failure is oldest is forgotten first.
MAX_TRACKED_CLIENTS = 100_000


class AuthFailureThrottle:
    """Sliding window of failed authentications per client address.

    A client with ``limit`` failures within the last ``window`` seconds is refused (429, with
    ``Retry-After``) until the oldest of them leaves the window; refused attempts do not count,
    so a client that waits gets back in. One per server process, in memory: a restart forgets.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures

    def check(self, client: str) -> None:
        """Raises ``TooManyAuthFailures`` if ``client`` may not try to authenticate now."""
        now = self._clock()
        failures = self._recent(client, now)
        if failures is not None and len(failures) >= self.limit:
            retry_after = max(1, math.ceil(failures[0] + self.window - now))
            raise TooManyAuthFailures(
                f"too many failed authentications from this address; retry in {retry_after} s", retry_after=retry_after
            )

    def failed(self, client: str) -> None:
        now = self._clock()
        failures = self._recent(client, now)
        if failures is None:
            failures = self._failures[client] = deque(maxlen=self.limit)
        failures.append(now)
        self._failures.move_to_end(client)
        while len(self._failures) > MAX_TRACKED_CLIENTS:
            self._failures.popitem(last=False)


def client_address(scope: Scope | dict[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
