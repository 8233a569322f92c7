"""``/api/v1/workflows`` and ``/api/v1/classification-schemes``: what the loaded plugins declare."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from pydantic import BaseModel

from records.api.auth import admits
from records.api.dependencies import provide_record_service, provide_schemes
from records.api.problems import problem_responses
from records.classification import ClassificationScheme, SchemeRegistry
from records.roles import Role
from records.services.records import RecordService
from records.workflow import Workflow


class SchemeList(BaseModel):
    items: list[ClassificationScheme]


class WorkflowList(BaseModel):
    items: list[Workflow]


class WorkflowController(Controller):
    path = "/api/v1/workflows"
    tags = ["workflows"]
    dependencies = {"records": Provide(provide_record_service, sync_to_thread=False)}

    @get("/", operation_id="listWorkflows", summary="Stages and transitions of every kind of file",
         responses=problem_responses(401, 403), **admits(*Role, audit="workflow.list"))
    async def list_workflows(self, records: NamedDependency[RecordService]) -> WorkflowList:
        registry = records.workflows
        return WorkflowList(items=[registry.workflows[k] for k in sorted(registry.workflows)])


class ClassificationController(Controller):
    path = "/api/v1/classification-schemes"
    tags = ["workflows"]
    dependencies = {"registry": Provide(provide_schemes, sync_to_thread=False)}

    @get("/", operation_id="listClassificationSchemes", summary="Classification schemes: codes, English and Chinese labels, hierarchy",
         responses=problem_responses(401, 403), **admits(*Role, audit="classification.list"))
    async def list_schemes(self, registry: NamedDependency[SchemeRegistry]) -> SchemeList:
        schemes = registry.schemes
        return SchemeList(items=[schemes[name] for name in sorted(schemes)])
