"""The archivist's console pages: the disposition review queue, legal holds, retention schedules,
the forecast of what falls due, and destruction certificates.

Each page calls the same ``RetentionService`` method as the matching ``/api/v1/retention`` route,
admits the same roles and is audited as the same action; a page turns form fields into the API's
own input models, so a rule (the two-person rule, a legal minimum, a hold) lives in one place.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response
from litestar import get as get_route
from litestar import post as post_route
from litestar.params import FromPath
from litestar.response import Redirect, Template

from records.api.auth import admits
from records.api.retention import RETENTION_MANAGERS, RETENTION_READERS, execute_batch
from records.console.i18n import N_
from records.console.records_pages import KIND_LABELS
from records.console.rendering import page
from records.console.review_forms import ReviewForm, decisions_of, read_form
from records.errors import InvalidInput, RecordsError
from records.models import Kind, whole_number
from records.retention.models import BatchStatus, Decision, ItemFilter, RecordRetention
from records.retention.service import RetentionService

ITEMS_PER_PAGE = 100
QUEUE_STATUSES = (BatchStatus.open, BatchStatus.executing, BatchStatus.done)

# What the pages call the service's states (msgids, translated in the templates).
LABELS = {
    "status_labels": {"forecast": N_("forecast"), "open": N_("open"), "executing": N_("executing"), "done": N_("done")},
    "decision_labels": {"pending": N_("pending"), "approve": N_("approved"), "reject": N_("rejected"),
                        "extend": N_("extended")},
    # What a certificate says was done to a file, and the one-stage review the service names.
    "disposal_labels": {"destroy": N_("destroyed"), "transfer": N_("transferred, then destroyed")},
    "stage_labels": {"retention managers": N_("retention managers")},
    "kind_labels": KIND_LABELS,
}


def retention_page(request: Request, template: str, status_code: int = 200, **context: Any) -> Template:
    return page(request, template, status_code=status_code, **LABELS, **context)


def retention_service(request: Request) -> RetentionService:
    return request.app.state.retention_service


def item_offset(request: Request) -> int:
    offset = whole_number(request.query_params.get("offset", "0"), 10_000_000)
    if offset is None:
        raise InvalidInput("offset must be a whole number from 0", field="offset")
    return offset


def item_filters(request: Request) -> dict[str, str]:
    """The batch page's item filters: ``decision`` (as the API names it), ``kind`` and the start
    of a ``reference``; an unknown value is refused, as the API refuses one."""
    params = request.query_params
    chosen = {name: value.strip() for name in ("decision", "kind", "reference") if (value := params.get(name, "").strip())}
    if "decision" in chosen and chosen["decision"] not in {d.value for d in Decision}:
        raise InvalidInput("decision must be pending, approve, reject or extend", field="decision")
    if "kind" in chosen and chosen["kind"] not in {k.value for k in Kind}:
        raise InvalidInput("unknown kind of file", field="kind")
    if len(chosen.get("reference", "")) > 64:
        raise InvalidInput("a reference is at most 64 characters", field="reference")
    return chosen


def _item_filter(chosen: dict[str, str]) -> ItemFilter:
    return ItemFilter(decision=Decision(chosen["decision"]) if "decision" in chosen else None,
                      kind=Kind(chosen["kind"]) if "kind" in chosen else None, reference=chosen.get("reference"))


def _count(request: Request, name: str) -> int | None:
    return whole_number(request.query_params.get(name, ""), 1_000_000)


class DispositionQueueController(Controller):
    """``/console/retention/batches``: open batches, their items and decisions, execution."""

    path = "/console/retention"
    include_in_schema = False

    @get_route("/batches", name="console-retention-batches", **admits(RETENTION_READERS, audit="retention.batch.list"))
    async def batches(self, request: Request) -> Template:
        raw = request.query_params.get("status", BatchStatus.open.value)
        if raw not in {s.value for s in QUEUE_STATUSES}:
            raise InvalidInput("status must be open, executing or done", field="status")
        status = BatchStatus(raw)
        batches = await retention_service(request).batches(status.value, 100)
        swept = {name: _count(request, name) for name in ("due", "held", "gathered")}
        return retention_page(request, "retention/batches.html", batches=batches, status=status, statuses=QUEUE_STATUSES,
                    may_decide=request.user.role in RETENTION_MANAGERS,
                    swept=swept if None not in swept.values() else None)

    @post_route("/sweeps", name="console-retention-sweep", status_code=303,
                **admits(RETENTION_MANAGERS, audit="retention.sweep"))
    async def sweep(self, request: Request) -> Redirect:
        """Sweep now, as ``POST /api/v1/retention/sweeps`` without a body does (the service also
        sweeps every ``RECORDS_RETENTION_SWEEP_SECONDS``); the queue then says what it gathered."""
        result = await retention_service(request).sweep(request.user)
        return Redirect(f"/console/retention/batches?due={result.due}&held={result.held}&gathered={len(result.batches)}",
                        status_code=303)

    @get_route("/batches/{batch_id:str}", name="console-retention-batch",
               **admits(RETENTION_READERS, audit="retention.batch.read"))
    async def batch(self, request: Request, batch_id: FromPath[str]) -> Template:
        return await self._batch_page(request, batch_id)

    async def _batch_page(self, request: Request, batch_id: str, status_code: int = 200, **context: Any) -> Template:
        retention = retention_service(request)
        # The batch's own fields and progress, one page of its items, and their counts: each from
        # the store, so the page costs the same for a batch of 10 items or of 10,000.
        batch = await retention.batch_progress(batch_id)
        offset = item_offset(request)
        chosen = item_filters(request) if request.method == "GET" else {}
        listed = await retention.batch_items(batch_id, _item_filter(chosen), offset, ITEMS_PER_PAGE)
        shown = listed.items
        # Basis and holds of each item shown, as GET /records/{id}/retention gives them.
        retention_of: dict[str, RecordRetention] = await retention.record_retentions([i.record_id for i in shown])
        may_decide = request.user.role in RETENTION_MANAGERS and batch.status is BatchStatus.open
        tally = await retention.decision_tally(batch)
        state = {"pending": tally.pending, "short": tally.short, "approved": tally.approved, "kept": tally.kept}
        context = {"form": ReviewForm(), "error": None, "error_field": None, "error_code": None, "execute_error": None,
                   **context}
        return retention_page(request, "retention/batch.html", status_code=status_code, batch=batch, items=shown,
                              listed=listed.matched, total=tally.total, filters=chosen, kinds=list(Kind),
                              filter_query="".join(f"&{k}={quote(v)}" for k, v in chosen.items()),
                              retention_of=retention_of, offset=offset, per_page=ITEMS_PER_PAGE,
                              progress=batch.progress, needed=retention.approvals_needed(batch),
                              may_decide=may_decide, decision_state=state,
                              waiting=await retention.waiting_count(batch, request.user) if may_decide else 0,
                              ready=may_decide and bool(tally.total) and not tally.pending and not tally.short,
                              decided=_count(request, "decided"), polled=False, **context)

    @post_route("/batches/{batch_id:str}/decisions", name="console-retention-decide", status_code=303,
                **admits(RETENTION_MANAGERS, audit="retention.batch.decide"))
    async def decide(self, request: Request, batch_id: FromPath[str]) -> Response:
        """Approve, reject or extend the items ticked (or every item waiting for the viewer) with
        one reason, as ``POST /api/v1/retention/batches/{id}/decisions``: all or none."""
        retention = retention_service(request)
        form = read_form(await request.form())
        try:
            batch = await retention.batch(batch_id)
            data = decisions_of(form, batch, retention, request.user, request.app.state.settings.console_time_zone)
            await retention.decide(batch_id, data, request.user)
        except RecordsError as exc:
            if exc.status == 404 and exc.extra.get("field") is None:
                raise  # no such batch: the error page, not a form
            return await self._batch_page(request, batch_id, status_code=exc.status, form=form, error=exc.detail,
                                          error_code=exc.code, error_field=exc.extra.get("field") or "decision")
        return Redirect(f"/console/retention/batches/{batch_id}?decided={len(data.decisions)}", status_code=303)

    @post_route("/batches/{batch_id:str}/execute", name="console-retention-execute", status_code=303,
                **admits(RETENTION_MANAGERS, audit="retention.batch.execute"))
    async def execute(self, request: Request, batch_id: FromPath[str]) -> Response:
        """Start the batch as ``POST /api/v1/retention/batches/{id}/execute`` does; the page then
        follows its progress."""
        form = await request.form()
        try:
            if form.get("confirm") != "yes":  # destruction cannot be undone: the person says so first
                raise InvalidInput("tick the confirmation that the approved files are to be disposed of now",
                                   field="confirm")
            await execute_batch(retention_service(request), batch_id, request.user)
        except RecordsError as exc:
            if exc.status == 404:
                raise
            return await self._batch_page(request, batch_id, status_code=exc.status, execute_error=exc.detail,
                                          error_code=exc.code)
        return Redirect(f"/console/retention/batches/{batch_id}#batch-progress", status_code=303)

    @get_route("/batches/{batch_id:str}/progress", name="console-retention-progress",
               **admits(RETENTION_READERS, audit="retention.batch.read"))
    async def progress(self, request: Request, batch_id: FromPath[str]) -> Template:
        """The state of a batch, as a fragment the page polls while it executes (a read of the
        batch, audited as ``GET /batches/{id}`` is). Once done it stops asking and links to the
        certificate."""
        batch = await retention_service(request).batch_progress(batch_id)
        return retention_page(request, "retention/_batch_progress.html", batch=batch, progress=batch.progress,
                              polled=request.headers.get("hx-request") == "true")


class RecordRetentionPageController(Controller):
    """``/console/retention/records/{id}``: one file's schedule, basis, retain-until and holds."""

    path = "/console/retention/records"
    include_in_schema = False

    @get_route("/{record_id:str}", name="console-record-retention",
               **admits(RETENTION_READERS, audit="retention.record.read"))
    async def record_retention(self, request: Request, record_id: FromPath[str]) -> Template:
        retention = retention_service(request)
        return retention_page(request, "retention/record.html", retention=await retention.record_retention(record_id))


RETENTION_PAGES = [DispositionQueueController, RecordRetentionPageController]
