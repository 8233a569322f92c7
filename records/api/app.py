"""Building the litestar application: routes, auth, problem mapping, OpenAPI, storage lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pluggy
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPluginProtocol
from litestar.plugins.pydantic import PydanticPlugin

from records import __version__, access_log
from records.api.audit import AuditController
from records.api.audit_middleware import AuditMiddleware
from records.api.auth import PUBLIC_PATH_PATTERNS, BearerTokenMiddleware, configure_roles
from records.api.client_address import ClientAddressMiddleware
from records.api.docs import OfflineSwaggerRenderPlugin, docs_assets, front_page
from records.api.health import health
from records.api.media_types import require_json
from records.api.metrics import MetricController, ServiceLevelController
from records.api.plugins import PluginController, TrustedKeyController
from records.api.problems import EXCEPTION_HANDLERS
from records.api.records import RecordController
from records.api.retention import RecordRetentionController, RetentionController, ReviewController
from records.api.security import AuthFailureThrottle, add_security_headers
from records.api.tokens import MeController, TokenController
from records.api.workflows import ClassificationController, WorkflowController
from records.audit.service import AuditService
from records.console.app import (
    CONSOLE_PATH_PATTERNS,
    console_handlers,
    open_console,
    template_config,
    with_console_pages,
)
from records.installation import Installation
from records.redaction import traceback_without_messages
from records.retention.service import RetentionService
from records.services.records import RecordService
from records.settings import RecordsSettings

API_DESCRIPTION = """Records governance for a telecom operator's customer-service files.

Authenticate with `Authorization: Bearer <token>` (create one with `records tokens create`).
Every operation lists the roles it admits; other roles get 403, no or a bad token 401.
Errors are RFC 9457 `application/problem+json` with a stable `code`."""


class RecordsApp(InitPluginProtocol):
    """Wires the whole application in one place; nothing happens at import time."""

    def __init__(self, settings: RecordsSettings, plugins: pluggy.PluginManager | None = None) -> None:
        self.settings = settings
        self.plugins = plugins

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        installation = await Installation.open(self.settings, self.plugins)
        # Uploads cut off by a crash left partial files; nothing references them. Only the server
        # sweeps them: a CLI command opening the same data dir could meet an upload in flight.
        await installation.storage.blobs.discard_incomplete()
        # Uploads a crash cut off between their content and their commit. With one process on the
        # store (embedded) every such upload is dead now; on a shared store another instance may
        # still be writing one, so only day-old intents count as interrupted.
        shared = getattr(installation.storage, "leases", None) is not None
        await installation.records.recover_interrupted_uploads(timedelta(days=1) if shared else timedelta(0))
        if installation.plugin_service is not None:
            await installation.plugin_service.prune_unused()
        app.state.storage = installation.storage
        app.state.record_service = installation.records
        app.state.token_service = installation.tokens
        app.state.audit_service = installation.audit
        app.state.plugins = installation.plugins
        app.state.installation = installation
        app.state.metric_service = installation.metrics
        app.state.notifier = installation.notifier
        app.state.retention_service = installation.retention
        open_console(app.state, installation)
        retention = installation.retention
        assert retention is not None
        # Archived while an assignment failed (a crash between the two): assign now.
        await retention.reconcile()
        await retention.resume_all()  # batches a crash left executing carry on
        tasks = [
            asyncio.create_task(_seal_periodically(installation.audit, self.settings.audit_seal_seconds)),
            asyncio.create_task(_report_breaches_periodically(installation.records, self.settings.sla_check_seconds)),
        ]
        if installation.plugin_service is not None:
            tasks.append(asyncio.create_task(_sync_plugins_periodically(installation, self.settings.plugin_sync_seconds)))
        if self.settings.retention_sweep_seconds:
            tasks.append(asyncio.create_task(_sweep_periodically(retention, self.settings.retention_sweep_seconds)))
        try:
            yield
        finally:
            for task in (*tasks, *retention.running()):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                # A clean stop leaves nothing unsealed (on the sealer; another instance's sealer
                # covers this one's events in its next round).
                await installation.audit.seal_if_sealer()
            await installation.close()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        access_log.quiet_libraries()
        app_config.route_handlers.extend(
            [health, front_page, docs_assets, RecordController, RecordRetentionController, RetentionController, ReviewController, TokenController, MeController,
             AuditController, WorkflowController, ClassificationController, TrustedKeyController, PluginController,
             MetricController, ServiceLevelController, *console_handlers()]
        )
        # Outermost first: the audit middleware sees every outcome, refusals by the token check included.
        # The client address first: the audit trail, the throttle and the access log read it.
        app_config.middleware.extend(
            [ClientAddressMiddleware(self.settings.proxy_networks()), AuditMiddleware(),
             DefineMiddleware(BearerTokenMiddleware, exclude=PUBLIC_PATH_PATTERNS + CONSOLE_PATH_PATTERNS)]
        )
        app_config.exception_handlers.update(with_console_pages(EXCEPTION_HANDLERS))  # HTML under /console
        app_config.before_request = require_json  # every JSON route: a body of any other type is 415
        app_config.template_config = template_config()
        app_config.before_send.append(add_security_headers)  # every response, unknown routes included
        app_config.lifespan.append(self.lifespan)
        app_config.state = State({
            "settings": self.settings,
            "auth_throttle": AuthFailureThrottle(
                self.settings.auth_failure_limit, self.settings.auth_failure_window_seconds
            ),
        })
        app_config.openapi_config = OpenAPIConfig(
            title="records",
            version=__version__,
            description=API_DESCRIPTION,
            path="/schema",
            render_plugins=[OfflineSwaggerRenderPlugin()],
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer", description="API token")}
            ),
        )
        return app_config


async def _seal_periodically(audit: AuditService, every: float) -> None:
    """Checkpoints follow events within ``every`` seconds (CT logs' maximum merge delay). With
    several instances only the holder of the sealer lease seals; the others' rounds do nothing."""
    log = logging.getLogger("records.audit")
    while True:
        await asyncio.sleep(every)
        try:
            await audit.seal_if_sealer()
        except Exception as exc:  # noqa: BLE001 - keep sealing; the next round retries
            log.error("sealing the audit log failed\n%s", traceback_without_messages(exc))


async def _report_breaches_periodically(records: RecordService, every: float) -> None:
    """Deadlines pass while nobody touches the file: look for new breaches every ``every`` seconds."""
    log = logging.getLogger("records.service_levels")
    while True:
        await asyncio.sleep(every)
        try:
            while len(await records.report_breaches()) == 500:
                pass  # a backlog: keep claiming
        except Exception:  # keep watching; the next round retries
            log.exception("reporting breached deadlines failed")


async def _sync_plugins_periodically(installation: Installation, every: float) -> None:
    """Plugins installed, switched or removed through another instance (or the CLI) arrive here."""
    log = logging.getLogger("records.plugins")
    assert installation.plugin_service is not None
    while True:
        await asyncio.sleep(every)
        try:
            await installation.plugin_service.sync()
        except Exception:  # keep watching; the next round retries
            log.exception("syncing plugins with the store failed")


async def _sweep_periodically(retention: RetentionService, every: float) -> None:
    """The scheduled sweep: due, unheld records gathered into batches for archivists to decide."""
    from records.audit import trail as audit_trail
    from records.retention.service import SYSTEM, system_trail

    log = logging.getLogger("records.retention")
    while True:
        await asyncio.sleep(every)
        token = audit_trail.begin(system_trail("retention.sweep"))
        try:
            await retention.sweep(SYSTEM)
        except Exception:  # keep sweeping; the next round retries
            log.exception("the scheduled retention sweep failed")
        finally:
            audit_trail.end(token)


def _document_roles(app: Litestar, settings: RecordsSettings) -> None:
    """Append each route's admitted roles to its OpenAPI description, from the guard's own list
    (narrowed first to the settings' roles for routes that follow one, e.g. ``revealIdentity``)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            configure_roles(handler, settings)
            roles = handler.opt.get("roles")
            if roles and "**Roles:**" not in (handler.description or ""):
                names = ", ".join(sorted(r.value for r in roles))
                handler.description = f"{handler.description or ''}\n\n**Roles:** {names}".strip()


def create_app(settings: RecordsSettings, plugins: pluggy.PluginManager | None = None) -> Litestar:
    # Passed here, not in on_app_init: litestar 2.25 ignores request_max_body_size set by a plugin.
    # prefer_alias: the OpenAPI document names fields as they travel (a transition's "from", not from_).
    app = Litestar(
        plugins=[RecordsApp(settings, plugins), PydanticPlugin(prefer_alias=True)],
        request_max_body_size=settings.max_request_bytes,
    )
    _document_roles(app, settings)
    return app
