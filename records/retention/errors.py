"""Typed errors of retention and disposition, each with a stable code (mapped to problems by
``records.api.problems`` like every ``RecordsError``)."""

from __future__ import annotations

from records.errors import Conflict, InvalidInput, NotFound


class ScheduleNotFound(NotFound):
    code, title = "retention_schedule_not_found", "Retention schedule not found"


class HoldNotFound(NotFound):
    code, title = "legal_hold_not_found", "Legal hold not found"


class BatchNotFound(NotFound):
    code, title = "disposition_batch_not_found", "Disposition batch not found"


class CertificateNotFound(NotFound):
    code, title = "certificate_not_found", "Destruction certificate not found"


class RetentionNotAssigned(NotFound):
    code, title = "retention_not_assigned", "No retention assigned"


class ScheduleChanged(Conflict):
    code, title = "retention_schedule_changed", "Retention schedule changed meanwhile"


class RetentionBelowMinimum(InvalidInput):
    code, title = "retention_below_minimum", "Retention below the legal minimum"


class HoldReleased(Conflict):
    code, title = "legal_hold_released", "Legal hold already released"


class RecordOnHold(Conflict):
    code, title = "record_on_hold", "Record on legal hold"


class BatchNotOpen(Conflict):
    code, title = "batch_not_open", "Disposition batch not open"


class BatchUndecided(Conflict):
    code, title = "batch_undecided", "Disposition batch not fully decided"


class SecondApproverRequired(Conflict):
    code, title = "second_approver_required", "A second, different approver is required"


class ItemDecided(Conflict):
    code, title = "item_already_decided", "Item already decided"


class RecordNotInBatch(InvalidInput):
    code, title = "record_not_in_batch", "Record not in this batch"


class CertificateInvalid(InvalidInput):
    code, title = "certificate_invalid", "Certificate does not verify"


class FloorNotFound(NotFound):
    code, title = "retention_floor_not_found", "Retention floor not found"


class FloorRemoved(Conflict):
    code, title = "retention_floor_removed", "Retention floor already removed"


class CertificateUnreadable(InvalidInput):
    code, title = "certificate_unreadable", "Certificate cannot be read"


class CertificateUntrusted(InvalidInput):
    code, title = "certificate_untrusted", "No trusted key to verify the certificate against"
