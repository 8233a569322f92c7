"""Record validation by plugins (``records_validate_record``), a decision hook.

Every plugin is asked; their problems are gathered and the change refused with all of them at
once. A plugin that raises fails the request naming itself, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable

from records.errors import PluginFailed, RecordRejected
from records.models import Record
from records.roles import Principal

Validate = Callable[[Record, Record | None, Principal], None]


def validator(plugins) -> Validate:  # type: ignore[no-untyped-def]
    def validate(record: Record, previous: Record | None, actor: Principal) -> None:
        problems: list[str] = []
        for impl in plugins.hook.records_validate_record.get_hookimpls():
            try:
                found = impl.function(record=record, previous=previous, actor=actor) or []
            except Exception as exc:  # noqa: BLE001 - reported as the plugin's failure, by name
                plugins.status.failed(impl.plugin_name, f"records_validate_record: {type(exc).__name__}: {exc}") \
                    if hasattr(plugins, "status") else None
                raise PluginFailed(f"validation plugin {impl.plugin_name} failed: {type(exc).__name__}: {exc}") from None
            problems.extend(f"{impl.plugin_name}: {p}" for p in found if isinstance(p, str) and p)
        if problems:
            raise RecordRejected("; ".join(problems[:20]))

    return validate
