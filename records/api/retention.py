"""``/api/v1/retention``: schedules, retention events, legal holds, sweeps, disposition batches
and destruction certificates; and ``/api/v1/records/{id}/retention``. Thin: the rules live in
``records.retention.service``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from records.api.auth import admits
from records.api.dependencies import provide_retention_service
from records.api.problems import problem_responses
from records.audit import trail as audit_trail
from records.errors import InvalidInput
from records.retention.certificates import attachment_name, render_html, render_pdf
from records.retention.floors import FloorIn, FloorList, FloorRemoval, RetentionFloor
from records.retention.models import (
    BatchList,
    BatchStatus,
    DecisionsIn,
    DestructionCertificate,
    DispositionBatch,
    HoldCoverage,
    HoldIn,
    HoldList,
    HoldRelease,
    ItemFilter,
    LegalHold,
    ReapplyIn,
    RecordRetention,
    RetentionEventIn,
    RetentionEventResult,
    RetentionSchedule,
    ScheduleIn,
    ScheduleList,
    SchedulePatch,
    SchedulePreview,
    SweepIn,
    SweepResult,
)
from records.retention.review import ReviewDecisionIn, ReviewList
from records.retention.service import RetentionService, system_trail
from records.roles import Principal, Role

RETENTION_MANAGERS = frozenset({Role.archivist, Role.admin})
RETENTION_READERS = frozenset({Role.archivist, Role.admin, Role.compliance_officer})


async def execute_batch(retention: RetentionService, batch_id: str, actor: Principal) -> DispositionBatch:
    """Mark a decided batch executing and run it in the background under the request's audit
    trail (``POST /batches/{id}/execute`` and the console's execute button)."""
    batch = await retention.start_execution(batch_id, actor)
    trail = audit_trail.current()
    retention.run_in_background(batch_id, system_trail("retention.batch.execute", actor, like=trail))
    return batch


def certificate_response(certificate: DestructionCertificate, format: str, download: bool = False) -> Response[Any]:
    """A certificate as ``GET /certificates/{id}`` serves it: the signed JSON, HTML or a PDF
    (always a download); ``download`` names the JSON as a file too."""
    if format == "html":
        return Response(render_html(certificate), media_type="text/html; charset=utf-8")
    if format == "pdf":
        return Response(render_pdf(certificate), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="certificate-{certificate.id}.pdf"'})
    if format != "json":
        raise InvalidInput("format must be json, html or pdf", field="format")
    headers = {"Content-Disposition": f'attachment; filename="{attachment_name(certificate)}"'} if download else None
    return Response(certificate.model_dump(mode="json"), media_type="application/json", headers=headers)


class RetentionController(Controller):
    path = "/api/v1/retention"
    tags = ["retention"]
    dependencies = {"retention": Provide(provide_retention_service, sync_to_thread=False)}

    # --- schedules ----------------------------------------------------------------------------

    @post("/schedules", operation_id="createRetentionSchedule", summary="Create a retention schedule",
          description="`period` is an ISO 8601 duration (`P3Y`, `P18M`, `P0D`); `trigger` is `archived`, `closed` or "
                      "`event:<name>`; `cutoff` rounds the trigger up to the end of its month, year or fiscal year.",
          responses=problem_responses(401, 403, 409, 413, 422), **admits(RETENTION_MANAGERS, audit="retention.schedule.create"))
    async def create_schedule(self, request: Request, data: JSONBody[ScheduleIn],
                              retention: NamedDependency[RetentionService]) -> Response[RetentionSchedule]:
        schedule = await retention.create_schedule(data, request.user)
        return Response(schedule, status_code=201, headers={"Location": f"{self.path}/schedules/{schedule.id}"})

    @get("/schedules", operation_id="listRetentionSchedules", summary="Retention schedules (latest versions)",
         responses=problem_responses(401, 403), **admits(RETENTION_MANAGERS, audit="retention.schedule.list"))
    async def list_schedules(self, retention: NamedDependency[RetentionService]) -> ScheduleList:
        return ScheduleList(items=await retention.schedules())

    @get("/schedules/{schedule_id:str}", operation_id="getRetentionSchedule", summary="One retention schedule",
         description="The latest version, or `version`.",
         responses=problem_responses(401, 403, 404, 422), **admits(RETENTION_MANAGERS, audit="retention.schedule.read"))
    async def get_schedule(self, schedule_id: FromPath[str], retention: NamedDependency[RetentionService],
                           version: Annotated[int | None, QueryParameter(ge=1, le=1_000_000)] = None) -> RetentionSchedule:
        return await retention.schedule(schedule_id, version)

    @patch("/schedules/{schedule_id:str}", operation_id="amendRetentionSchedule",
           summary="Amend a retention schedule (a new version)",
           description="Records already under the schedule keep their retain-until dates: re-apply to move them. "
                       "`dry_run=true` stores nothing and previews what re-applying the edit would do: how many files "
                       "would fall due earlier or later, and the first few of each.",
           responses=problem_responses(401, 403, 404, 409, 413, 422),
           **admits(RETENTION_MANAGERS, audit="retention.schedule.amend"))
    async def amend_schedule(self, request: Request, schedule_id: FromPath[str], data: JSONBody[SchedulePatch],
                             retention: NamedDependency[RetentionService],
                             dry_run: FromQuery[bool] = False) -> RetentionSchedule | SchedulePreview:
        return await retention.amend_schedule(schedule_id, data, request.user, dry_run=dry_run)

    @post("/schedules/{schedule_id:str}/reapply", operation_id="reapplyRetentionSchedule", status_code=200,
          summary="Re-apply the latest version to records under earlier ones",
          description="Never shortens a record's retention unless `allow_shorter` is true. With `dry_run` nothing "
                      "changes: the counts and first files say what would.",
          responses=problem_responses(401, 403, 404, 413, 422),
          **admits(RETENTION_MANAGERS, audit="retention.schedule.reapply"))
    async def reapply_schedule(self, request: Request, schedule_id: FromPath[str], data: JSONBody[ReapplyIn],
                               retention: NamedDependency[RetentionService]) -> SchedulePreview:
        return await retention.reapply_schedule(schedule_id, data, request.user)

    # --- floors (legal minimums) --------------------------------------------------------------

    @get("/floors", operation_id="listRetentionFloors", summary="Legal minimum retention periods",
         description="Every floor, with where it comes from (`origin`, `citation`); removed ones too unless `active`.",
         responses=problem_responses(401, 403, 422), **admits(RETENTION_READERS, audit="retention.floor.list"))
    async def list_floors(self, retention: NamedDependency[RetentionService], active: FromQuery[bool] = False) -> FloorList:
        return FloorList(items=await retention.floors(active_only=active))

    @get("/floors/{floor_id:str}", operation_id="getRetentionFloor", summary="One legal minimum",
         responses=problem_responses(401, 403, 404), **admits(RETENTION_READERS, audit="retention.floor.read"))
    async def get_floor(self, floor_id: FromPath[str], retention: NamedDependency[RetentionService]) -> RetentionFloor:
        return await retention.floor(floor_id)

    @post("/floors", operation_id="declareRetentionFloor", summary="Declare a legal minimum for kinds or codes",
          description="Binds every file it covers, whichever schedule governs it: schedules below it are refused "
                      "(422 `retention_below_minimum`) and no file is due before `archived_at + minimum_period`.",
          responses=problem_responses(401, 403, 413, 422), **admits(RETENTION_MANAGERS, audit="retention.floor.declare"))
    async def declare_floor(self, request: Request, data: JSONBody[FloorIn],
                            retention: NamedDependency[RetentionService]) -> Response[RetentionFloor]:
        floor = await retention.declare_floor(data, request.user)
        return Response(floor, status_code=201, headers={"Location": f"{self.path}/floors/{floor.id}"})

    @post("/floors/{floor_id:str}/remove", operation_id="removeRetentionFloor", status_code=200,
          summary="Remove a legal minimum (admins only, with a reason)",
          responses=problem_responses(401, 403, 404, 409, 413, 422),
          **admits(Role.admin, audit="retention.floor.remove"))
    async def remove_floor(self, request: Request, floor_id: FromPath[str], data: JSONBody[FloorRemoval],
                           retention: NamedDependency[RetentionService]) -> RetentionFloor:
        return await retention.remove_floor(floor_id, data, request.user)

    # --- events and holds ---------------------------------------------------------------------

    @post("/events", operation_id="fireRetentionEvent", status_code=200, summary="Fire a retention event",
          description="Records the event (e.g. `account_closed`) for the records named or the customer's account; "
                      "archived records whose schedule waits for it start their clocks.",
          responses=problem_responses(401, 403, 404, 413, 422), **admits(RETENTION_MANAGERS, audit="retention.event.fire"))
    async def fire_event(self, request: Request, data: JSONBody[RetentionEventIn],
                         retention: NamedDependency[RetentionService]) -> RetentionEventResult:
        return await retention.fire_event(data, request.user)

    @post("/holds", operation_id="placeLegalHold", summary="Place a legal hold",
          description="On `record_ids` and/or a saved `query` (customer account or phone, kind, received range), "
                      "which also covers records filed later. A hold wins over every disposition.",
          responses=problem_responses(401, 403, 404, 413, 422), **admits(RETENTION_MANAGERS, audit="retention.hold.place"))
    async def place_hold(self, request: Request, data: JSONBody[HoldIn],
                         retention: NamedDependency[RetentionService]) -> Response[LegalHold]:
        hold = await retention.place_hold(data, request.user)
        return Response(hold, status_code=201, headers={"Location": f"{self.path}/holds/{hold.id}"})

    @get("/holds", operation_id="listLegalHolds", summary="Legal holds, newest first",
         responses=problem_responses(401, 403, 422), **admits(RETENTION_READERS, audit="retention.hold.list"))
    async def list_holds(self, retention: NamedDependency[RetentionService], active: FromQuery[bool] = False) -> HoldList:
        return HoldList(items=await retention.holds(active_only=active))

    @get("/holds/{hold_id:str}", operation_id="getLegalHold", summary="One legal hold",
         responses=problem_responses(401, 403, 404), **admits(RETENTION_READERS, audit="retention.hold.read"))
    async def get_hold(self, hold_id: FromPath[str], retention: NamedDependency[RetentionService]) -> LegalHold:
        return await retention.hold(hold_id)

    @get("/holds/{hold_id:str}/records", operation_id="listHeldRecords",
         summary="The files a hold covers now (or covered, once released), paged",
         description="Named files first, then those its saved query matches; `total` counts every page.",
         responses=problem_responses(401, 403, 404, 422), **admits(RETENTION_READERS, audit="retention.hold.records"))
    async def held_records(self, hold_id: FromPath[str], retention: NamedDependency[RetentionService],
                           offset: Annotated[int, QueryParameter(ge=0, le=10_000_000)] = 0,
                           limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50) -> HoldCoverage:
        return await retention.hold_coverage(hold_id, offset, limit)

    @post("/holds/{hold_id:str}/release", operation_id="releaseLegalHold", status_code=200, summary="Release a legal hold",
          responses=problem_responses(401, 403, 404, 409, 413, 422),
          **admits(RETENTION_MANAGERS, audit="retention.hold.release"))
    async def release_hold(self, request: Request, hold_id: FromPath[str], data: JSONBody[HoldRelease],
                           retention: NamedDependency[RetentionService]) -> LegalHold:
        return await retention.release_hold(hold_id, data, request.user)

    # --- sweeps and batches -------------------------------------------------------------------

    @post("/sweeps", operation_id="runDispositionSweep", status_code=200, summary="Sweep due records into batches",
          description="Gathers due, unheld records into disposition batches. An `as_of` in the future only forecasts.",
          responses=problem_responses(401, 403, 409, 413, 422), **admits(RETENTION_MANAGERS, audit="retention.sweep"))
    async def sweep(self, request: Request, retention: NamedDependency[RetentionService],
                    data: JSONBody[SweepIn | None] = None) -> SweepResult:
        data = data or SweepIn()
        return await retention.sweep(request.user, as_of=data.as_of, forecast_limit=data.limit)

    @get("/batches", operation_id="listDispositionBatches", summary="Disposition batches, newest first (without items)",
         responses=problem_responses(401, 403, 422), **admits(RETENTION_READERS, audit="retention.batch.list"))
    async def list_batches(self, retention: NamedDependency[RetentionService], status: FromQuery[BatchStatus | None] = None,
                           limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100) -> BatchList:
        return BatchList(items=await retention.batches(status.value if status else None, limit))

    @get("/batches/{batch_id:str}", operation_id="getDispositionBatch", summary="A disposition batch: items, progress",
         description="Every item, in the batch's order; with `limit`, only `limit` items from `offset` (a batch holds "
                     "up to `retention_batch_max_items`), `progress` still counting the whole batch.",
         responses=problem_responses(401, 403, 404, 422), **admits(RETENTION_READERS, audit="retention.batch.read"))
    async def get_batch(self, batch_id: FromPath[str], retention: NamedDependency[RetentionService],
                        offset: Annotated[int, QueryParameter(ge=0, le=10_000_000)] = 0,
                        limit: Annotated[int | None, QueryParameter(ge=1, le=1000)] = None) -> DispositionBatch:
        if limit is None:
            if offset:
                raise InvalidInput("offset applies with limit", field="offset")
            return await retention.batch(batch_id)
        batch = await retention.batch_progress(batch_id)  # its fields and whole progress, from the store
        batch.items = (await retention.batch_items(batch_id, ItemFilter(), offset, limit)).items
        return batch

    @post("/batches/{batch_id:str}/decisions", operation_id="decideDispositionItems", status_code=200,
          summary="Approve, reject or extend items",
          description="With the two-person rule on, approval needs two different approvers. Rejected and extended items "
                      "leave the batch and stay.",
          responses=problem_responses(401, 403, 404, 409, 413, 422),
          **admits(RETENTION_MANAGERS, audit="retention.batch.decide"))
    async def decide(self, request: Request, batch_id: FromPath[str], data: JSONBody[DecisionsIn],
                     retention: NamedDependency[RetentionService]) -> DispositionBatch:
        return await retention.decide(batch_id, data, request.user)

    @post("/batches/{batch_id:str}/execute", operation_id="executeDispositionBatch", status_code=202,
          summary="Execute a decided batch",
          description="Runs in the background: follow `status` and `progress` at `GET /batches/{id}`; when `done`, "
                      "`certificate_id` names the destruction certificate. An executing batch resumes after a crash.",
          responses=problem_responses(401, 403, 404, 409), **admits(RETENTION_MANAGERS, audit="retention.batch.execute"))
    async def execute(self, request: Request, batch_id: FromPath[str],
                      retention: NamedDependency[RetentionService]) -> Response[DispositionBatch]:
        batch = await execute_batch(retention, batch_id, request.user)
        return Response(batch, status_code=202, headers={"Location": f"{self.path}/batches/{batch_id}"})

    @get("/certificates/{certificate_id:str}", operation_id="getDestructionCertificate",
         summary="A destruction certificate: JSON (signed), HTML or PDF",
         description="`format=json` (default; verify offline with `records retention verify-certificate`), `html` or `pdf`.",
         responses=problem_responses(401, 403, 404, 422), **admits(RETENTION_READERS, audit="retention.certificate.read"))
    async def get_certificate(self, certificate_id: FromPath[str], retention: NamedDependency[RetentionService],
                              format: Annotated[str, QueryParameter(pattern="^(json|html|pdf)$")] = "json",
                              ) -> Response[Any]:
        return certificate_response(await retention.certificate(certificate_id), format)


REVIEWERS = frozenset({Role.archivist, Role.admin, Role.compliance_officer, Role.supervisor})


class ReviewController(Controller):
    """``/api/v1/reviews``: what waits for the caller's review stage, and deciding many items at once.
    Who reviews what is the schedules' review stages (records.retention.review), checked by the service."""

    path = "/api/v1/reviews"
    tags = ["retention"]
    dependencies = {"retention": Provide(provide_retention_service, sync_to_thread=False)}

    @get("/", operation_id="listReviews", summary="Disposition items waiting for a stage the caller reviews",
         responses=problem_responses(401, 403), **admits(REVIEWERS, audit="retention.review.list"))
    async def list_reviews(self, request: Request, retention: NamedDependency[RetentionService]) -> ReviewList:
        return await retention.reviews(request.user)

    @post("/decisions", operation_id="decideReviews", status_code=200,
          summary="Approve, reject or extend many items with one reason",
          description="An item moves to its next stage once its stage has its approvals; approval at the last stage "
                      "decides it. A batch whose items were all rejected or extended closes itself. Every batch's "
                      "decisions are checked before any is stored: a refusal decides nothing.",
          responses=problem_responses(401, 403, 404, 409, 413, 422), **admits(REVIEWERS, audit="retention.review.decide"))
    async def decide_reviews(self, request: Request, data: JSONBody[ReviewDecisionIn],
                             retention: NamedDependency[RetentionService]) -> BatchList:
        return await retention.review(request.user, data)


class RecordRetentionController(Controller):
    path = "/api/v1/records"
    tags = ["retention"]
    dependencies = {"retention": Provide(provide_retention_service, sync_to_thread=False)}

    @get("/{record_id:str}/retention", operation_id="getRecordRetention",
         summary="A record's schedule, retain-until date and why, and its holds",
         responses=problem_responses(401, 403, 404), **admits(RETENTION_READERS, audit="retention.record.read"))
    async def record_retention(self, record_id: FromPath[str], retention: NamedDependency[RetentionService]) -> RecordRetention:
        return await retention.record_retention(record_id)
