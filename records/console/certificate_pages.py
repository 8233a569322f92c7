"""Destruction certificates in the console: the list, one certificate (what was destroyed, by
whom, when, the signing key) with its verification, and its PDF and signed JSON.

A certificate is read with ``RetentionService.certificate`` and served by the API's own
``certificate_response``, so the files downloaded here are those ``GET
/api/v1/retention/certificates/{id}`` gives; each page is audited as that read. The verification
shown is ``records.retention.certificates.verify`` against the installation's audit keys, what
``records retention verify-certificate`` checks on the data dir.
"""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, Request, Response, get
from litestar.params import FromPath
from litestar.response import Template

from records.api.auth import admits
from records.api.retention import RETENTION_READERS, certificate_response
from records.console.retention_pages import ITEMS_PER_PAGE, item_offset, retention_page, retention_service
from records.retention.models import BatchStatus

LISTED = 100


def _moment(value: object) -> datetime | None:
    """The checkpoint's signing time (ISO 8601 text inside the signed document), to show in the
    installation's zone; None when it is not a time (the verification then says why)."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class CertificatePagesController(Controller):
    path = "/console/retention/certificates"
    include_in_schema = False

    @get("/", name="console-retention-certificates", **admits(RETENTION_READERS, audit="retention.batch.list"))
    async def certificates(self, request: Request) -> Template:
        """The newest finished batches that issued one (a batch whose every file was kept issues
        none): the list ``GET /batches?status=done`` gives, so audited as that read."""
        done = await retention_service(request).batches(BatchStatus.done.value, LISTED)
        return retention_page(request, "retention/certificates.html", batches=[b for b in done if b.certificate_id],
                              listed=LISTED)

    @get("/{certificate_id:str}", name="console-retention-certificate",
         **admits(RETENTION_READERS, audit="retention.certificate.read"))
    async def certificate(self, request: Request, certificate_id: FromPath[str]) -> Template:
        retention = retention_service(request)
        certificate = await retention.certificate(certificate_id)
        offset = item_offset(request)
        return retention_page(request, "retention/certificate.html", certificate=certificate,
                              items=certificate.items[offset:offset + ITEMS_PER_PAGE], offset=offset,
                              per_page=ITEMS_PER_PAGE, check=retention.check_certificate(certificate),
                              checkpoint=certificate.audit_checkpoint,
                              checkpoint_at=_moment(certificate.audit_checkpoint.get("timestamp")))

    @get("/{certificate_id:str}/pdf", name="console-retention-certificate-pdf",
         **admits(RETENTION_READERS, audit="retention.certificate.read"))
    async def pdf(self, request: Request, certificate_id: FromPath[str]) -> Response:
        return certificate_response(await retention_service(request).certificate(certificate_id), "pdf")

    @get("/{certificate_id:str}/json", name="console-retention-certificate-json",
         **admits(RETENTION_READERS, audit="retention.certificate.read"))
    async def json(self, request: Request, certificate_id: FromPath[str]) -> Response:
        return certificate_response(await retention_service(request).certificate(certificate_id), "json", download=True)
