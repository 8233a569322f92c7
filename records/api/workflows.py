"""``/api/v1/workflows`` and ``/api/v1/plugins``: what the loaded plugins declare."""

from __future__ import annotations

from litestar import Controller, Request, get
from pydantic import BaseModel

from records.api.auth import admits
from records.api.problems import problem_responses
from records.roles import Role
from records.classification import ClassificationScheme
from records.workflow import Workflow

PLUGIN_READERS = frozenset({Role.admin, Role.plugin_manager})


class SchemeList(BaseModel):
    items: list[ClassificationScheme]


class WorkflowList(BaseModel):
    items: list[Workflow]


class PluginInfo(BaseModel):
    name: str
    origin: str  # "built-in" (in records itself), or the distribution that ships the entry point
    version: str | None
    status: str
    hooks: list[str]


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

    @get("/", operation_id="listPlugins", summary="Loaded plugins, their origin, version and hooks",
         responses=problem_responses(401, 403), **admits(PLUGIN_READERS, audit="plugin.list"))
    async def list_plugins(self, request: Request) -> PluginList:
        pm = request.app.state.plugins
        dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
        items = []
        for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
            dist = dists.get(id(plugin))
            hooks = sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))
            items.append(PluginInfo(
                name=name,
                origin=dist.project_name if dist is not None else "built-in",
                version=dist.version if dist is not None else None,
                status="loaded",
                hooks=hooks,
            ))
        return PluginList(items=items)
