"""Typed domain errors. Each carries a stable ``code`` and an HTTP status; the API maps them to
RFC 9457 problem responses in one place (``records.api.problems``) and the CLI prints them."""

from __future__ import annotations

from typing import Any


class RecordsError(Exception):
    """Base of every error a client or operator may see. ``code`` never changes once published."""

    code = "records_error"
    status = 500
    title = "Records error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the problem response carries besides the body (e.g. ``Retry-After``)."""
        return {}


class InvalidConfiguration(RecordsError):
    code, status, title = "invalid_configuration", 500, "Invalid configuration"


class MissingDependency(InvalidConfiguration):
    """The configuration needs an optional driver that is not installed; the detail names the extra."""

    code, title = "missing_dependency", "Missing dependency"


class InvalidInput(RecordsError):
    code, status, title = "invalid_input", 422, "Invalid input"


class UnknownClassification(InvalidInput):
    """A classification code no registered scheme defines: schedules, floors and holds match on
    codes, so a typo would silently change what is kept and for how long."""

    code, title = "unknown_classification", "Unknown classification code"


class NoDataDir(InvalidInput):
    """A command other than ``serve`` or ``init`` was pointed at a data dir that does not exist:
    creating one would issue tokens and keys nobody's service uses."""

    code, title = "no_data_dir", "No data dir"


class ValidationFailed(InvalidInput):
    """Like the validation of bodies and parameters, for what is checked by hand (headers)."""

    code, title = "validation_failed", "Validation failed"


class InvalidCursor(RecordsError):
    code, status, title = "invalid_cursor", 400, "Invalid cursor"


class NotFound(RecordsError):
    code, status, title = "not_found", 404, "Not found"


class RecordNotFound(NotFound):
    code = "record_not_found"
    title = "Record not found"


class AttachmentNotFound(NotFound):
    code = "attachment_not_found"
    title = "Attachment not found"


class TokenNotFound(NotFound):
    code = "token_not_found"
    title = "Token not found"


class Conflict(RecordsError):
    code, status, title = "conflict", 409, "Conflict"


class BlobLocked(Conflict):
    """The object storage refuses: the blob is under retention (Object Lock) or a legal hold."""

    code = "blob_locked"
    title = "Blob under retention or legal hold"


class VersionConflict(Conflict):
    code = "version_conflict"
    title = "Record changed since you read it"


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"
    title = "Transition not allowed"


class RecordArchived(Conflict):
    code = "record_archived"
    title = "Record archived"


class TransitionRefused(InvalidInput):
    """A guard of the transition refused it; ``detail`` says why."""

    code = "transition_refused"
    title = "Transition refused"


class PluginFailed(RecordsError):
    """A plugin's decision hook raised: the request fails, naming the plugin."""

    code, status, title = "plugin_failed", 500, "Plugin failed"


class TokenNameTaken(Conflict):
    code = "token_name_taken"
    title = "Token name in use"


class TokenNameRetired(Conflict):
    """A name once given to a token, now revoked, stays that person's: the access log and the
    ownership of files name tokens by name, so a second holder would be taken for the first."""

    code = "token_name_retired"
    title = "Token name retired"

    def __init__(self, name: str) -> None:
        super().__init__(f"a token named {name!r} was issued before and revoked; a name is never reissued, pick another")


class LastAdminToken(Conflict):
    code = "last_admin_token"
    title = "Last admin token"


class PreconditionRequired(RecordsError):
    code, status, title = "precondition_required", 428, "Precondition required"


class NotAuthenticated(RecordsError):
    code, status, title = "not_authenticated", 401, "Not authenticated"


class TooManyAuthFailures(RecordsError):
    """Too many failed authentications from one client address: refused, token unchecked, until
    the oldest failure leaves the window (``RECORDS_AUTH_FAILURE_WINDOW_SECONDS``)."""

    code, status, title = "too_many_auth_failures", 429, "Too many authentication failures"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class NotPermitted(RecordsError):
    code, status, title = "forbidden", 403, "Forbidden"


class LookupNotPermitted(NotPermitted):
    """The role may not look files up by a personal identifier (``RECORDS_LOOKUP_ROLES``)."""

    code = "lookup_not_permitted"


class PurposeRequired(InvalidInput):
    """The action discloses personal data and needs a stated purpose (``X-Purpose``)."""

    code, title = "purpose_required", "Purpose required"


class TooManyLookups(RecordsError):
    """One principal looked files up by personal identifier too often (``RECORDS_LOOKUP_LIMIT``
    within ``RECORDS_LOOKUP_WINDOW_SECONDS``)."""

    code, status, title = "too_many_lookups", 429, "Too many lookups by personal identifier"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class CsrfRefused(NotPermitted):
    """A console form arrived without the CSRF token of the session that showed it."""

    code = "csrf_refused"


class NotRecordOwner(NotPermitted):
    code = "not_record_owner"


class ReassignForbidden(NotPermitted):
    code = "reassign_forbidden"


class UploadIncomplete(RecordsError):
    code, status, title = "upload_incomplete", 400, "Upload incomplete"


class UnsupportedMediaType(RecordsError):
    code, status, title = "unsupported_media_type", 415, "Unsupported media type"


class PayloadTooLarge(RecordsError):
    code, status, title = "payload_too_large", 413, "Payload too large"


class AttachmentContentMissing(RecordsError):
    """An attachment is listed but its bytes are gone: storage lost data (``records fsck`` finds these)."""

    code, status, title = "attachment_content_missing", 500, "Attachment content missing"


class KeyUnavailable(RecordsError):
    """A key needed to encrypt or decrypt is missing, unreadable or wrong."""

    code, status, title = "key_unavailable", 503, "Key unavailable"


class RecordDestroyed(RecordsError):
    """The record's data key was destroyed: its protected content can never be read again."""

    code, status, title = "record_destroyed", 410, "Record destroyed"


class StorageUnavailable(RecordsError):
    code, status, title = "storage_unavailable", 503, "Storage unavailable"


class RecordRejected(InvalidInput):
    """A validation plugin found problems with the file."""

    code = "record_rejected"


class MetricNotFound(NotFound):
    code = "metric_not_found"


class PluginPackageInvalid(InvalidInput):
    """An uploaded plugin wheel failed a check before any of its code ran."""

    code = "plugin_package_invalid"
    title = "Plugin package invalid"


class PluginSignatureInvalid(RecordsError):
    """The wheel is not signed by a key in the trust store."""

    code, status, title = "plugin_signature_invalid", 422, "Plugin signature invalid"


class PluginLoadFailed(RecordsError):
    """The wheel passed its checks but its code failed to load or to validate against the hookspecs."""

    code, status, title = "plugin_load_failed", 422, "Plugin load failed"


class PluginNotFound(NotFound):
    code = "plugin_not_found"


class PluginAlreadyInstalled(Conflict):
    code = "plugin_already_installed"


class BuiltinPlugin(Conflict):
    """Built-in plugins can be disabled, not uninstalled."""

    code = "builtin_plugin"


class PluginRequired(Conflict):
    """Disabling the plugin would leave the service without something it needs (a workflow…)."""

    code = "plugin_required"


class TrustedKeyNotFound(NotFound):
    code = "trusted_key_not_found"


class TrustedKeyExists(Conflict):
    code = "trusted_key_exists"


class PluginChanged(Conflict):
    """Another instance changed the plugin between this change's read and its write."""

    code = "plugin_changed_concurrently"


class PluginPublisherMismatch(Conflict):
    """An upgrade signed by another publisher than the installed version's."""

    code = "plugin_publisher_mismatch"
