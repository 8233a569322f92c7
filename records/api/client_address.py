"""The client's address, as the service trusts it: the peer's, or, when the peer is one of
``RECORDS_TRUSTED_PROXIES``, the address those proxies forwarded in ``X-Forwarded-For``.

Forwarded headers are anyone's to write, so they are believed only from configured proxies
(none by default: uvicorn's own proxy-header handling, which trusts 127.0.0.1, where every
client of the default bind comes from, is switched off). The chain is read from the right, each
trusted proxy's entry naming the hop before it; the first address not a trusted proxy is the
client. Whatever is not an IP address is never taken for one: the throttle, the audit log and
the access log get a valid address or none.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# More hops than any real proxy chain: a longer header is not walked further.
MAX_FORWARDED_HOPS = 16


def parse_proxies(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``10.0.0.5``, ``10.1.0.0/16``, ``::1``: each an address or network. Raises ``ValueError``
    naming the first entry that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry.strip()!r} is not an IP address or network (CIDR)") from None
    return tuple(networks)


def ip_address(text: str) -> IPAddress | None:
    """``text`` as an IP address (IPv4-mapped IPv6 as IPv4, ``[::1]`` unbracketed), else None."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text or len(text) > 45:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in proxies)


def _header_values(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == name]


def resolve_client(scope: Scope, proxies: Sequence[IPNetwork]) -> IPAddress | None:
    peer = scope.get("client")
    address = ip_address(str(peer[0])) if peer else None
    if address is None or not proxies or not _trusted(address, proxies):
        return address
    forwarded = ",".join(_header_values(scope, b"x-forwarded-for")).split(",")
    for entry in reversed(forwarded[-MAX_FORWARDED_HOPS:]):
        hop = ip_address(entry)
        if hop is None:
            break  # a trusted proxy passed on what it was given: what lies beyond is unknown
        address = hop
        if not _trusted(hop, proxies):
            break
    return address


class ClientAddressMiddleware(ASGIMiddleware):
    """Outermost middleware: rewrites ``scope["client"]`` to the trusted client address (or None),
    so that everything after it (the throttle, the audit trail, uvicorn's access log, which reads
    the same scope) sees one answer. From a trusted proxy, ``X-Forwarded-Proto`` sets the scheme."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, proxies: Sequence[IPNetwork] = ()) -> None:
        self.proxies = tuple(proxies)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        peer: Any = scope.get("client")
        peer_address = ip_address(str(peer[0])) if peer else None
        address = resolve_client(scope, self.proxies)
        if address is None:
            scope["client"] = None  # type: ignore[typeddict-item]
        else:
            scope["client"] = (str(address), peer[1] if address == peer_address else 0)
        if peer_address is not None and _trusted(peer_address, self.proxies):
            proto = [v.strip().lower() for v in ",".join(_header_values(scope, b"x-forwarded-proto")).split(",")]
            if proto[-1] in ("http", "https"):
                scope["scheme"] = proto[-1] if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto[-1]]
        await next_app(scope, receive, send)
