"""``/api/v1/workflows`` and ``/api/v1/plugins``: what the loaded plugins declare."""

from __future__ import annotations

from litestar import Controller, Request, get
from datetime import datetime

from pydantic import BaseModel, Field

from records.api.auth import admits
from records.api.problems import problem_responses
from records.roles import Role
from records.classification import ClassificationScheme
from records.workflow import Workflow
from records.plugins.status import PluginState, PluginStatusBoard

PLUGIN_READERS = frozenset({Role.admin, Role.plugin_manager})


class SchemeList(BaseModel):
    items: list[ClassificationScheme]


class WorkflowList(BaseModel):
    items: list[Workflow]


class PluginInfo(BaseModel):
    name: str
    origin: str = Field(description="`built-in` (in records itself), the distribution that ships the entry point, or `registered` in-process.")
    version: str | None
    status: str = Field(description="`active`, `failing` (its hooks raised since start), `blocked` by settings, or `failed` to load.")
    hooks: list[str]
    error: str | None = Field(None, description="Why it is blocked or failed to load.")
    failures: int = Field(0, description="Runtime failures of its hooks since the service started.")
    last_failure: str | None = None
    last_failure_at: datetime | None = None


class PluginList(BaseModel):
    items: list[PluginInfo]


class WorkflowController(Controller):
    path = "/api/v1/workflows"
    tags = ["workflows"]

    @get("/", operation_id="listWorkflows", summary="Stages and transitions of every kind of file",
         responses=problem_responses(401, 403), **admits(*Role, audit="workflow.list"))
    async def list_workflows(self, request: Request) -> WorkflowList:
        registry = request.app.state.record_service.workflows
        return WorkflowList(items=[registry.workflows[k] for k in sorted(registry.workflows)])


class ClassificationController(Controller):
    path = "/api/v1/classification-schemes"
    tags = ["workflows"]

    @get("/", operation_id="listClassificationSchemes", summary="Classification schemes: codes, English and Chinese labels, hierarchy",
         responses=problem_responses(401, 403), **admits(*Role, audit="classification.list"))
    async def list_schemes(self, request: Request) -> SchemeList:
        schemes = request.app.state.schemes.schemes
        return SchemeList(items=[schemes[name] for name in sorted(schemes)])


class PluginController(Controller):
    path = "/api/v1/plugins"
    tags = ["plugins"]

    @get("/", operation_id="listPlugins", summary="Plugins: origin, version, status and the hooks each implements",
         responses=problem_responses(401, 403), **admits(PLUGIN_READERS, audit="plugin.list"))
    async def list_plugins(self, request: Request) -> PluginList:
        pm = request.app.state.plugins
        board = getattr(pm, "status", None) or PluginStatusBoard()
        items = {}
        for name, plugin in pm.list_name_plugin():
            state = board.states.get(name) or PluginState(name, origin="registered")
            hooks = sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))
            items[name] = PluginInfo(
                name=name, origin=state.origin, version=state.version, hooks=hooks,
                status="failing" if state.failures else "active",
                failures=state.failures, last_failure=state.last_failure, last_failure_at=state.last_failure_at,
            )
        for name, state in board.states.items():
            if name not in items:  # blocked or failed to load: known, but not in the manager
                items[name] = PluginInfo(name=name, origin=state.origin, version=state.version, status=state.status,
                                         hooks=[], error=state.error)
        return PluginList(items=[items[n] for n in sorted(items)])
