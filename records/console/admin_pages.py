"""The administrator's pages: API tokens (list, issue, revoke) and the plugin publishers' keys
the trust store holds (list, add, remove).

Each form is read into the API's own input model (``TokenCreate``, ``TrustedKeyIn``) and calls the
service its ``/api/v1`` route calls, admitting the same roles and audited as the same action. A
new token's secret is shown once, in the answer to the form that issued it (never in a URL, never
again). A refusal re-renders the page with the reason beside the form, under the API's status.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from pydantic import ValidationError

from records.api.auth import admits
from records.api.dependencies import provide_plugin_service, provide_token_service
from records.api.plugins import TRUST_MANAGERS, TrustedKeyIn
from records.api.tokens import TokenCreate
from records.console.i18n import N_
from records.console.rendering import page
from records.errors import InvalidInput, RecordsError
from records.roles import MANAGE_TOKENS, Role
from records.services.plugins import PluginService
from records.services.tokens import TokenService

BASE = "/console/admin"
# What a redirect after a change says (a key in the query; the name is shown only if it is listed).
DONE_LABELS = {"revoked": N_("Revoked the token %(name)s; its console sessions have ended."),
               "trusted": N_("Now trusting the publisher key %(name)s."),
               "distrusted": N_("No longer trusting the publisher key %(name)s. Plugins it signed stay installed.")}
FIELD_NAMES = {"name", "role", "public_key"}


def _tokens(request: Request) -> TokenService:
    return provide_token_service(request.app.state)


def _plugins(request: Request) -> PluginService:
    return provide_plugin_service(request.app.state)


def _form_error(exc: ValidationError) -> InvalidInput:
    """The model's first complaint, named by its field (the form shows it there)."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "form"
    return InvalidInput(f"{field}: {err['msg']}", field=field if field in FIELD_NAMES else None)


async def _form_fields(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    values = {name: form.get(name) for name in names}
    return {name: value.strip() if isinstance(value, str) else "" for name, value in values.items()}


def _notice(request: Request, listed: set[str]) -> tuple[str, str] | None:
    done, name = request.query_params.get("done"), request.query_params.get("name")
    return (DONE_LABELS[done], name) if done in DONE_LABELS and name in listed else None


def _done(path: str, what: str, name: str) -> Redirect:
    return Redirect(f"{BASE}/{path}?{urlencode({'done': what, 'name': name})}", status_code=303)


# --- tokens -----------------------------------------------------------------------------------


async def _tokens_page(request: Request, status_code: int = 200, error: RecordsError | None = None,
                       error_form: str | None = None, form: dict[str, str] | None = None,
                       issued: Any = None) -> Template:
    include_revoked = request.query_params.get("include_revoked") == "1"
    every = await _tokens(request).list(include_revoked=True)
    tokens = every if include_revoked else [t for t in every if t.revoked_at is None]
    # A token just revoked is named in the notice, though no longer listed; a link saying a live
    # token was revoked shows no notice (the page never states what did not happen).
    revoked = {t.name for t in every if t.revoked_at is not None}
    return page(request, "admin/tokens.html", status_code=status_code, tokens=tokens, roles=list(Role),
                include_revoked=include_revoked, notice=_notice(request, revoked), issued=issued,
                error=error.detail if error else None, error_field=error.extra.get("field") if error else None,
                error_code=error.code if error else None, error_form=error_form,
                form=form or {"name": "", "role": ""})


class TokenPagesController(Controller):
    path = f"{BASE}/tokens"
    include_in_schema = False

    @get("/", name="console-admin-tokens", **admits(MANAGE_TOKENS, audit="token.list"))
    async def tokens(self, request: Request) -> Template:
        return await _tokens_page(request)

    @post("/", name="console-admin-tokens-create", status_code=201, **admits(MANAGE_TOKENS, audit="token.create"))
    async def create(self, request: Request) -> Template:
        form = await _form_fields(request, ("name", "role"))
        try:
            try:
                wanted = TokenCreate.model_validate(form)
            except ValidationError as exc:
                raise _form_error(exc) from None
            issued = await _tokens(request).issue(wanted.name, wanted.role)
        except RecordsError as exc:
            return await _tokens_page(request, exc.status, exc, error_form="create", form=form)
        # The secret is in this answer only: no redirect could carry it without putting it in a URL.
        return await _tokens_page(request, 201, issued=issued)

    @post("/{name:str}/revoke", name="console-admin-tokens-revoke", status_code=303,
          **admits(MANAGE_TOKENS, audit="token.revoke"))
    async def revoke(self, request: Request, name: FromPath[str]) -> Response:
        try:
            await _tokens(request).revoke(name)
        except RecordsError as exc:
            return await _tokens_page(request, exc.status, exc, error_form="revoke")
        return _done("tokens/", "revoked", name)


# --- trusted publisher keys ------------------------------------------------------------------


async def _publishers_page(request: Request, status_code: int = 200, error: RecordsError | None = None,
                           error_form: str | None = None, form: dict[str, str] | None = None) -> Template:
    keys = await _plugins(request).trusted_keys()
    trusted = {k.name for k in keys}
    # "Now trusting" names a key the store holds; "no longer trusting" one it does not (any more).
    name = request.query_params.get("name")
    if request.query_params.get("done") == "distrusted":
        trusted = {name} if name and name not in trusted and _plain_name(name) else set()
    return page(request, "admin/publishers.html", status_code=status_code, keys=keys,
                notice=_notice(request, trusted), error=error.detail if error else None,
                error_field=error.extra.get("field") if error else None, error_form=error_form,
                form=form or {"name": "", "public_key": ""})


def _plain_name(name: str) -> bool:
    """A name the trust store could have held (what the notice may repeat after a removal)."""
    try:
        TrustedKeyIn(name=name, public_key="-")
    except ValidationError:
        return False
    return True


class PublisherKeyPagesController(Controller):
    path = f"{BASE}/publishers"
    include_in_schema = False

    @get("/", name="console-admin-publishers", **admits(TRUST_MANAGERS, audit="trusted_key.list"))
    async def publishers(self, request: Request) -> Template:
        return await _publishers_page(request)

    @post("/", name="console-admin-publishers-add", status_code=303, **admits(TRUST_MANAGERS, audit="trusted_key.add"))
    async def add(self, request: Request) -> Response:
        form = await _form_fields(request, ("name", "public_key"))
        try:
            try:
                wanted = TrustedKeyIn.model_validate(form)
            except ValidationError as exc:
                raise _form_error(exc) from None
            key = await _plugins(request).trust(wanted.name, wanted.public_key, request.user)
        except RecordsError as exc:
            return await _publishers_page(request, exc.status, exc, error_form="add", form=form)
        return _done("publishers/", "trusted", key.name)

    @post("/{name:str}/remove", name="console-admin-publishers-remove", status_code=303,
          **admits(TRUST_MANAGERS, audit="trusted_key.remove"))
    async def remove(self, request: Request, name: FromPath[str]) -> Response:
        try:
            await _plugins(request).distrust(name, request.user)
        except RecordsError as exc:
            return await _publishers_page(request, exc.status, exc, error_form="remove")
        return _done("publishers/", "distrusted", name)


ADMIN_PAGES = [TokenPagesController, PublisherKeyPagesController]
