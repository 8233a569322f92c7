"""Services handed to controllers, built over the storage opened at start-up."""

from __future__ import annotations

from litestar.datastructures import State

from records.services.records import RecordService
from records.services.tokens import TokenService


def provide_record_service(state: State) -> RecordService:
    return state.record_service


def provide_token_service(state: State) -> TokenService:
    return state.token_service
