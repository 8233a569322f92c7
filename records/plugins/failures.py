"""How a plugin's failure is reported: by plugin, hook, exception type and request id, never by
the exception's message, which may quote whatever the plugin was given (``int(record.customer.account)``
fails with the account in its text). Clients and the plugin status see only the report; the
message, redacted, goes to the ``records.plugins.failures`` logger at debug level, which the
server log shows only when an operator runs it with ``RECORDS_LOG_LEVEL=debug``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from records.audit import trail as audit_trail
from records.clock import utcnow
from records.redaction import redact_message, traceback_without_messages

log = logging.getLogger("records.plugins")
messages = logging.getLogger("records.plugins.failures")


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    hook: str
    exception: str  # the exception's type, qualified: builtins.ValueError
    request_id: str  # the request's X-Request-Id (its audit event's), or one made for this failure
    at: datetime = field(default_factory=utcnow)

    def __str__(self) -> str:
        return f"{self.hook} raised {self.exception} (request {self.request_id})"


def load_failure(exc: BaseException) -> str:
    """Why a plugin could not be loaded, fit to store and show: a missing module is named (its
    message is the import system's), anything else the plugin's code raised by type alone."""
    kind = type(exc)
    messages.debug("a plugin failed to load: %s", redact_message(str(exc)))
    if isinstance(exc, ImportError) and exc.name:
        return f"{kind.__qualname__}: no module named {exc.name!r}"
    return f"loading raised {kind.__module__}.{kind.__qualname__}"


def customer_identifiers(record: object) -> tuple[str | None, ...]:
    """The identifiers of the file a hook was given, for redacting its failure's message."""
    customer = getattr(record, "customer", None)
    return (customer.name, customer.phone, customer.account) if customer is not None else ()


def failure_report(plugin: str, hook: str, exc: BaseException, identifiers: Iterable[str | None] = (),
                   request_id: str | None = None) -> PluginFailure:
    """Report ``exc``, raised by ``plugin``'s ``hook``: the server log gets where and what (the
    traceback without messages), the failures logger the message redacted of ``identifiers`` (the
    file's customer identifiers, when the hook was given a file) and of anything that looks like
    personal data. The returned report is what may be shown or stored."""
    if request_id is None:
        trail = audit_trail.current()
        request_id = trail.request_id if trail is not None else uuid.uuid4().hex
    kind = type(exc)
    report = PluginFailure(plugin, hook, f"{kind.__module__}.{kind.__qualname__}", request_id)
    log.error("plugin %s failed: %s\n%s", plugin, report, traceback_without_messages(exc))
    if messages.isEnabledFor(logging.DEBUG):
        messages.debug("plugin %s, %s, request %s: %s", plugin, hook, report.request_id,
                       redact_message(str(exc), identifiers))
    return report
