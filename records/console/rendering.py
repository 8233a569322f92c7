"""Rendering console pages: the Jinja environment, the context every page gets (language,
viewer, navigation, CSRF token, times), and error pages for the console's refusals.

Templates are looked up in the package's ``templates/``; every label goes through ``_()`` so
that ``pybabel extract`` finds it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request, Response
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from records.console import i18n
from records.console.i18n import N_
from records.console.labels import value_label
from records.console.nav import entries_for
from records.console.session import CSRF_FIELD
from records.errors import RecordsError
from records.ports import ConsoleSession
from records.redaction import traceback_without_messages
from records.roles import Principal, Role

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("records.console")


ROLE_LABELS = {
    Role.admin: N_("administrator"),
    Role.agent: N_("agent"),
    Role.supervisor: N_("supervisor"),
    Role.archivist: N_("archivist"),
    Role.compliance_officer: N_("compliance officer"),
    Role.plugin_manager: N_("plugin manager"),
}


def template_config() -> TemplateConfig:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt variable fails the page's test, not the viewer silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def language_of(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"), request.cookies.get(i18n.LANGUAGE_COOKIE))


def _viewer(request: Request) -> tuple[Principal | None, ConsoleSession | None]:
    user = request.scope.get("user")
    auth = request.scope.get("auth")
    return (user if isinstance(user, Principal) else None, auth if isinstance(auth, ConsoleSession) else None)


def _without_csrf(request: Request) -> str:
    """The page's own address for links back to it (the language switch's ``next``), without the
    CSRF token an upload carries in its query: a token never travels on in a link."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != CSRF_FIELD]
    return request.url.path + (f"?{urlencode(kept)}" if kept else "")


def plugin_labels(request: Request, language: str) -> dict[str, Any]:
    """Names the plugins give their stages and service levels, in the page's language: ``stage(kind,
    name)`` and ``level(deadline)``; a name no plugin titles is shown as it is."""
    records = getattr(request.app.state, "record_service", None)

    def stage(kind: Any, name: str) -> str:
        workflow = records.workflows.workflows.get(kind) if records is not None else None
        found = next((s for s in workflow.stages if s.name == name), None) if workflow is not None else None
        return found.label(language) if found is not None else name

    def level(deadline: Any) -> str:
        policy = records.service_levels.policies.get(deadline.name) if records is not None else None
        if policy is not None and language.startswith("zh") and policy.title_zh:
            return policy.title_zh
        return deadline.title

    return {"stage": stage, "level": level}


def page_context(request: Request, **context: Any) -> dict[str, Any]:
    language = language_of(request)
    principal, session = _viewer(request)
    zone = request.app.state.settings.console_time_zone
    translate = i18n.gettext_for(language)
    return {
        "_": translate,
        "lang": language,
        "html_lang": i18n.HTML_LANG[language],
        "languages": i18n.LANGUAGE_NAMES,
        "principal": principal,
        "nav": entries_for(principal.role if principal else None),
        "current_path": request.url.path,
        "current_url": _without_csrf(request),
        "csrf_field": CSRF_FIELD,
        "csrf_token": session.csrf_token if session else context.pop("csrf_token", ""),
        "when": lambda moment: i18n.local_time(moment, zone),
        "time_zone": zone,
        "role_labels": ROLE_LABELS,
        "label": lambda value: translate(value_label(value)),
        **plugin_labels(request, language),
        **context,
    }


def page(request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None,
         **context: Any) -> Template:
    return Template(template_name=template, context=page_context(request, **context), status_code=status_code,
                    headers=headers, media_type="text/html")


# What each refusal is called on the error page (msgids; the detail comes from the service).
_TITLES = {
    400: N_("The request could not be understood"),
    401: N_("Sign in required"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("This address does not take this kind of request"),
    409: N_("Conflict"),
    410: N_("Gone"),
    413: N_("Too large"),
    415: N_("Unsupported file"),
    422: N_("Check what you entered"),
    428: N_("Version required"),
    429: N_("Too many attempts"),
    503: N_("Service unavailable"),
}


def error_page(request: Request, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    title = _TITLES.get(status, N_("Something went wrong"))
    return page(request, "error.html", status_code=status, headers=headers, title=title, detail=detail, code=code)


def handle_records_error(request: Request, exc: RecordsError) -> Response:
    return error_page(request, exc.status, exc.code, exc.detail, exc.headers)


def handle_http_exception(request: Request, exc: HTTPException) -> Response:
    if isinstance(exc, ValidationException):
        return error_page(request, 422, "validation_failed", exc.detail)
    if isinstance(exc, RequestEntityTooLarge):
        return error_page(request, 413, "payload_too_large", "the request body exceeds the size limit")
    if isinstance(exc, NotFoundException):
        return error_page(request, 404, "not_found", "no such page")
    if isinstance(exc, MethodNotAllowedException):  # the API's code for it
        return error_page(request, 405, "method_not_allowed", exc.detail or "method not allowed", exc.headers)
    status = exc.status_code
    if status >= 500:
        log.error("http error %s on a console page", status)
        return error_page(request, status, f"http_{status}", "the server could not complete the request")
    return error_page(request, status, f"http_{status}", exc.detail or "request refused")


def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s\n%s", request.method, request.url.path, traceback_without_messages(exc))
    return error_page(request, 500, "internal_error", "the server failed; the request changed nothing it did not finish")


CONSOLE_EXCEPTION_HANDLERS = {
    RecordsError: handle_records_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
