"""``/console/retention/reviews``: what waits for the viewer's review stage, across batches, and
one decision with one reason for many of those items.

The multi-stage review of ``/api/v1/reviews``: the same ``RetentionService.reviews`` and
``review`` calls, the same roles (archivists, admins, compliance officers and supervisors, as
the schedules' stages name them) and audit actions; the form becomes ``ReviewDecisionIn``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from records.api.auth import admits
from records.api.retention import RETENTION_READERS, REVIEWERS
from records.console.retention_pages import retention_page, retention_service, whole_number
from records.console.review_forms import ReviewForm, read_form, review_decision_of
from records.errors import RecordsError

BASE = "/console/retention/reviews"
SHOWN = 100  # the earliest due; the page says when more are waiting (decided ones make room)


class ReviewPagesController(Controller):
    path = BASE
    include_in_schema = False

    @get("/", name="console-retention-reviews", **admits(REVIEWERS, audit="retention.review.list"))
    async def reviews(self, request: Request) -> Template:
        return await self._page(request)

    async def _page(self, request: Request, status_code: int = 200, **context: Any) -> Template:
        found = await retention_service(request).reviews(request.user, limit=SHOWN)
        return retention_page(request, "retention/reviews.html", status_code=status_code, reviews=found,
                              with_tabs=request.user.role in RETENTION_READERS,
                              decided=whole_number(request.query_params.get("decided", ""), 1_000_000),
                              **{"form": ReviewForm(), "error": None, "error_field": None, **context})

    @post("/decisions", name="console-retention-review-decide", status_code=303,
          **admits(REVIEWERS, audit="retention.review.decide"))
    async def decide(self, request: Request) -> Response:
        form = read_form(await request.form(), name="item")
        try:
            data = review_decision_of(form, request.app.state.settings.console_time_zone)
            await retention_service(request).review(request.user, data)
        except RecordsError as exc:
            return await self._page(request, status_code=exc.status, form=form, error=exc.detail,
                                    error_field=exc.extra.get("field") or "decision")
        return Redirect(f"{BASE}/?decided={len(data.items)}", status_code=303)
