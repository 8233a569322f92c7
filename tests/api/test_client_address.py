"""Issue 14 findings 4 and 5: the client address comes from trusted proxies only, and the
authentication throttle cannot be turned against others.

Requests arrive here from chosen peer addresses (a thin ASGI wrapper sets the peer, as a socket
would), so the tests can be a client on 127.0.0.1, a client of the shipped proxy, or the proxy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from records.api.app import create_app
from records.api.client_address import parse_proxies, resolve_client
from records.errors import InvalidConfiguration
from records.settings import load_settings
from tests.helpers.server_process import ServerProcess, create_token

PROXY = "10.0.0.2"


class Peer:
    """The app behind a socket whose peer address the test chooses per request."""

    def __init__(self, app: Litestar) -> None:
        self.app, self.address = app, "127.0.0.1"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            scope = {**scope, "client": (self.address, 41234)}
        await self.app(scope, receive, send)


class Service:
    def __init__(self, app: Litestar, peer: Peer, client: TestClient) -> None:
        self.app, self.peer, self.client = app, peer, client

    def token(self, name: str, role: str = "agent") -> str:
        with self.client.portal() as portal:
            return portal.call(self.app.state.token_service.issue, name, role).token

    def call(self, token: str | None, frm: str, **headers: str) -> httpx.Response:
        self.peer.address = frm
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.get("/api/v1/me", headers=headers)

    def clients_seen(self, admin: str) -> list[str | None]:
        self.peer.address = "127.0.0.1"
        events = self.client.get("/api/v1/audit/events", params={"action": "token.whoami", "limit": 200},
                                 headers={"Authorization": f"Bearer {admin}"})
        assert events.status_code == 200, events.text
        return [e["client"] for e in events.json()["items"]]


def _service(data_dir, **settings: Any) -> Iterator[Service]:
    app = create_app(load_settings(data_dir=data_dir, auth_failure_limit=5, **settings))
    peer = Peer(app)
    with TestClient(peer, raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        yield Service(app, peer, client)


@pytest.fixture
def direct(data_dir) -> Iterator[Service]:
    """The default installation: no trusted proxies."""
    yield from _service(data_dir)


@pytest.fixture
def proxied(data_dir) -> Iterator[Service]:
    """Behind the shipped proxy at 10.0.0.2."""
    yield from _service(data_dir, trusted_proxies=f"{PROXY}, 192.168.7.0/24")


# --- finding 4: forwarded headers only from trusted proxies -------------------------------------


def test_forwarded_for_from_an_untrusted_peer_does_not_bypass_the_throttle(direct):
    # The attack: a new X-Forwarded-For per request made every bad attempt look like a new client.
    codes = [direct.call("rec_guess", "127.0.0.1", **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code
             for i in range(8)]
    assert codes == [401] * 5 + [429] * 3
    admin = direct.token("root", "admin")
    assert set(direct.clients_seen(admin)) == {"127.0.0.1"}  # not what the client wrote


@pytest.mark.parametrize("forged", ["=1+1", "x" * 8000, "203.0.113.66, <script>", "999.1.1.1", ""])
def test_the_access_log_stores_a_valid_address_or_none(proxied, forged):
    alice = proxied.token("alice")
    assert proxied.call(alice, PROXY, **{"X-Forwarded-For": forged}).status_code == 200
    assert proxied.call(alice, "not-an-address").status_code == 200
    # An unreadable forwarded entry is never taken for an address: the proxy is the last hop
    # known; a peer that is no IP address (a unix socket, a test transport) is recorded as none.
    assert proxied.clients_seen(proxied.token("root", "admin"))[-2:] == [PROXY, None]


def test_a_trusted_proxy_names_the_client(proxied):
    alice, admin = proxied.token("alice"), proxied.token("root", "admin")
    assert proxied.call(alice, PROXY, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 200
    # A client's own X-Forwarded-For is kept by the proxy on the left: the proxy's entry wins.
    assert proxied.call(alice, PROXY, **{"X-Forwarded-For": "203.0.113.66, 198.51.100.8"}).status_code == 200
    # Through two trusted hops (a CDN at 192.168.7.x in front of the proxy).
    assert proxied.call(alice, PROXY, **{"X-Forwarded-For": "1.2.3.4, 198.51.100.9, 192.168.7.20"}).status_code == 200
    # The same header from anyone else is ignored.
    assert proxied.call(alice, "198.51.100.50", **{"X-Forwarded-For": "203.0.113.66"}).status_code == 200
    assert proxied.clients_seen(admin)[-4:] == ["198.51.100.7", "198.51.100.8", "198.51.100.9", "198.51.100.50"]


def test_a_bad_trusted_proxy_is_a_configuration_error_at_start(data_dir):
    with pytest.raises(InvalidConfiguration, match="trusted_proxies.*'10.0.0.300' is not an IP address"):
        load_settings(data_dir=data_dir, trusted_proxies="10.0.0.1,10.0.0.300")
    assert load_settings(data_dir=data_dir).trusted_proxies == ""


def test_resolving_the_chain():
    proxies = parse_proxies(["10.0.0.2", "fd00::/8"])

    def resolve(peer: str, forwarded: str | None) -> str | None:
        headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
        found = resolve_client({"client": (peer, 1), "headers": headers}, proxies)  # type: ignore[arg-type]
        return str(found) if found is not None else None

    assert resolve("10.0.0.2", "198.51.100.7") == "198.51.100.7"
    assert resolve("10.0.0.2", None) == "10.0.0.2"
    assert resolve("10.0.0.2", "garbage, 10.0.0.2") == "10.0.0.2"  # unreadable beyond a trusted hop
    assert resolve("fd00::1", "[2001:db8::5]") == "2001:db8::5"
    assert resolve("::ffff:10.0.0.2", "::ffff:198.51.100.7") == "198.51.100.7"  # mapped IPv4 is IPv4
    assert resolve("198.51.100.1", "10.0.0.9") == "198.51.100.1"
    assert resolve("testclient", "198.51.100.7") is None


# --- finding 5: failures of others never refuse a valid token ------------------------------------


def test_behind_the_proxy_bad_tokens_do_not_lock_out_valid_ones(proxied):
    # Before: 20 bad requests through Caddy made every admin and agent token get 429 for 60 s.
    admin, alice = proxied.token("root", "admin"), proxied.token("alice")
    for _ in range(30):
        assert proxied.call("rec_guess", PROXY).status_code in (401, 429)
    assert proxied.call(admin, PROXY).status_code == 200
    assert proxied.call(alice, PROXY).status_code == 200


def test_without_a_trusted_proxy_config_valid_tokens_still_pass(direct):
    alice = direct.token("alice")
    assert [direct.call("rec_guess", "127.0.0.1").status_code for _ in range(7)] == [401] * 5 + [429] * 2
    assert direct.call(alice, "127.0.0.1").status_code == 200  # the same address, a valid token


def test_failures_are_slowed_per_real_client_address(proxied):
    for _ in range(5):
        assert proxied.call("rec_guess-one", PROXY, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 401
    assert proxied.call("rec_guess-two", PROXY, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 429
    # Another client behind the same proxy, with its own mistake, is not slowed by the first one.
    assert proxied.call("rec_other-tok", PROXY, **{"X-Forwarded-For": "198.51.100.8"}).status_code == 401


def test_failures_are_slowed_per_token_prefix_across_addresses(direct):
    # One stale token presented from many addresses (a botnet, a fleet of misconfigured scripts).
    codes = [direct.call("rec_STALEtok-abcdef", f"198.51.100.{i}").status_code for i in range(7)]
    assert codes == [401] * 5 + [429] * 2
    assert direct.call("rec_OTHERtok-abcdef", "198.51.100.99").status_code == 401


@pytest.mark.slow
def test_the_server_does_not_believe_forwarded_headers_from_localhost(server: ServerProcess, data_dir) -> None:
    admin = create_token(data_dir, "root", "admin")
    server.start()
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {admin}"}) as client:
        assert client.get("/api/v1/me", headers={"X-Forwarded-For": "203.0.113.66"}).status_code == 200
        events = client.get("/api/v1/audit/events", params={"action": "token.whoami"}).json()["items"]
    server.stop()
    assert [e["client"] for e in events] == ["127.0.0.1"]
    assert "203.0.113.66" not in server.log()
