"""Lookups by a personal identifier (phone, account, and any later identifier index): a privilege,
visible in the audit log, and rate-limited per principal.

Asking "which files belong to 139****4321?" with each of 10,000 candidate numbers recovers the
masked digits, so a lookup is itself a disclosure (GB/T 35273-2020 §6.2 least disclosure). Every
path that answers a question about an identifier — record search, holds by saved query, retention
events by account — goes through ``IdentifierLookups.look_up``:

- roles that see identities in clear (``RECORDS_IDENTITY_ROLES``) look up freely;
- roles in ``RECORDS_LOOKUP_ROLES`` look up only with a stated purpose (``X-Purpose``), which the
  event records; every other role is refused (403 ``lookup_not_permitted``);
- the request's event names the index queried and the blind-index value, never the plaintext
  (``lookup:customer.phone:<hmac>``), allowed or refused;
- more than ``RECORDS_LOOKUP_LIMIT`` lookups by one principal within
  ``RECORDS_LOOKUP_WINDOW_SECONDS`` get 429 ``too_many_lookups`` with ``Retry-After``.

The window is kept per server process, in memory (like the authentication throttle).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from records.audit.trail import current as current_trail
from records.crypto.blind_index import BlindIndex
from records.errors import LookupNotPermitted, PurposeRequired, TooManyLookups
from records.roles import Principal, Role

MAX_TRACKED_PRINCIPALS = 100_000


def stated_purpose(purpose: str | None = None, what: str = "this") -> str:
    """The purpose the caller stated (given, or the request's ``X-Purpose``); ``PurposeRequired``
    when there is none. Reveals and purpose-stated lookups share this one rule."""
    if purpose is None:
        trail = current_trail()
        purpose = trail.purpose if trail is not None else None
    if purpose is None or not purpose.strip():
        raise PurposeRequired(f"{what} requires a stated purpose: send X-Purpose (UTF-8) saying why", field="X-Purpose")
    return purpose.strip()


class IdentifierLookups:
    def __init__(self, index: BlindIndex, identity_roles: frozenset[Role], lookup_roles: frozenset[Role],
                 limit: int = 120, window: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.index = index
        self.identity_roles = identity_roles  # see identities in clear: look up without a purpose
        self.lookup_roles = lookup_roles  # may look up with a stated purpose
        self.limit, self.window, self._clock = limit, window, clock
        self._recent: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def may_look_up(self, actor: Principal) -> bool:
        """Whether ``actor``'s role may look up at all (with a purpose, for lookup roles)."""
        return actor.role in self.identity_roles or actor.role in self.lookup_roles

    def look_up(self, actor: Principal, index: str, value: str, purpose: str | None = None) -> str:
        """The blind-index value to query ``index`` with for ``value``, if ``actor`` may ask now.
        The request's event names the lookup whatever the answer."""
        digest = self.index.value(index, value)
        trail = current_trail()
        if trail is not None:
            trail.target(f"lookup:{index}:{digest}")
        if actor.role not in self.identity_roles:
            if actor.role not in self.lookup_roles:
                raise LookupNotPermitted(
                    f"role {actor.role} may not look files up by {index} (RECORDS_LOOKUP_ROLES); "
                    "search by reference or other fields")
            stated_purpose(purpose, f"a lookup by {index}")
        self._count(actor)
        return digest

    def _count(self, actor: Principal) -> None:
        now = self._clock()
        with self._lock:
            recent = self._recent.get(actor.name)
            if recent is None:
                recent = self._recent[actor.name] = deque()
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if len(recent) >= self.limit:
                retry_after = max(1, math.ceil(recent[0] + self.window - now))
                raise TooManyLookups(
                    f"{self.limit} lookups by personal identifier within {self.window:g} s; retry in {retry_after} s",
                    retry_after=retry_after)
            recent.append(now)
            self._recent.move_to_end(actor.name)
            while len(self._recent) > MAX_TRACKED_PRINCIPALS:
                self._recent.popitem(last=False)
