"""Defences every response and every authentication attempt go through: security headers, and
throttling of clients that keep failing to authenticate.

Tokens are 256-bit secrets, so guessing one is hopeless; the throttle exists so that a client
hammering the API with bad credentials (credential stuffing, a misconfigured script) is slowed
to 429s. It counts failures per client address and per presented token prefix, and refuses only
failing attempts: a valid token always gets in, so no one can lock others out by failing.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Message, Scope

from records.errors import TooManyAuthFailures

# Responses of the API proper: JSON and attachment bytes, never a page to render or frame.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The interactive docs (/schema, /schema/swagger) are HTML pages whose scripts, styles and images
# are served from the package (records/api/static): nothing loads from another host. Swagger UI
# sets style attributes, hence 'unsafe-inline' for styles only; it fetches the OpenAPI document
# and tries requests on this origin only.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    "script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self' data:; "
    "connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Console pages: everything from this origin (scripts and styles are files, never inline), forms
# post back here only.
CONSOLE_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
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
    console = path == "/console" or path.startswith("/console/")
    policy = DOCS_CONTENT_SECURITY_POLICY if docs else CONSOLE_CONTENT_SECURITY_POLICY if console else API_CONTENT_SECURITY_POLICY
    headers.append((b"content-security-policy", policy.encode()))
    # Console pages show records too; only its static files (htmx, CSS) may be cached.
    if path.startswith("/api/") or (console and not path.startswith("/console/static/")):
        headers.append((b"cache-control", b"no-store"))
    message["headers"] = headers


# Bounds the throttle's memory whatever the number of addresses attacking at once; when full, the
# key whose last failure is oldest is forgotten first.
MAX_TRACKED_CLIENTS = 100_000
# How much of a presented token names its "family" for the throttle: the prefix and 8 characters,
# enough to tell one script's stale token from another's, far too little to help guess one.
TOKEN_PREFIX_LENGTH = 12


def failure_keys(client: str | None, secret: str | None) -> list[str]:
    """What a failed authentication counts against: the client's address (when there is a valid
    one) and the presented token's prefix (hashed: the throttle keeps no part of a secret)."""
    keys = [f"address:{client or 'unknown'}"]  # no valid address: such clients share one count
    if secret:
        digest = hashlib.sha256(secret[:TOKEN_PREFIX_LENGTH].encode("utf-8", "replace")).hexdigest()[:32]
        keys.append(f"token:{digest}")
    return keys


class AuthFailureThrottle:
    """Sliding window of failed authentications per key (a client address, a token prefix).

    A key with ``limit`` failures within the last ``window`` seconds makes further *failing*
    attempts under it get 429 (with ``Retry-After``) instead of 401 until the oldest failure
    leaves the window; refused attempts do not count, so a client that waits gets back in. A valid
    token is never refused: failures of others (behind one proxy, one NAT) cannot lock it out.
    One per server process, in memory: a restart forgets.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def check(self, *keys: str) -> None:
        """Raises ``TooManyAuthFailures`` if any of ``keys`` has used up its failures."""
        now = self._clock()
        waits = []
        for key in keys:
            failures = self._recent(key, now)
            if failures is not None and len(failures) >= self.limit:
                waits.append(max(1, math.ceil(failures[0] + self.window - now)))
        if waits:
            retry_after = max(waits)
            raise TooManyAuthFailures(
                f"too many failed authentications from this address or with this token; retry in {retry_after} s",
                retry_after=retry_after,
            )

    def failed(self, *keys: str) -> None:
        now = self._clock()
        for key in keys:
            failures = self._recent(key, now)
            if failures is None:
                failures = self._failures[key] = deque(maxlen=self.limit)
            failures.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED_CLIENTS:
            self._failures.popitem(last=False)


def client_address(scope: Scope | dict[str, Any]) -> str | None:
    """The client's address as ``ClientAddressMiddleware`` resolved it; None when not an IP."""
    client = scope.get("client")
    return str(client[0]) if client else None


def plain_file_name(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard of the static file routers (API docs, console): a name the OS cannot even look up (a
    NUL byte, a name past NAME_MAX) is not found, rather than a failed request (500)."""
    path = connection.scope.get("path", "")
    if "\x00" in path or len(path) > 1024 or any(len(part.encode()) > 255 for part in path.split("/")):
        raise NotFoundException("no such file")
