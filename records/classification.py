"""Classification schemes and automatic classification at intake, both from plugins.

A scheme names codes with English and Chinese labels in a hierarchy (``parent``); a record's
classification holds ``scheme:code`` strings. At intake every ``records_classify`` plugin may
propose codes; they are added to what the caller gave.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from records.errors import UnknownClassification
from records.models import Record
from records.plugins.failures import customer_identifiers, failure_report

CODE = re.compile(r"^[a-z0-9_]+(:[a-z0-9_.\-]+)*$")


class SchemeCode(BaseModel):
    code: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
    label_en: str
    label_zh: str
    parent: str | None = None


class ClassificationScheme(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    title_en: str
    title_zh: str
    codes: list[SchemeCode]

    def qualified(self, code: str) -> str:
        return f"{self.name}:{code}"


def classifier(plugins) -> Callable[[Record], tuple[list[str], list[str]]]:  # type: ignore[no-untyped-def]
    """Calls every ``records_classify`` implementation on its own, so that one plugin failing
    does not lose the others' codes: returns (codes, names of the plugins that failed)."""

    def classify(record: Record) -> tuple[list[str], list[str]]:
        codes: list[str] = []
        failed: list[str] = []
        for impl in plugins.hook.records_classify.get_hookimpls():
            try:
                proposed = impl.function(record=record) or []
            except Exception as exc:  # noqa: BLE001 - a notification-like hook: report, never fail the filing
                failure = failure_report(impl.plugin_name, "records_classify", exc, customer_identifiers(record))
                failed.append(impl.plugin_name)
                status = getattr(plugins, "status", None)
                if status is not None:
                    status.failed(failure)
                continue
            codes.extend(c for c in proposed if isinstance(c, str) and CODE.fullmatch(c))
        return list(dict.fromkeys(codes)), failed

    return classify


@dataclass
class SchemeRegistry:
    schemes: dict[str, ClassificationScheme] = field(default_factory=dict)

    @classmethod
    def from_plugins(cls, hook) -> SchemeRegistry:  # type: ignore[no-untyped-def]
        registry = cls()
        # First registration of a name wins: installed plugins are called before built-ins.
        hook.records_register_classification_schemes(register=lambda s: registry.schemes.setdefault(s.name, s))
        return registry

    def defines(self, code: str) -> bool:
        """Whether ``code`` is ``scheme`` or ``scheme:code`` of a registered scheme."""
        name, _, local = code.partition(":")
        scheme = self.schemes.get(name)
        return scheme is not None and (not local or any(c.code == local for c in scheme.codes))

    def check(self, codes: list[str], field: str = "classification", kept: list[str] | tuple[str, ...] = ()) -> None:
        """Refuse (422 ``unknown_classification``) a code that no registered scheme defines. Codes in
        ``kept`` (already stored, perhaps of a scheme whose plugin was disabled since) stay valid."""
        unknown = [c for c in dict.fromkeys(codes) if c not in kept and not self.defines(c)]
        if unknown:
            known = ", ".join(sorted(self.schemes)) or "none"
            raise UnknownClassification(
                f"no registered classification scheme defines {', '.join(unknown[:5])}; schemes: {known} "
                "(GET /api/v1/classification-schemes lists their codes)", field=field, codes=unknown[:50],
                schemes=sorted(self.schemes))

    def inactive(self, codes: list[str]) -> list[str]:
        """Stored codes whose scheme is no longer registered (its plugin disabled): shown as such, still valid."""
        return [c for c in codes if not self.defines(c)]
