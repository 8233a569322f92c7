"""``/api/v1/plugins``: list, install (signed wheels), enable, disable, uninstall; the trust store."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, Field

from records.api.auth import admits
from records.api.dependencies import provide_plugin_service, provide_settings
from records.api.forms import read_form
from records.api.problems import problem_responses
from records.roles import Role
from records.services.plugins import PluginInfo, PluginService, TrustedKeyInfo
from records.settings import RecordsSettings

PLUGIN_READERS = frozenset({Role.admin, Role.plugin_manager})
# Installing code is the most dangerous thing the API does: its own role, not "admin".
PLUGIN_MANAGERS = frozenset({Role.plugin_manager})
TRUST_MANAGERS = frozenset({Role.admin})
MAX_SIGNATURE_FIELD = 1024


class PluginList(BaseModel):
    items: list[PluginInfo]


class TrustedKeyList(BaseModel):
    items: list[TrustedKeyInfo]


class TrustedKeyIn(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
    public_key: str = Field(min_length=1, max_length=4096, description="Ed25519 public key, PEM SubjectPublicKeyInfo.")


@dataclass
class WheelUploadOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="The wheel in field `wheel`, and in field `signature` the base64 of a raw Ed25519 signature "
                        "over the wheel file's bytes by a trusted publisher key.",
            content={"multipart/form-data": OpenAPIMediaType(schema=Schema(
                type=OpenAPIType.OBJECT, required=["wheel", "signature"],
                properties={"wheel": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
                            "signature": Schema(type=OpenAPIType.STRING)},
            ))},
        )


class PluginController(Controller):
    path = "/api/v1/plugins"
    tags = ["plugins"]
    dependencies = {"plugin_service": Provide(provide_plugin_service, sync_to_thread=False),
                    "settings": Provide(provide_settings, sync_to_thread=False)}

    @get("/", operation_id="listPlugins", summary="Plugins: origin, version, status, publisher and the hooks each implements",
         responses=problem_responses(401, 403), **admits(PLUGIN_READERS, audit="plugin.list"))
    async def list_plugins(self, plugin_service: NamedDependency[PluginService]) -> PluginList:
        return PluginList(items=await plugin_service.list())

    @post("/", operation_id="installPlugin", summary="Install or upgrade a plugin from a signed wheel",
          description=(
              "Checked before any of its code runs: the signature against the trust store, then the archive "
              "(size, paths, links, RECORD hashes, pure Python, entry points of group `records`). Loaded, "
              "validated against the hookspecs and live on every instance without a restart. A newer version "
              "of an installed plugin upgrades it."
          ),
          responses=problem_responses(400, 401, 403, 409, 413, 415, 422), status_code=201,
          # The form reader enforces RECORDS_MAX_PLUGIN_BYTES itself; this only lifts the JSON body limit.
          request_max_body_size=2**62, operation_class=WheelUploadOperation,
          **admits(PLUGIN_MANAGERS, audit="plugin.install"))
    async def install_plugin(self, request: Request, plugin_service: NamedDependency[PluginService],
                             settings: NamedDependency[RecordsSettings]) -> Response[PluginInfo]:
        fields, filenames = await read_form(request, {"wheel": settings.max_plugin_bytes, "signature": MAX_SIGNATURE_FIELD})
        plugin = await plugin_service.install(filenames.get("wheel", ""), fields["wheel"], fields["signature"], request.user)
        return Response(plugin, status_code=201)

    @post("/{plugin:str}/disable", operation_id="disablePlugin", summary="Switch a plugin off on every instance",
          responses=problem_responses(401, 403, 404, 409), status_code=200,
          **admits(PLUGIN_MANAGERS, audit="plugin.disable"))
    async def disable_plugin(self, request: Request, plugin_service: NamedDependency[PluginService], plugin: FromPath[str]) -> PluginInfo:
        return await plugin_service.set_enabled(plugin, False, request.user)

    @post("/{plugin:str}/enable", operation_id="enablePlugin", summary="Switch a plugin back on",
          responses=problem_responses(401, 403, 404, 422), status_code=200,
          **admits(PLUGIN_MANAGERS, audit="plugin.enable"))
    async def enable_plugin(self, request: Request, plugin_service: NamedDependency[PluginService], plugin: FromPath[str]) -> PluginInfo:
        return await plugin_service.set_enabled(plugin, True, request.user)

    @delete("/{plugin:str}", operation_id="uninstallPlugin", summary="Uninstall an installed plugin (built-ins can only be disabled)",
            responses=problem_responses(401, 403, 404, 409), **admits(PLUGIN_MANAGERS, audit="plugin.uninstall"))
    async def uninstall_plugin(self, request: Request, plugin_service: NamedDependency[PluginService], plugin: FromPath[str]) -> None:
        await plugin_service.uninstall(plugin, request.user)


class TrustedKeyController(Controller):
    path = "/api/v1/plugins/trusted-keys"
    tags = ["plugins"]
    dependencies = {"plugin_service": Provide(provide_plugin_service, sync_to_thread=False)}

    @get("/", operation_id="listTrustedKeys", summary="Publisher keys whose signed wheels may be installed",
         responses=problem_responses(401, 403), **admits(TRUST_MANAGERS, audit="trusted_key.list"))
    async def list_keys(self, plugin_service: NamedDependency[PluginService]) -> TrustedKeyList:
        return TrustedKeyList(items=await plugin_service.trusted_keys())

    @post("/", operation_id="trustKey", summary="Trust a plugin publisher's Ed25519 public key",
          responses=problem_responses(400, 401, 403, 409, 422), **admits(TRUST_MANAGERS, audit="trusted_key.add"))
    async def trust_key(self, request: Request, plugin_service: NamedDependency[PluginService], data: JSONBody[TrustedKeyIn]) -> Response[TrustedKeyInfo]:
        key = await plugin_service.trust(data.name, data.public_key, request.user)
        return Response(key, status_code=201)

    @delete("/{key_name:str}", operation_id="distrustKey", summary="Stop trusting a publisher key (installed plugins stay)",
            responses=problem_responses(401, 403, 404), **admits(TRUST_MANAGERS, audit="trusted_key.remove"))
    async def distrust_key(self, request: Request, plugin_service: NamedDependency[PluginService], key_name: FromPath[str]) -> None:
        await plugin_service.distrust(key_name, request.user)
