"""Multi-stage disposition review: a schedule may require up to five review stages (for example
records manager, then legal) before a due file is disposed of.

Each stage names its reviewers, by role and/or by user name, and how many different reviewers
must approve (2: the two-person rule for that stage). A batch item copies its schedule's stages
when the sweep gathers it, so a later edit of the schedule does not move an item under review.
An item moves to the next stage only when its stage has its approvals; approval at the last
stage is the item's final ``approve``. A ``reject`` or ``extend`` by a reviewer of the current
stage decides the item at once: it leaves the batch and stays. Items of schedules without stages
are decided by the retention managers in one stage, as before.

A reviewer's page needs ``RetentionService.reviews(principal)`` (the items waiting for a stage
the principal reviews, oldest due first) and ``RetentionService.review(principal, data)`` (one
decision and one reason for many items of many batches).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from records.errors import NotPermitted
from records.models import Kind, Line, Strict, UtcDatetime
from records.roles import Principal, Role

MAX_STAGES = 5


class ReviewStage(Strict):
    name: Line = Field(description="What the stage is, e.g. `records manager`, `legal`.")
    roles: list[Role] = Field(default_factory=list, description="Roles whose holders review at this stage.")
    users: list[Line] = Field(default_factory=list, max_length=100, description="Named reviewers (token names).")
    approvals: int = Field(1, ge=1, le=2, description="Different reviewers who must approve (2: two-person rule).")

    @model_validator(mode="after")
    def _someone(self) -> ReviewStage:
        if not self.roles and not self.users:
            raise ValueError("a review stage names its reviewers: roles, users or both")
        return self

    def admits(self, who: Principal) -> bool:
        return who.role in self.roles or who.name in self.users


class StageDecision(BaseModel):
    """One reviewer's act at one stage of an item."""

    stage: int
    stage_name: str
    decision: str
    by: str
    reason: str | None = None
    at: datetime


class NotAReviewer(NotPermitted):
    code, title = "not_a_reviewer", "Not a reviewer of this stage"


def require_reviewer(stages: list[ReviewStage], stage: int, who: Principal, reference: str) -> ReviewStage:
    """The item's current stage, if ``who`` reviews it; else 403 ``not_a_reviewer``."""
    current = stages[stage]
    if not current.admits(who):
        reviewers = ", ".join([*(r.value for r in current.roles), *current.users])
        raise NotAReviewer(f"{reference} waits for stage {stage + 1} of {len(stages)} ({current.name}), "
                           f"which {reviewers} review")
    return current


class ReviewItem(BaseModel):
    """An item waiting for a stage the viewer reviews."""

    batch_id: str
    record_id: str
    reference: str
    kind: Kind
    schedule: str
    retain_until: datetime
    action: str
    stage: int = Field(description="1-based.")
    stages: int
    stage_name: str
    approvals_needed: int
    approved_by: list[str] = Field(description="Reviewers who approved at this stage so far.")
    history: list[StageDecision]


class ReviewList(BaseModel):
    items: list[ReviewItem]
    truncated: bool = False


class ReviewTarget(Strict):
    batch_id: Line
    record_id: Line


class ReviewDecisionIn(Strict):
    """The body of ``POST /api/v1/reviews/decisions``: one decision and one reason for many items."""

    decision: str = Field(pattern="^(approve|reject|extend)$")
    reason: str | None = Field(None, min_length=1, max_length=2000)
    # UtcDatetime, as DecisionIn's: the zone is required and a year past 9998 is refused here, not
    # met as a 500 when the service builds each batch's DecisionIn from it.
    until: UtcDatetime | None = Field(None, description="For `extend`: the new retain-until date (with its zone).")
    items: list[ReviewTarget] = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _complete(self) -> ReviewDecisionIn:
        if self.decision == "extend" and self.until is None:
            raise ValueError("extend needs `until`")
        if self.decision != "extend" and self.until is not None:
            raise ValueError("`until` applies only to extend")
        if self.decision in ("reject", "extend") and not self.reason:
            raise ValueError(f"{self.decision} needs a reason")
        pairs = [(i.batch_id, i.record_id) for i in self.items]
        if len(pairs) != len(set(pairs)):
            raise ValueError("each item may be named once per request")
        return self
