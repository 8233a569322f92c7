"""Services handed to controllers, built over the storage opened at start-up.

Every controller gets what it calls through ``Provide`` with one of these, never by reading
``request.app.state`` itself: the state's names are known here only.
"""

from __future__ import annotations

from litestar.datastructures import State

from records.audit.service import AuditService
from records.classification import SchemeRegistry
from records.ports import Storage
from records.retention.service import RetentionService
from records.services.metrics import MetricService
from records.services.plugins import PluginService
from records.services.records import RecordService
from records.services.tokens import TokenService
from records.settings import RecordsSettings


def provide_settings(state: State) -> RecordsSettings:
    return state.settings


def provide_storage(state: State) -> Storage:
    return state.storage


def provide_record_service(state: State) -> RecordService:
    return state.record_service


def provide_token_service(state: State) -> TokenService:
    return state.token_service


def provide_audit_service(state: State) -> AuditService:
    return state.audit_service


def provide_metric_service(state: State) -> MetricService:
    return state.metric_service


def provide_retention_service(state: State) -> RetentionService:
    return state.retention_service


def provide_plugin_service(state: State) -> PluginService:
    return state.installation.plugin_service


def provide_schemes(state: State) -> SchemeRegistry:
    """The classification schemes registered now (applying plugins swaps them)."""
    return state.installation.schemes
