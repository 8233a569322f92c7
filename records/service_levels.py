"""Service levels: the time limits a file must meet, and its deadlines under them.

Policies come from plugins (``records_register_service_levels``); the core only computes.
A clock starts at the file's ``received_at``, or, for a level with ``starts_on`` (feedback after
a delivery, SPEC §4.3), at its first entry into one of those stages: until then the file has no
such deadline. A deadline is met when the file enters one of
the policy's ``met_on`` stages; deadlines are recomputed at filing, at every amendment and at
every stage entry, so a change of urgency moves the file under the policy that now applies.
Operators change a limit without code through ``RECORDS_SERVICE_LEVEL_LIMITS``
(``{"response_general": "PT10M", "result_feedback": "3wd"}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from records.calendars import CalendarRegistry
from records.errors import InvalidConfiguration
from records.models import Deadline, Kind, Record

WORKING_DAYS = re.compile(r"^(\d{1,3})\s*wd$")


class ServiceLevel(BaseModel):
    """One time limit. Exactly one of ``limit`` (elapsed time) or ``working_days`` is set."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    title_zh: str | None = Field(None, description="Its name in Chinese, shown to Chinese readers of the console.")
    source: str | None = Field(None, description="Where the limit comes from, e.g. 'SPEC §2.2'.")
    kinds: list[Kind]
    met_on: list[str] = Field(description="Stages whose entry meets the deadline.")
    starts_on: list[str] | None = Field(None, description="Stages whose first entry starts the clock; default: receipt.")
    limit: timedelta | None = None
    working_days: int | None = Field(None, ge=0, le=365)
    calendar: str | None = Field(None, description="Business calendar for working days; default: RECORDS_BUSINESS_CALENDAR.")
    applies: Callable[[Record], bool] | None = Field(None, exclude=True, description="Further condition on the file.")

    @model_validator(mode="after")
    def _one_limit(self) -> ServiceLevel:
        if (self.limit is None) == (self.working_days is None):
            raise ValueError(f"service level {self.name}: give exactly one of limit and working_days")
        if self.limit is not None and self.limit <= timedelta(0):
            raise ValueError(f"service level {self.name}: limit must be positive")
        return self

    def covers(self, record: Record) -> bool:
        return record.kind in self.kinds and (self.applies is None or bool(self.applies(record)))


def parse_limit(text: str) -> dict[str, object]:
    """``"PT10M"`` (ISO 8601 duration) or ``"2wd"`` (working days), as ServiceLevel fields."""
    match = WORKING_DAYS.fullmatch(text.strip())
    if match:
        return {"working_days": int(match.group(1)), "limit": None}
    try:
        return {"limit": TypeAdapter(timedelta).validate_python(text.strip()), "working_days": None}
    except ValidationError:
        raise ValueError(f"{text!r} is neither an ISO 8601 duration such as PT10M nor working days such as 2wd") from None


def clock_start(policy: ServiceLevel, record: Record, now: datetime, entered_stage: bool) -> datetime | None:
    """When the policy's clock started for the file: its receipt, or its first entry into one of
    ``starts_on`` (None: not yet, so no deadline)."""
    if policy.starts_on is None:
        return record.received_at
    entered = next((e.at for e in record.timeline if e.event == "transitioned" and e.detail.get("to") in policy.starts_on), None)
    if entered is None and entered_stage and record.status in policy.starts_on:
        entered = now
    return entered


@dataclass
class ServiceLevels:
    policies: dict[str, ServiceLevel] = field(default_factory=dict)
    calendars: CalendarRegistry = field(default_factory=CalendarRegistry)

    @classmethod
    def from_plugins(cls, hook, calendars: CalendarRegistry, overrides: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
                     plugin_settings: dict[str, dict] | None = None) -> ServiceLevels:
        levels = cls(calendars=calendars)
        hook.records_register_service_levels(register=lambda p: levels.policies.setdefault(p.name, p),
                                             plugin_settings=plugin_settings or {})
        for name, text in (overrides or {}).items():
            policy = levels.policies.get(name)
            if policy is None:
                raise InvalidConfiguration(
                    f"service_level_limits names {name!r}, which no plugin registers; known: {', '.join(sorted(levels.policies))}"
                )
            try:
                # Validated again, not copied: an override obeys the same bounds as a plugin's limit.
                levels.policies[name] = ServiceLevel.model_validate(
                    {**policy.model_dump(), **parse_limit(text), "applies": policy.applies})
            except ValueError as exc:
                raise InvalidConfiguration(f"service_level_limits.{name}: {exc}") from None
        for policy in levels.policies.values():
            if policy.calendar is not None and policy.calendar not in calendars.calendars:
                raise InvalidConfiguration(f"service level {policy.name} names calendar {policy.calendar!r}, which is not registered")
        return levels

    def due(self, policy: ServiceLevel, received_at: datetime) -> tuple[datetime, str | None, bool]:
        if policy.limit is not None:
            return received_at + policy.limit, None, False
        deadline = self.calendars.add_working_days(received_at, policy.working_days or 0, policy.calendar)
        return deadline.due_at, deadline.calendar, deadline.fallback

    def deadlines(self, record: Record, now: datetime, entered_stage: bool = False) -> list[Deadline]:
        """The file's deadlines after it changed at ``now``; ``entered_stage`` when the change is
        its entry into its current stage (filing is not: a file's first stage meets nothing)."""
        previous = {d.name: d for d in record.deadlines}
        result = []
        for policy in self.policies.values():
            if not policy.covers(record):
                continue
            started = clock_start(policy, record, now, entered_stage)
            if started is None:
                continue
            due_at, calendar, fallback = self.due(policy, started)
            met_at = previous[policy.name].met_at if policy.name in previous else None
            if met_at is None:
                # A policy the file newly falls under (say its urgency was raised) counts as met
                # from the file's first entry into a stage that meets it, which the timeline keeps.
                met_at = next((e.at for e in record.timeline if e.event == "transitioned"
                               and e.detail.get("to") in policy.met_on), None)
            if met_at is None and entered_stage and record.status in policy.met_on:
                met_at = now
            result.append(Deadline(name=policy.name, title=policy.title, due_at=due_at, met_at=met_at,
                                   calendar=calendar, calendar_fallback=fallback))
        return result
