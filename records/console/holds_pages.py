"""The archivist's legal holds in the console: the holds and what each covers, placing one on
named files or on a saved query (customer account or phone, kind, received range), and
releasing one with a reason.

Each page calls the ``RetentionService`` method of the matching ``/api/v1/retention/holds``
route, admits its roles and is audited as its action; a form becomes the API's own ``HoldIn`` or
``HoldRelease``, so what a hold needs is decided there. A saved query by phone or account is a
lookup by personal identifier: the form's purpose is the request's purpose, as ``X-Purpose`` is
to the API.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from pydantic import ValidationError

from records.api.auth import admits
from records.api.dependencies import provide_retention_service, provide_settings
from records.api.retention import RETENTION_MANAGERS, RETENTION_READERS
from records.console.forms import FormError, local_moment, text, values_of
from records.console.i18n import N_
from records.console.records_pages import KIND_LABELS, _state_purpose
from records.console.rendering import page
from records.errors import InvalidInput, RecordsError
from records.models import Kind, whole_number
from records.retention.models import HoldIn, HoldRelease
from records.retention.service import RetentionService
from records.settings import RecordsSettings

BASE = "/console/retention/holds"
COVERAGE_PAGE = 50
MAX_OFFSET = 10_000_000
FORM_FIELDS = ("case_reference", "reason", "record_ids", "customer_account", "customer_phone", "kind",
               "received_from", "received_to", "purpose")
# Where the model or the service says a problem is → the form field that shows it.
FIELD_OF = {"query.customer_account": "customer_account", "query.customer_phone": "customer_phone",
            "query.kind": "kind", "query.received_from": "received_from", "query.received_to": "received_to",
            "X-Purpose": "purpose", "": "scope", "query": "query"}
STATE_LABELS = {"held": N_("held by it"), "released": N_("no longer held: released"), "destroyed": N_("destroyed after the release"),
                "disposed_before_hold": N_("destroyed (or its destruction decided) before the hold")}
RECORD_IDS = re.compile(r"[\s,;]+")


def hold_from_form(form: Any, zone: str) -> HoldIn:
    """The form as ``POST /api/v1/retention/holds`` would take it; empty fields are left out."""
    body: dict[str, Any] = {k: v for k in ("reason", "case_reference") if (v := text(form, k)) is not None}
    # Up to HoldIn's 10,000 ids: longer than any one text field, so bound by the body and the model.
    if ids := [i for i in RECORD_IDS.split(text(form, "record_ids", limit=None) or "") if i]:
        body["record_ids"] = ids
    query: dict[str, Any] = {k: v for k in ("customer_account", "customer_phone", "kind") if (v := text(form, k)) is not None}
    for name in ("received_from", "received_to"):
        if (moment := local_moment(text(form, name), name, zone)) is not None:
            query[name] = moment
    if query:
        body["query"] = query
    return HoldIn.model_validate(body)


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    offset = whole_number(raw, MAX_OFFSET)
    if offset is None:
        raise InvalidInput("offset must be a whole number from 0", field="offset")
    return offset


class LegalHoldPages(Controller):
    path = BASE
    include_in_schema = False
    dependencies = {"retention": Provide(provide_retention_service, sync_to_thread=False),
                    "settings": Provide(provide_settings, sync_to_thread=False)}

    @get("/", name="console-holds", **admits(RETENTION_READERS, audit="retention.hold.list"))
    async def holds(self, request: Request, retention: NamedDependency[RetentionService]) -> Template:
        active = request.query_params.get("active") == "1"
        holds = await retention.holds(active_only=active)
        return page(request, "retention/holds.html", holds=holds, active_only=active, kind_labels=KIND_LABELS,
                    may_place=request.user.role in RETENTION_MANAGERS)

    @get("/new", name="console-hold-form", **admits(RETENTION_MANAGERS, audit="console.hold_form"))
    async def new_hold(self, request: Request) -> Template:
        return self._form(request, {})

    def _form(self, request: Request, values: dict[str, str], error: FormError | None = None) -> Template:
        return page(request, "retention/holds_new.html", status_code=error.status if error else 200, values=values,
                    error=error, kinds=list(Kind), kind_labels=KIND_LABELS)

    @post("/", name="console-hold-place", status_code=303, **admits(RETENTION_MANAGERS, audit="retention.hold.place"))
    async def place(self, request: Request, retention: NamedDependency[RetentionService],
                    settings: NamedDependency[RecordsSettings]) -> Response:
        form = await request.form()
        try:
            _state_purpose(request, form)
            hold = await retention.place_hold(hold_from_form(form, settings.console_time_zone), request.user)
        except ValidationError as exc:  # shown beside its field, with what was typed kept
            return self._form(request, values_of(form, *FORM_FIELDS), FormError.of_validation(exc, FIELD_OF))
        except RecordsError as exc:
            return self._form(request, values_of(form, *FORM_FIELDS), FormError.of(exc, FIELD_OF))
        return Redirect(f"{BASE}/{hold.id}", status_code=303)

    @get("/{hold_id:str}", name="console-hold", **admits(RETENTION_READERS, audit="retention.hold.records"))
    async def hold(self, request: Request, hold_id: FromPath[str], retention: NamedDependency[RetentionService]) -> Template:
        return await self._hold_page(request, retention, hold_id, _offset(request))

    async def _hold_page(self, request: Request, retention: RetentionService, hold_id: str, offset: int = 0,
                         error: FormError | None = None, reason: str = "") -> Template:
        hold = await retention.hold(hold_id)
        coverage = await retention.hold_coverage(hold_id, offset, COVERAGE_PAGE)
        return page(request, "retention/holds_detail.html", status_code=error.status if error else 200, hold=hold,
                    coverage=coverage, kind_labels=KIND_LABELS, state_labels=STATE_LABELS, error=error, reason=reason,
                    may_release=hold.active and request.user.role in RETENTION_MANAGERS)

    @post("/{hold_id:str}/release", name="console-hold-release", status_code=303,
          **admits(RETENTION_MANAGERS, audit="retention.hold.release"))
    async def release(self, request: Request, hold_id: FromPath[str],
                      retention: NamedDependency[RetentionService]) -> Response:
        form = await request.form()
        try:
            release = HoldRelease.model_validate({"reason": text(form, "reason") or ""})
            await retention.release_hold(hold_id, release, request.user)
        except ValidationError as exc:
            return await self._hold_page(request, retention, hold_id, error=FormError.of_validation(exc))
        except RecordsError as exc:
            if exc.status == 404:
                raise  # no such hold: the error page says so
            return await self._hold_page(request, retention, hold_id, error=FormError.of(exc),
                                         reason=text(form, "reason") or "")
        return Redirect(f"{BASE}/{hold_id}", status_code=303)


HOLD_PAGES = [LegalHoldPages]
