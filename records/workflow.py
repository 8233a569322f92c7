"""Workflows: the stages each kind of file moves through, and the transitions between them.

The core knows no telecom stages: workflows, and the guards their transitions name, come from
plugins through ``records_register_workflows`` and ``records_register_guards``. Every kind's
last stage is ``archived``: archiving declares the file a record, after which its content is
immutable (notes may still be added as annotations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, model_serializer, model_validator

from records.models import Kind, Record
from records.roles import Principal, Role

ARCHIVED = "archived"

# A guard returns None when the transition may happen, or the reason it may not.
Guard = Callable[[Record, "Transition", Principal], str | None]


class Stage(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    final: bool = False


class Transition(BaseModel):
    from_: str = Field(alias="from")
    to: str
    roles: list[Role]
    guards: list[str] = Field(default_factory=list)

    model_config = {"populate_by_name": True}

    @model_serializer(mode="wrap")
    def _with_from(self, handler):  # type: ignore[no-untyped-def]
        # "from" is a Python keyword: the field is from_, the wire name is "from" in every serializer.
        data = handler(self)
        data["from"] = data.pop("from_", data.get("from"))
        return data


class Workflow(BaseModel):
    kind: Kind
    initial: str
    stages: list[Stage]
    transitions: list[Transition]

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
        return self

    def transition(self, from_: str, to: str) -> Transition | None:
        return next((t for t in self.transitions if t.from_ == from_ and t.to == to), None)


@dataclass
class WorkflowRegistry:
    """Workflows by kind and guards by name, as the loaded plugins registered them."""

    workflows: dict[Kind, Workflow] = field(default_factory=dict)
    guards: dict[str, Guard] = field(default_factory=dict)

    def for_kind(self, kind: Kind) -> Workflow:
        return self.workflows[kind]

    @classmethod
    def from_plugins(cls, hook) -> WorkflowRegistry:  # type: ignore[no-untyped-def]
        registry = cls()

        # pluggy calls the most recently registered plugins first and built-ins (trylast) last,
        # so the first registration of a kind or a guard name wins: installed plugins override.
        def add_workflow(workflow: Workflow) -> None:
            registry.workflows.setdefault(workflow.kind, workflow)

        def add_guard(name: str, guard: Guard) -> None:
            registry.guards.setdefault(name, guard)

        hook.records_register_guards(register=add_guard)
        hook.records_register_workflows(register=add_workflow)
        missing = [k.value for k in Kind if k not in registry.workflows]
        if missing:
            raise ValueError(f"no plugin registers a workflow for {', '.join(missing)}")
        unknown = sorted({g for w in registry.workflows.values() for t in w.transitions for g in t.guards} - set(registry.guards))
        if unknown:
            raise ValueError(f"workflows name guards no plugin registers: {', '.join(unknown)}")
        return registry
