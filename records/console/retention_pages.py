"""The archivist's console pages: the disposition review queue, legal holds, retention schedules,
the forecast of what falls due, and destruction certificates.

Each page calls the same ``RetentionService`` method as the matching ``/api/v1/retention`` route,
admits the same roles and is audited as the same action; a page turns form fields into the API's
own input models, so a rule (the two-person rule, a legal minimum, a hold) lives in one place.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request
from litestar.params import FromPath
from litestar import get as get_route
from litestar.response import Template

from records.api.auth import admits
from records.api.retention import RETENTION_MANAGERS, RETENTION_READERS
from records.console.i18n import N_
from records.console.rendering import page
from records.errors import InvalidInput
from records.retention.models import BatchStatus, DispositionBatch, RecordRetention
from records.retention.service import RetentionService

ITEMS_PER_PAGE = 100
QUEUE_STATUSES = (BatchStatus.open, BatchStatus.executing, BatchStatus.done)

# What the pages call the service's states (msgids, translated in the templates).
LABELS = {
    "status_labels": {"forecast": N_("forecast"), "open": N_("open"), "executing": N_("executing"), "done": N_("done")},
    "decision_labels": {"pending": N_("pending"), "approve": N_("approved"), "reject": N_("rejected"),
                        "extend": N_("extended")},
}


def retention_page(request: Request, template: str, status_code: int = 200, **context: Any) -> Template:
    return page(request, template, status_code=status_code, **LABELS, **context)


def _retention(request: Request) -> RetentionService:
    return request.app.state.retention_service


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    if not raw.isdigit() or int(raw) > 10_000_000:
        raise InvalidInput("offset must be a whole number from 0", field="offset")
    return int(raw)


def approvals_needed(retention: RetentionService, batch: DispositionBatch) -> int:
    """How many different approvers an item of ``batch`` needs (the service's two-person rule)."""
    return retention._approvals_needed(batch)  # noqa: SLF001 - the rule stays in the service


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
        batches = await _retention(request).batches(status.value, 100)
        return retention_page(request, "retention/batches.html", batches=batches, status=status, statuses=QUEUE_STATUSES,
                    may_decide=request.user.role in RETENTION_MANAGERS)

    @get_route("/batches/{batch_id:str}", name="console-retention-batch",
               **admits(RETENTION_READERS, audit="retention.batch.read"))
    async def batch(self, request: Request, batch_id: FromPath[str]) -> Template:
        return await self._batch_page(request, batch_id)

    async def _batch_page(self, request: Request, batch_id: str, status_code: int = 200, **context: Any) -> Template:
        retention = _retention(request)
        batch = await retention.batch(batch_id)
        offset = _offset(request)
        shown = batch.items[offset:offset + ITEMS_PER_PAGE]
        # Basis and holds of each item shown, as GET /records/{id}/retention gives them.
        retention_of: dict[str, RecordRetention] = {i.record_id: await retention.record_retention(i.record_id) for i in shown}
        return retention_page(request, "retention/batch.html", status_code=status_code, batch=batch, items=shown,
                    retention_of=retention_of, offset=offset, per_page=ITEMS_PER_PAGE,
                    progress=batch.progress or batch.summary(), needed=approvals_needed(retention, batch),
                    may_decide=request.user.role in RETENTION_MANAGERS, **context)


class RecordRetentionPageController(Controller):
    """``/console/retention/records/{id}``: one file's schedule, basis, retain-until and holds."""

    path = "/console/retention/records"
    include_in_schema = False

    @get_route("/{record_id:str}", name="console-record-retention",
               **admits(RETENTION_READERS, audit="retention.record.read"))
    async def record_retention(self, request: Request, record_id: FromPath[str]) -> Template:
        retention = _retention(request)
        return retention_page(request, "retention/record.html", retention=await retention.record_retention(record_id))


RETENTION_PAGES = [DispositionQueueController, RecordRetentionPageController]
