"""Workflows: the stages each kind of file moves through, and the transitions between them.

The core knows no telecom stages: workflows, and the guards their transitions name, come from
plugins through ``records_register_workflows`` and ``records_register_guards``. Every kind's
last stage is ``archived``: archiving declares the file a record, after which its content is
immutable (notes may still be added as annotations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, Field, model_serializer, model_validator

from records.models import Delivery, Kind, Record
from records.roles import Principal, Role

ARCHIVED = "archived"

# A guard returns None when the transition may happen, or the reason it may not.
Guard = Callable[[Record, "Transition", Principal], str | None]


class Stage(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    final: bool = False
    title: str | None = Field(None, description="What people call the stage, in English; default: its name.")
    title_zh: str | None = Field(None, description="Its name in Chinese, shown to Chinese readers of the console.")

    def label(self, language: str) -> str:
        """The stage's name for a reader of ``language`` (``zh_CN`` or ``en``)."""
        if language.startswith("zh") and self.title_zh:
            return self.title_zh
        return self.title or self.name.replace("_", " ")


class Transition(BaseModel):
    from_: str = Field(alias="from")
    to: str
    roles: list[Role]
    guards: list[str] = Field(default_factory=list)
    requires_note: bool = Field(False, description="The mover must say why (`note`): a failed acceptance, a rejection.")

    model_config = {"populate_by_name": True}

    @model_serializer(mode="wrap")
    def _with_from(self, handler):  # type: ignore[no-untyped-def]
        # "from" is a Python keyword: the field is from_, the wire name is "from" in every serializer.
        data = handler(self)
        data["from"] = data.pop("from_", data.get("from"))
        return data


class Acceptance(BaseModel):
    """Which stages end an acceptance test (SPEC §4.2.3): entering ``passed`` records the
    acceptance on the file, entering ``failed`` counts a failed attempt."""

    passed: str
    failed: str


class Workflow(BaseModel):
    kind: Kind
    initial: str
    stages: list[Stage]
    transitions: list[Transition]
    acceptance: Acceptance | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Workflow:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"workflow for {self.kind}: stage names repeat")
        if self.initial not in names:
            raise ValueError(f"workflow for {self.kind}: initial stage {self.initial!r} is not a stage")
        if names[-1] != ARCHIVED or not self.stages[-1].final:
            raise ValueError(f"workflow for {self.kind}: the last stage must be a final '{ARCHIVED}'")
        for t in self.transitions:
            if t.from_ not in names or t.to not in names:
                raise ValueError(f"workflow for {self.kind}: transition {t.from_}→{t.to} names an unknown stage")
        if self.acceptance is not None and not {self.acceptance.passed, self.acceptance.failed} <= set(names):
            raise ValueError(f"workflow for {self.kind}: acceptance names a stage that is not one")
        return self

    def transition(self, from_: str, to: str) -> Transition | None:
        return next((t for t in self.transitions if t.from_ == from_ and t.to == to), None)


def accepted_or_failed(delivery: Delivery | None, acceptance: Acceptance, entered: str, now: datetime) -> Delivery | None:
    """A file's delivery facts after it entered stage ``entered`` at ``now``: a pass records when
    it was accepted; a failure counts an attempt and voids the confirmation, which belonged to the
    attempt that failed (a redelivery needs the customer's signature again)."""
    if entered not in (acceptance.passed, acceptance.failed):
        return delivery
    updated = (delivery or Delivery()).model_copy(deep=True)
    if entered == acceptance.passed:
        updated.accepted_at = now
    else:
        updated.failed_attempts += 1
        updated.confirmation = None
    return updated


@dataclass
class WorkflowRegistry:
    """Workflows by kind and guards by name, as the loaded plugins registered them."""

    workflows: dict[Kind, Workflow] = field(default_factory=dict)
    guards: dict[str, Guard] = field(default_factory=dict)

    def for_kind(self, kind: Kind) -> Workflow:
        return self.workflows[kind]

    @classmethod
    def from_plugins(cls, hook, plugin_settings: dict[str, dict] | None = None) -> WorkflowRegistry:  # type: ignore[no-untyped-def]
        registry = cls()

        # pluggy calls the most recently registered plugins first and built-ins (trylast) last,
        # so the first registration of a kind or a guard name wins: installed plugins override.
        def add_workflow(workflow: Workflow) -> None:
            registry.workflows.setdefault(workflow.kind, workflow)

        def add_guard(name: str, guard: Guard) -> None:
            registry.guards.setdefault(name, guard)

        hook.records_register_guards(register=add_guard, plugin_settings=plugin_settings or {})
        hook.records_register_workflows(register=add_workflow)
        missing = [k.value for k in Kind if k not in registry.workflows]
        if missing:
            raise ValueError(f"no plugin registers a workflow for {', '.join(missing)}")
        unknown = sorted({g for w in registry.workflows.values() for t in w.transitions for g in t.guards} - set(registry.guards))
        if unknown:
            raise ValueError(f"workflows name guards no plugin registers: {', '.join(unknown)}")
        return registry
