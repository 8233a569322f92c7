"""What each plugin is doing: loaded, blocked by settings, failed to load, or failing at runtime."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from records.plugins.failures import PluginFailure


@dataclass
class PluginState:
    name: str
    origin: str  # built-in | package | installed | registered
    version: str | None = None
    distribution: str | None = None
    status: str = "active"  # active | blocked | failed (to load); "failing" is derived from failures
    error: str | None = None
    failures: int = 0
    last_failure: PluginFailure | None = None

    @property
    def last_failure_at(self) -> datetime | None:
        return self.last_failure.at if self.last_failure is not None else None


@dataclass
class PluginStatusBoard:
    states: dict[str, PluginState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def loaded(self, name: str, origin: str, version: str | None = None, distribution: str | None = None) -> None:
        self.states[name] = PluginState(name, origin, version, distribution)

    def refused(self, name: str, origin: str, version: str | None, status: str, error: str,
                distribution: str | None = None) -> None:
        self.states[name] = PluginState(name, origin, version, distribution, status=status, error=error)

    def failed(self, failure: PluginFailure) -> None:
        """A runtime failure of a loaded plugin's hook (notification, classification…), as
        ``failure_report`` reported it: no exception message is kept."""
        with self._lock:
            state = self.states.setdefault(failure.plugin, PluginState(failure.plugin, origin="registered"))
            state.failures += 1
            state.last_failure = failure
