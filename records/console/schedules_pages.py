"""Retention schedules in the console: the schedules, creating one, editing one (a new version,
previewed first with the API's dry run), every version with who made it and why, and re-applying
the latest version to the files under earlier ones (previewed first too).

Each page calls the ``RetentionService`` method of the matching ``/api/v1/retention/schedules``
route, admits its roles and is audited as its action; a form becomes the API's ``ScheduleIn``,
``SchedulePatch`` or ``ReapplyIn``, so the legal minimums, the period rules and the codes are
checked where the API checks them, and a refusal is shown beside the field it concerns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from pydantic import ValidationError

from records.api.auth import admits
from records.api.dependencies import provide_retention_service
from records.api.retention import RETENTION_MANAGERS
from records.console import i18n
from records.console.forms import FormError, text
from records.console.i18n import N_
from records.console.records_pages import KIND_LABELS
from records.console.rendering import language_of, page
from records.errors import InvalidInput, RecordsError
from records.models import Kind, whole_number
from records.retention.models import (
    Cutoff,
    DispositionAction,
    ReapplyIn,
    RetentionSchedule,
    ScheduleIn,
    SchedulePatch,
    SchedulePreview,
)
from records.retention.service import RetentionService

BASE = "/console/retention/schedules"
EDITABLE = ("name", "kinds", "classification", "trigger", "period", "cutoff", "action")
FORM_FIELDS = ("name", "kinds", "classification", "trigger", "event", "period", "cutoff", "action", "reason")
# The model's location of a complaint → the form field that shows it ("" is the whole schedule:
# its one such rule is that a period is needed unless the action is permanent).
FIELD_OF = {"": "period", "review_stages": "form"}
CODES = re.compile(r"[\s,;]+")

LABELS = {
    "action_labels": {DispositionAction.destroy: N_("destroy the file"), DispositionAction.transfer: N_("transfer to the archive, then destroy"),
                      DispositionAction.review: N_("review again when due"), DispositionAction.permanent: N_("keep permanently")},
    "cutoff_labels": {Cutoff.month: N_("end of the month"), Cutoff.year: N_("end of the year"),
                      Cutoff.fiscal_year: N_("end of the fiscal year")},
    "trigger_labels": {"archived": N_("when the file is archived"), "closed": N_("when the result is given (else archived)"),
                       "event": N_("when a retention event fires")},
    "field_labels": {"name": N_("Schedule name"), "kinds": N_("Kinds of file"), "classification": N_("Classification codes"),
                     "trigger": N_("Retention starts"), "period": N_("Retention period"), "cutoff": N_("Rounded up to"),
                     "action": N_("When due"), "review_stages": N_("Review stages")},
    "kind_labels": KIND_LABELS,
}


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> Template:
    return page(request, template, status_code=status_code, kinds=list(Kind), actions=list(DispositionAction),
                cutoffs=list(Cutoff), **LABELS, **context)


# --- forms ------------------------------------------------------------------------------------

def form_values(form: Any) -> dict[str, Any]:
    """The schedule form as typed (kinds as a list), to build the model and to show again."""
    values: dict[str, Any] = {name: form.get(name) if isinstance(form.get(name), str) else "" for name in FORM_FIELDS}
    values["kinds"] = [k for k in form.getall("kinds", []) if isinstance(k, str)] if hasattr(form, "getall") else []
    return values


def values_of_schedule(schedule: RetentionSchedule) -> dict[str, Any]:
    """A stored version as the form shows it."""
    trigger, _, event = schedule.trigger.partition(":")
    return {"name": schedule.name, "kinds": [k.value for k in schedule.kinds],
            "classification": " ".join(schedule.classification), "trigger": trigger, "event": event,
            "period": schedule.period or "", "cutoff": schedule.cutoff.value if schedule.cutoff else "",
            "action": schedule.action.value, "reason": ""}


def schedule_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The form's values as the API's fields (``None`` where the form leaves one empty)."""
    trigger = (values.get("trigger") or "").strip()
    if trigger == "event":
        trigger = f"event:{(values.get('event') or '').strip()}"
    codes = [c for c in CODES.split(values.get("classification") or "") if c]
    return {"name": (values.get("name") or "").strip(), "kinds": values.get("kinds") or [],
            "classification": codes or None, "trigger": trigger or None,
            "period": (values.get("period") or "").strip().upper() or None,
            "cutoff": (values.get("cutoff") or "").strip() or None, "action": (values.get("action") or "").strip() or None}


def new_schedule(values: dict[str, Any]) -> ScheduleIn:
    fields = schedule_fields(values)
    return ScheduleIn.model_validate({k: v for k, v in fields.items() if v is not None and v != ""})


def _shown(value: Any) -> Any:
    """A stored field as the form's fields compare (enums by value, codes as a list)."""
    if isinstance(value, list):
        return [getattr(v, "value", v) for v in value] or None
    return getattr(value, "value", value)


def schedule_patch(read: RetentionSchedule, values: dict[str, Any], reason: str | None) -> SchedulePatch:
    """Only what differs from the version the form was filled from, as ``PATCH`` sends it: an
    edit made meanwhile to another field is not undone by this one."""
    fields = schedule_fields(values)
    changes = {name: fields[name] for name in EDITABLE if fields[name] != _shown(getattr(read, name))}
    if "kinds" in changes and not changes["kinds"]:
        changes["kinds"] = []  # refused by the model: a schedule governs at least one kind
    return SchedulePatch.model_validate({**changes, "reason": reason or ""})


@dataclass(frozen=True)
class VersionRow:
    """One version in the history: who made it, when, why and what it changed."""

    schedule: RetentionSchedule
    changes: list[tuple[str, str, str]]  # field, before, after


def _text(schedule: RetentionSchedule, name: str, translate: Callable[[str], str] = str) -> str:
    """A field of a version in words: kinds, action and cutoff by their labels in the page's language."""
    value = getattr(schedule, name)
    labels: dict[Any, str] = {"kinds": KIND_LABELS, "action": LABELS["action_labels"],
                              "cutoff": LABELS["cutoff_labels"]}.get(name, {})
    if isinstance(value, list):
        return ", ".join(translate(labels[v]) if v in labels else str(getattr(v, "name", v)) for v in value) or "—"
    if value is None:
        return "—"
    return translate(labels[value]) if value in labels else str(value)


def history(versions: list[RetentionSchedule], translate: Callable[[str], str] = str) -> list[VersionRow]:
    """Every version, newest first, each with what it changed from the one before."""
    rows = []
    for before, after in zip([None, *versions], versions, strict=False):
        changes = [] if before is None else [
            (name, _text(before, name, translate), _text(after, name, translate))
            for name in (*EDITABLE, "review_stages") if _text(before, name) != _text(after, name)]
        rows.append(VersionRow(after, changes))
    return list(reversed(rows))


def _version(form: Any) -> int:
    raw = text(form, "version") or ""
    version = whole_number(raw, 999_999_999)
    if version is None:
        raise InvalidInput("the version the form was filled from must be a number", field="version")
    return version


def _attempt(error: Exception) -> FormError:
    if isinstance(error, ValidationError):
        return FormError.of_validation(error, FIELD_OF)
    assert isinstance(error, RecordsError)
    return FormError.of(error, {"version": "form"})


# --- pages ------------------------------------------------------------------------------------

class RetentionSchedulePages(Controller):
    path = BASE
    include_in_schema = False
    dependencies = {"retention": Provide(provide_retention_service, sync_to_thread=False)}

    @get("/", name="console-schedules", **admits(RETENTION_MANAGERS, audit="retention.schedule.list"))
    async def schedules(self, request: Request, retention: NamedDependency[RetentionService]) -> Template:
        schedules = sorted(await retention.schedules(), key=lambda s: s.name.casefold())
        return _page(request, "retention/schedules.html", schedules=schedules)

    @get("/new", name="console-schedule-form", **admits(RETENTION_MANAGERS, audit="console.schedule_form"))
    async def new_form(self, request: Request) -> Template:
        return self._create_form(request, {"kinds": [], "trigger": "archived", "action": "destroy"})

    def _create_form(self, request: Request, values: dict[str, Any], error: FormError | None = None) -> Template:
        return _page(request, "retention/schedules_new.html", status_code=error.status if error else 200,
                     values=values, error=error)

    @post("/", name="console-schedule-create", status_code=303,
          **admits(RETENTION_MANAGERS, audit="retention.schedule.create"))
    async def create(self, request: Request, retention: NamedDependency[RetentionService]) -> Response:
        values = form_values(await request.form())
        try:
            schedule = await retention.create_schedule(new_schedule(values), request.user)
        except (ValidationError, RecordsError) as exc:
            return self._create_form(request, values, _attempt(exc))
        return Redirect(f"{BASE}/{schedule.id}", status_code=303)

    @get("/{schedule_id:str}", name="console-schedule", **admits(RETENTION_MANAGERS, audit="retention.schedule.read"))
    async def schedule(self, request: Request, schedule_id: FromPath[str], retention: NamedDependency[RetentionService]) -> Template:
        return await self._schedule_page(request, retention, schedule_id)

    async def _schedule_page(self, request: Request, retention: RetentionService, schedule_id: str,
                             status_code: int = 200, **context: Any) -> Template:
        latest = await retention.schedule(schedule_id)
        versions = [await retention.schedule(schedule_id, v) for v in range(1, latest.version)] + [latest]
        reapplied = request.query_params.get("reapplied", "")
        context.setdefault("reapply", {"reason": "", "allow_shorter": False})
        return _page(request, "retention/schedules_detail.html", status_code=status_code, schedule=latest,
                     versions=history(versions, i18n.gettext_for(language_of(request))), reapplied=whole_number(reapplied, 100_000_000),
                     saved=request.query_params.get("saved") == "1", **{"preview": None, "error": None, **context})

    @get("/{schedule_id:str}/edit", name="console-schedule-edit",
         **admits(RETENTION_MANAGERS, audit="retention.schedule.read"))
    async def edit_form(self, request: Request, schedule_id: FromPath[str], retention: NamedDependency[RetentionService]) -> Template:
        schedule = await retention.schedule(schedule_id)
        return self._edit_form(request, schedule, values_of_schedule(schedule), schedule.version)

    def _edit_form(self, request: Request, schedule: RetentionSchedule, values: dict[str, Any], read_version: int,
                   error: FormError | None = None, preview: SchedulePreview | None = None) -> Template:
        return _page(request, "retention/schedules_edit.html", status_code=error.status if error else 200,
                     schedule=schedule, values=values, read_version=read_version, error=error, preview=preview)

    @post("/{schedule_id:str}/edit", name="console-schedule-amend", status_code=303,
          **admits(RETENTION_MANAGERS, audit="retention.schedule.amend"))
    async def amend(self, request: Request, schedule_id: FromPath[str], retention: NamedDependency[RetentionService]) -> Response:
        """``intent=preview`` is ``PATCH …?dry_run=true``: every check, nothing stored, and what
        re-applying the edit would do; ``intent=save`` stores the new version."""
        form = await request.form()
        values = form_values(form)
        latest = await retention.schedule(schedule_id)
        dry_run = form.get("intent") != "save"
        read_version = latest.version
        try:
            read_version = _version(form)
            read = await retention.schedule(schedule_id, read_version)
            result = await retention.amend_schedule(schedule_id, schedule_patch(read, values, text(form, "reason")),
                                                    request.user, dry_run=dry_run)
        except (ValidationError, RecordsError) as exc:  # a version read that is not one, too
            return self._edit_form(request, latest, values, min(read_version, latest.version), _attempt(exc))
        if isinstance(result, SchedulePreview):
            return self._edit_form(request, latest, values, read_version, preview=result)
        return Redirect(f"{BASE}/{schedule_id}?saved=1", status_code=303)

    @post("/{schedule_id:str}/reapply", name="console-schedule-reapply", status_code=303,
          **admits(RETENTION_MANAGERS, audit="retention.schedule.reapply"))
    async def reapply(self, request: Request, schedule_id: FromPath[str], retention: NamedDependency[RetentionService]) -> Response:
        """``intent=preview`` is the API's ``dry_run``; ``intent=apply`` rewrites the dates."""
        form = await request.form()
        entered = {"reason": text(form, "reason") or "", "allow_shorter": form.get("allow_shorter") == "on"}
        try:
            data = ReapplyIn.model_validate({**entered, "dry_run": form.get("intent") != "apply"})
            result = await retention.reapply_schedule(schedule_id, data, request.user)
        except (ValidationError, RecordsError) as exc:
            if isinstance(exc, RecordsError) and exc.status == 404:
                raise
            error = _attempt(exc)
            return await self._schedule_page(request, retention, schedule_id, status_code=error.status, error=error,
                                             reapply=entered)
        if result.dry_run:
            return await self._schedule_page(request, retention, schedule_id, preview=result, reapply=entered)
        return Redirect(f"{BASE}/{schedule_id}?reapplied={result.changed}", status_code=303)


SCHEDULE_PAGES = [RetentionSchedulePages]
