"""Lifecycle notifications to plugins: isolated, ordered, off the request path.

Notification hooks run on one worker thread in the order events happened, after the change is
durable. A plugin that raises is logged and counted against itself; nothing it does can fail
or slow the request that caused the event.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from records.audit import trail as audit_trail
from records.plugins.failures import failure_report
from records.plugins.status import PluginStatusBoard

EVENTS = ("created", "amended", "transitioned", "archived", "destroyed", "deadline_breached")


class LifecycleEvent(BaseModel):
    name: str = Field(description="One of " + ", ".join(EVENTS) + ".")
    at: datetime
    record_id: str
    reference: str
    kind: str
    actor: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class Notifier:
    def __init__(self, plugins, board: PluginStatusBoard) -> None:  # type: ignore[no-untyped-def]
        self._plugins = plugins
        self._board = board
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="records-notify")
        self._pending: set[Future[None]] = set()

    def emit(self, event: LifecycleEvent) -> None:
        if not self._plugins.hook.records_lifecycle.get_hookimpls():
            return
        trail = audit_trail.current()  # the worker thread has no trail: its failures name this request
        future = self._executor.submit(self._deliver, event, trail.request_id if trail is not None else None)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _deliver(self, event: LifecycleEvent, request_id: str | None = None) -> None:
        for impl in self._plugins.hook.records_lifecycle.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception as exc:  # noqa: BLE001 - a notification hook never fails anything but itself
                self._board.failed(failure_report(impl.plugin_name, f"records_lifecycle({event.name})", exc,
                                                  request_id=request_id))

    async def drain(self) -> None:
        """Wait until every event emitted so far has been delivered."""
        while self._pending:
            await asyncio.gather(*(asyncio.wrap_future(f) for f in list(self._pending)))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
