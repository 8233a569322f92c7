"""Retention defaults from plugins (``records_register_retention_schedules``) and the policy
the settings give retention."""

from __future__ import annotations

import pluggy
from pydantic import ValidationError

from records.errors import InvalidConfiguration
from records.retention.models import ScheduleIn
from records.retention.periods import parse_period
from records.retention.policy import RetentionPolicy
from records.settings import RecordsSettings


def retention_policy(settings: RecordsSettings) -> RetentionPolicy:
    return RetentionPolicy(
        fiscal_year_start_month=settings.retention_fiscal_year_start_month,
        two_person_rule=settings.retention_two_person_rule,
        batch_max_items=settings.retention_batch_max_items,
        review_period=settings.retention_review_period,
        transfer_dir=settings.transfer_path,
        organization=settings.retention_organization,
    )


def registered_schedules(plugins: pluggy.PluginManager) -> list[tuple[str, ScheduleIn, str | None, str | None]]:
    """(plugin name, schedule, legal minimum period, where that minimum comes from) for every
    schedule plugins register; the first registration of a name wins (installed plugins are
    called before built-ins)."""
    found: dict[str, tuple[str, ScheduleIn, str | None, str | None]] = {}
    for impl in plugins.hook.records_register_retention_schedules.get_hookimpls()[::-1]:
        def register(schedule: dict | ScheduleIn, minimum_period: str | None = None, minimum_source: str | None = None,
                     _plugin: str = impl.plugin_name) -> None:
            try:
                data = schedule if isinstance(schedule, ScheduleIn) else ScheduleIn.model_validate(schedule)
                if minimum_period is not None:
                    parse_period(minimum_period)
            except (ValidationError, ValueError) as exc:
                raise InvalidConfiguration(f"plugin {_plugin} registers an invalid retention schedule: {exc}") from None
            found.setdefault(data.name, (_plugin, data, minimum_period, minimum_source))

        impl.function(register=register)
    return list(found.values())
