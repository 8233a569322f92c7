"""Every hook a plugin may implement, with what it is called with and what it returns.

Hooks are called with keyword arguments; signatures only grow. ``docs/plugin_hooks.md``
documents each one with an example (a test fails when a hook is missing there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from records.plugins import hookspec

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from records.calendars import BusinessCalendar
    from records.classification import ClassificationScheme
    from records.crypto.keyring import KeyEncryptionKeys, LocalKeyring
    from records.lifecycle import LifecycleEvent
    from records.metrics import Metric
    from records.models import Record
    from records.roles import Principal
    from records.service_levels import ServiceLevel
    from records.settings import RecordsSettings
    from records.workflow import Guard, Workflow


@hookspec(firstresult=True)
def records_key_provider(settings: RecordsSettings, keyring: LocalKeyring) -> KeyEncryptionKeys | None:
    """Return the provider of key-encryption keys that wraps every record's data key.

    Called once when an installation opens. Return an object implementing
    ``records.crypto.keyring.KeyEncryptionKeys`` (a KMS, Vault transit, an HSM), or None to
    abstain. The first non-None result wins; the built-in implementation, which answers last,
    returns the local ``keyring``. The local keyring still holds the blind-index key and the
    register of destroyed keys whichever provider wraps data keys.
    """


@hookspec
def records_register_workflows(register: Callable[[Workflow], None]) -> None:
    """Register workflows: call ``register(Workflow(...))`` once per kind of file you define.

    Called once when an installation opens. Every kind needs a workflow whose last stage is a
    final ``archived``. When several plugins register a kind, the first registration wins: pluggy
    calls the most recently registered plugin first and built-ins (``trylast``) last, so an
    installed plugin replaces a built-in workflow. Returns nothing.
    """


@hookspec
def records_register_guards(register: Callable[[str, Guard], None], plugin_settings: dict[str, dict[str, Any]]) -> None:
    """Register transition guards: call ``register(name, guard)`` for each.

    A guard is ``guard(record, transition, actor) -> str | None``: None lets the transition
    happen, a string is the reason it may not (the client gets 422 with it). Workflows name
    guards in their transitions' ``guards``. Called once when an installation opens, before
    ``records_register_workflows``. A guard that raises fails the transition with an error
    naming the plugin.
    ``plugin_settings`` is ``RECORDS_PLUGIN_SETTINGS``: a dict of sections by name; read your own
    section (and take the argument only if you need it: pluggy passes what a hook asks for).
    """


@hookspec
def records_register_classification_schemes(register: Callable[[ClassificationScheme], None]) -> None:
    """Register classification schemes: call ``register(ClassificationScheme(...))`` for each.

    Called once when an installation opens. The first registration of a scheme name wins
    (installed plugins are called before built-ins). Returns nothing.
    """


@hookspec
def records_classify(record: Record) -> list[str] | None:
    """Propose classification codes (``scheme:code``) for a record being filed.

    Called at intake, before the record is stored, with the record in clear. Every plugin's
    codes are added to those the caller gave; return None or ``[]`` to propose nothing. A
    plugin that raises is logged and reported as ``classification_failed`` on the record's
    timeline; the filing still succeeds.
    """


@hookspec
def records_register_calendars(register: Callable[[BusinessCalendar], None]) -> None:
    """Register business calendars: call ``register(calendar)`` for each.

    A calendar has a ``name``, a ``timezone`` (IANA) and ``is_working_day(day) -> bool | None``,
    returning None for days its data does not reach (those are counted Monday to Friday and the
    deadline is flagged ``calendar_fallback``). ``RECORDS_BUSINESS_CALENDAR`` names the default
    for working-day limits. First registration of a name wins. Returns nothing.
    """


@hookspec
def records_register_service_levels(register: Callable[[ServiceLevel], None], plugin_settings: dict[str, dict[str, Any]]) -> None:
    """Register service levels (time limits): call ``register(ServiceLevel(...))`` for each.

    Each gives the kinds it covers, an optional ``applies(record)`` condition, a limit in elapsed
    time or working days, and the stages whose entry meets it. Clocks start at ``received_at``,
    or at the file's first entry into one of ``starts_on`` when the level gives them.
    First registration of a name wins; ``RECORDS_SERVICE_LEVEL_LIMITS`` overrides limits by name.
    ``plugin_settings`` is ``RECORDS_PLUGIN_SETTINGS``: a dict of sections by name; read your own
    section (and take the argument only if you need it: pluggy passes what a hook asks for).
    """


@hookspec
def records_register_metrics(register: Callable[[Metric], None], plugin_settings: dict[str, dict[str, Any]]) -> None:
    """Register evaluation metrics: call ``register(Metric(...))`` for each.

    A metric is a declaration (criteria for its denominator and numerator, a target and the
    alternatives its source gives) that the store computes with its own aggregate queries.
    First registration of a name wins; ``RECORDS_METRIC_TARGETS`` switches targets by name.
    ``plugin_settings`` is ``RECORDS_PLUGIN_SETTINGS``: a dict of sections by name; read your own
    section (and take the argument only if you need it: pluggy passes what a hook asks for).
    """


@hookspec
def records_validate_record(record: Record, previous: Record | None, actor: Principal) -> list[str] | None:
    """Check a file before it is filed (``previous`` None) or amended; return the problems.

    A decision hook: every plugin's problems are collected and the change is refused with 422
    ``record_rejected`` listing them. A plugin that raises fails the request with 500
    ``plugin_failed`` naming the plugin; nothing is stored.
    """


@hookspec
def records_lifecycle(event: LifecycleEvent) -> None:
    """Be told what happened to a file, after it is durable: ``event.name`` is one of
    ``created``, ``amended``, ``transitioned``, ``archived``, ``destroyed``, ``deadline_breached``.

    A notification hook: it runs outside the request, in order, on a worker thread, so a slow
    hook does not slow the API. A hook that raises is logged and counted against its plugin
    (``GET /api/v1/plugins`` shows it ``failing``); the request it followed has succeeded.
    Events carry governance data only (ids, reference, kind, stages, deadline), never a
    customer's personal data.
    """


@hookspec
def records_register_retention_schedules(register: Callable[..., None]) -> None:
    """Register default retention schedules: call ``register(schedule, minimum_period=None,
    minimum_source=None)`` for each.

    ``schedule`` is a ``records.retention.models.ScheduleIn`` or a dict of its fields (``name``,
    ``kinds``, ``classification``, ``trigger``, ``period``, ``cutoff``, ``action``);
    ``minimum_period`` (ISO 8601, counted from archiving) is a legal floor for every file of the
    schedule's kinds and codes, whichever schedule governs it (``records.retention.floors``), and
    ``minimum_source`` says where it comes from (e.g. ``SPEC §2.5``). The floor is stored once; only
    an admin removes it. Called once when
    an installation opens; a schedule is stored only if none of that name exists, so an
    archivist's edits are never overwritten. The first registration of a name wins (installed
    plugins are called before built-ins). Returns nothing.
    """


@hookspec(firstresult=True)
def records_deliver_transfer(bag: Path, reference: str, batch_id: str) -> str | None:
    """Deliver a validated BagIt transfer package to the archive of record.

    Called during a disposition batch, for each record transferred, after its bag was written
    and validated under ``RECORDS_RETENTION_TRANSFER_DIR`` and before the record is destroyed
    here. Return where it went (a URI, kept in the tombstone and the certificate), or None to
    abstain (the local package is the transfer). The first non-None result wins; raising stops
    the batch before anything of that record is destroyed (it resumes on the next run).
    """
