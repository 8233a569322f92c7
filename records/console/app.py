"""Wiring the console into the app: its controllers (one per area module), the router that gives
them the session middleware, the CSRF guard and HTML error pages, and the static files.

A new area adds its controller to ``console_controllers()`` and its entry to ``nav.NAVIGATION``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, Router
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from records.api.security import plain_file_name
from records.console.admin_pages import ADMIN_PAGES
from records.console.audit_pages import AuditPagesController
from records.console.auth import ConsoleSessionMiddleware, csrf_guard
from records.console.certificate_pages import CertificatePagesController
from records.console.forecast_pages import FORECAST_PAGES
from records.console.holds_pages import HOLD_PAGES
from records.console.home import HomeController
from records.console.integrity_pages import IntegrityPageController
from records.console.metrics_pages import MetricsPages
from records.console.plugins_pages import PluginPagesController
from records.console.records_pages import RecordPagesController
from records.console.rendering import CONSOLE_EXCEPTION_HANDLERS, STATIC_DIR, template_config
from records.console.retention_pages import RETENTION_PAGES
from records.console.review_pages import ReviewPagesController
from records.console.schedules_pages import SCHEDULE_PAGES
from records.console.session import ConsoleSessions
from records.console.signin import SignInController

if TYPE_CHECKING:
    from litestar.datastructures import State

    from records.installation import Installation

__all__ = ["CONSOLE_PATH_PATTERNS", "console_handlers", "console_controllers", "open_console", "template_config",
           "with_console_pages"]

# Console paths authenticate with the session cookie, not a bearer token. (``/`` leads here:
# ``records.api.docs.front_page`` redirects to the console once it is registered.)
CONSOLE_PATH_PATTERNS = [r"^/console(/|$)"]


def with_console_pages(handlers: dict[Any, Any]) -> dict[Any, Any]:
    """The app's exception handlers, answering a console path that no console route took (an
    unknown page, a method none of its routes takes) with the console's HTML error page, as a
    person in a browser reads it, instead of the API's problem JSON."""
    console = re.compile("|".join(CONSOLE_PATH_PATTERNS))

    def dispatch(api: Any, page: Any) -> Any:
        def handle(request: Request, exc: Exception) -> Response:
            return (page if console.match(request.url.path) else api)(request, exc)
        return handle

    pages = dict(CONSOLE_EXCEPTION_HANDLERS)
    return {kind: dispatch(api, pages[kind]) if kind in pages else api for kind, api in handlers.items()}


def console_controllers() -> list[ControllerRouterHandler]:
    return [SignInController, HomeController, RecordPagesController, MetricsPages, AuditPagesController,
            IntegrityPageController, PluginPagesController, *ADMIN_PAGES,
            *RETENTION_PAGES, *HOLD_PAGES, *SCHEDULE_PAGES, CertificatePagesController, *FORECAST_PAGES,
            ReviewPagesController]


def console_handlers() -> list[ControllerRouterHandler]:
    """Everything the console adds to the app."""
    pages = Router(
        path="/",
        route_handlers=console_controllers(),
        middleware=[ConsoleSessionMiddleware()],
        guards=[csrf_guard],
        exception_handlers=CONSOLE_EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        include_in_schema=False,
    )
    static = create_static_files_router(path="/console/static", directories=[STATIC_DIR], name="console-static",
                                        include_in_schema=False, guards=[plain_file_name])
    return [pages, static]


def open_console(state: State, installation: Installation) -> None:
    """Give the running app the console's session service (called from the app's lifespan)."""
    settings = installation.settings
    state.console_sessions = ConsoleSessions(
        installation.storage.console_sessions, installation.storage.tokens, installation.tokens,
        idle=timedelta(seconds=settings.console_session_idle_seconds),
        lifetime=timedelta(seconds=settings.console_session_max_seconds),
    )
