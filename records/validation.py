"""Record validation by plugins (``records_validate_record``), a decision hook.

Every plugin is asked; their problems are gathered and the change refused with all of them at
once. A plugin that raises fails the request naming itself, its hook, the exception's type and
the request id (never the exception's message), and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable

from records.errors import PluginFailed, RecordRejected
from records.models import Record
from records.plugins.failures import customer_identifiers, failure_report
from records.roles import Principal

Validate = Callable[[Record, Record | None, Principal], None]


def validator(plugins) -> Validate:  # type: ignore[no-untyped-def]
    def validate(record: Record, previous: Record | None, actor: Principal) -> None:
        problems: list[str] = []
        for impl in plugins.hook.records_validate_record.get_hookimpls():
            try:
                found = impl.function(record=record, previous=previous, actor=actor) or []
            except Exception as exc:  # noqa: BLE001 - reported as the plugin's failure, by name
                failure = failure_report(impl.plugin_name, "records_validate_record", exc,
                                         (*customer_identifiers(record), *customer_identifiers(previous)))
                if hasattr(plugins, "status"):
                    plugins.status.failed(failure)
                raise PluginFailed(f"plugin {impl.plugin_name} failed: {failure}") from None
            problems.extend(f"{impl.plugin_name}: {p}" for p in found if isinstance(p, str) and p)
        if problems:
            raise RecordRejected("; ".join(problems[:20]))

    return validate
