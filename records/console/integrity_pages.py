"""The compliance officer's log-integrity page: the latest signed checkpoint, and the checks that
``static/audit-verify.js`` runs on it in the browser.

The server only shows what it claims (the checkpoint below is its word); the script fetches the
JSON twins of the audit explorer (``/console/audit/*.json``: checkpoint, public keys, proofs) and
checks them with the browser's own WebCrypto: the Ed25519 signature over the checkpoint, the
consistency proof from the checkpoint this browser saw last (kept in its localStorage) to this
one, and, beside each event in the explorer, its inclusion proof. Nothing here decides whether
the log is intact; the page says what the browser found.
"""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Template

from records.api.audit import AUDIT_READERS
from records.api.auth import admits
from records.api.dependencies import provide_audit_service
from records.clock import parse_text
from records.console.rendering import page


class IntegrityPageController(Controller):
    path = "/console/audit/integrity"
    include_in_schema = False

    # The page shows the latest checkpoint, so it is the read ``GET /api/v1/audit/checkpoint`` is.
    @get("/", name="console-audit-integrity", **admits(AUDIT_READERS, audit="audit.checkpoint.read"))
    async def integrity(self, request: Request) -> Template:
        checkpoint = await provide_audit_service(request.app.state).latest()
        return page(request, "audit/integrity.html", checkpoint=checkpoint, signed_at=parse_text(checkpoint.timestamp))
