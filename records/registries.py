"""Everything plugins declare, built together and owned in one place.

``PluginRegistries`` is one complete set (workflows and their guards, service levels over the
business calendars, metrics, classification schemes) built from the plugins registered now;
``RegistriesInForce`` holds the set in force. Services read the set in force each time they need
it, so applying plugins (an install, an enable, another instance's change) swaps every registry
in one step, or none when the new set is not usable. A new registry is a field and a line here,
beside its hookspec, its registry class, its plugin and its docs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pluggy

from records.calendars import CalendarRegistry
from records.classification import SchemeRegistry
from records.errors import InvalidConfiguration
from records.metrics import MetricRegistry
from records.service_levels import ServiceLevels
from records.settings import RecordsSettings
from records.workflow import WorkflowRegistry


@dataclass(frozen=True)
class PluginRegistries:
    workflows: WorkflowRegistry
    service_levels: ServiceLevels
    metrics: MetricRegistry
    schemes: SchemeRegistry

    @classmethod
    def build(cls, plugins: pluggy.PluginManager, settings: RecordsSettings) -> PluginRegistries:
        """Every registry from the plugins registered now; ``InvalidConfiguration`` naming the kind
        of plugin at fault when a declaration is not valid."""
        hook = plugins.hook
        try:
            workflows = WorkflowRegistry.from_plugins(hook, settings.plugin_settings)
        except ValueError as exc:
            raise InvalidConfiguration(f"workflow plugins: {exc}") from None
        try:
            calendars = CalendarRegistry.from_plugins(hook, settings.business_calendar, settings.holiday_file)
            service_levels = ServiceLevels.from_plugins(hook, calendars, settings.service_level_limits,
                                                        settings.plugin_settings)
        except ValueError as exc:  # a plugin built an invalid ServiceLevel
            raise InvalidConfiguration(f"service-level plugins: {exc}") from None
        try:
            schemes = SchemeRegistry.from_plugins(hook)
        except ValueError as exc:
            raise InvalidConfiguration(f"classification plugins: {exc}") from None
        try:
            metrics = MetricRegistry.from_plugins(hook, settings.metric_targets, settings.plugin_settings)
        except ValueError as exc:  # a plugin built an invalid Metric
            raise InvalidConfiguration(f"metric plugins: {exc}") from None
        return cls(workflows, service_levels, metrics, schemes)


class RegistriesInForce:
    """The one owner of the registries: what every service reads, swapped whole."""

    def __init__(self, registries: PluginRegistries) -> None:
        self._current = registries

    def swap(self, registries: PluginRegistries) -> None:
        self._current = registries

    @property
    def workflows(self) -> WorkflowRegistry:
        return self._current.workflows

    @property
    def service_levels(self) -> ServiceLevels:
        return self._current.service_levels

    @property
    def metrics(self) -> MetricRegistry:
        return self._current.metrics

    @property
    def schemes(self) -> SchemeRegistry:
        return self._current.schemes

    def check_codes(self, codes: list[str], kept: list[str]) -> None:
        """Refuse classification codes no scheme in force defines (``kept``: stored ones stay valid)."""
        self._current.schemes.check(codes, kept=kept)
