"""The plugin manager's page: every plugin (origin, version, publisher, hooks, status, last
failure), installing one from a signed wheel, enabling, disabling and uninstalling.

Each form calls the ``PluginService`` method its ``/api/v1/plugins`` route calls, admits the same
roles and is audited as the same action; the checks of a wheel (its signature against the trust
store, the archive, the hookspecs) are the service's. A refusal re-renders the list with the
service's message beside the form that caused it, under the API's status.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from records.api.auth import admits
from records.api.dependencies import provide_plugin_service, provide_settings
from records.api.forms import read_form
from records.api.plugins import MAX_SIGNATURE_FIELD, PLUGIN_MANAGERS, PLUGIN_READERS, TRUST_MANAGERS
from records.console.i18n import N_
from records.console.rendering import page
from records.errors import InvalidInput, RecordsError
from records.roles import Principal
from records.services.plugins import PluginService

BASE = "/console/plugins"
SHOWN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$")  # a plugin's name as the service spells them

STATUS_LABELS = {"active": N_("active"), "failing": N_("failing"), "disabled": N_("disabled"),
                 "blocked": N_("blocked"), "failed": N_("failed to load")}
ORIGIN_LABELS = {"built-in": N_("built in"), "installed": N_("installed"), "package": N_("package"),
                 "registered": N_("registered in code")}
# What a redirect after a change says (a key in the query: the page never echoes free text).
DONE_LABELS = {"installed": N_("Installed %(name)s."), "enabled": N_("Enabled %(name)s."),
               "disabled": N_("Disabled %(name)s."), "uninstalled": N_("Uninstalled %(name)s.")}


def _service(request: Request) -> PluginService:
    return provide_plugin_service(request.app.state)


def _reads_its_body(route: dict[str, Any]) -> dict[str, Any]:
    """The handler streams the multipart body itself: the CSRF token comes in the query."""
    return {**route, "opt": {**route["opt"], "streams_body": True}}


def _done(what: str, name: str) -> Redirect:
    """Back to the list, at the plugin's row while it has one."""
    anchor = "" if what == "uninstalled" else f"#plugin-{quote(name)}"
    return Redirect(f"{BASE}/?{urlencode({'done': what, 'name': name})}{anchor}", status_code=303)


async def _plugins_page(request: Request, status_code: int = 200, error: RecordsError | None = None,
                        error_form: str | None = None, error_plugin: str | None = None) -> Template:
    plugins = await _service(request).list()
    viewer: Principal = request.user
    done, done_name = request.query_params.get("done"), request.query_params.get("name")
    # Only a plugin whose state is what the notice says is named (listed, disabled, enabled, or no
    # longer listed): the notice never echoes the query, nor states what a hand-made link claims.
    notice = None
    shown = next((p for p in plugins if p.name == done_name), None)
    said = {"installed": shown is not None, "uninstalled": shown is None,
            "enabled": shown is not None and shown.status != "disabled",
            "disabled": shown is not None and shown.status == "disabled"}
    if done in DONE_LABELS and done_name and SHOWN_NAME.fullmatch(done_name) and said.get(done, False):
        notice = (DONE_LABELS[done], done_name)
    return page(request, "plugins/list.html", status_code=status_code, plugins=plugins,
                may_manage=viewer.role in PLUGIN_MANAGERS, may_trust=viewer.role in TRUST_MANAGERS,
                status_labels=STATUS_LABELS, origin_labels=ORIGIN_LABELS, notice=notice,
                error=error.detail if error else None, error_code=error.code if error else None,
                error_field=error.extra.get("field") if error else None, error_form=error_form,
                error_plugin=error_plugin)


class PluginPagesController(Controller):
    path = BASE
    include_in_schema = False

    @get("/", name="console-plugins", **admits(PLUGIN_READERS, audit="plugin.list"))
    async def plugins(self, request: Request) -> Template:
        return await _plugins_page(request)

    @post("/", name="console-plugins-install", status_code=303, request_max_body_size=2**62,
          **_reads_its_body(admits(PLUGIN_MANAGERS, audit="plugin.install")))
    async def install(self, request: Request) -> Response:
        # The reader enforces RECORDS_MAX_PLUGIN_BYTES itself, as the API's route does.
        limits = {"wheel": provide_settings(request.app.state).max_plugin_bytes, "signature": MAX_SIGNATURE_FIELD,
                  "signature_file": MAX_SIGNATURE_FIELD}
        try:
            fields, filenames = await read_form(request, limits)
            signature = fields["signature"].strip() or fields["signature_file"].strip()
            if not fields["wheel"]:
                raise InvalidInput("choose the plugin's wheel file (.whl)", field="wheel")
            if not signature:
                raise InvalidInput("give the wheel's signature: its .sig file, or the base64 text pasted", field="signature")
            plugin = await _service(request).install(filenames.get("wheel", ""), fields["wheel"], signature, request.user)
        except RecordsError as exc:
            return await _plugins_page(request, exc.status, exc, error_form="install")
        return _done("installed", plugin.name)

    @post("/{name:str}/enable", name="console-plugins-enable", status_code=303,
          **admits(PLUGIN_MANAGERS, audit="plugin.enable"))
    async def enable(self, request: Request, name: FromPath[str]) -> Response:
        return await self._switch(request, name, True)

    @post("/{name:str}/disable", name="console-plugins-disable", status_code=303,
          **admits(PLUGIN_MANAGERS, audit="plugin.disable"))
    async def disable(self, request: Request, name: FromPath[str]) -> Response:
        return await self._switch(request, name, False)

    @staticmethod
    async def _switch(request: Request, name: str, enabled: bool) -> Response:
        try:
            plugin = await _service(request).set_enabled(name, enabled, request.user)
        except RecordsError as exc:
            return await _plugins_page(request, exc.status, exc, error_form="switch", error_plugin=name)
        return _done("enabled" if enabled else "disabled", plugin.name)

    # The API's DELETE /api/v1/plugins/{name}; an HTML form can only POST.
    @post("/{name:str}/uninstall", name="console-plugins-uninstall", status_code=303,
          **admits(PLUGIN_MANAGERS, audit="plugin.uninstall"))
    async def uninstall(self, request: Request, name: FromPath[str]) -> Response:
        try:
            await _service(request).uninstall(name, request.user)
        except RecordsError as exc:
            return await _plugins_page(request, exc.status, exc, error_form="switch", error_plugin=name)
        return _done("uninstalled", name)
