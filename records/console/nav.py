"""The console's navigation: each entry's label (a message id), path, and the roles that see it.
A page module adds its entry to ``NAVIGATION``; the base template shows a viewer the entries of
their role, in this order."""

from __future__ import annotations

from dataclasses import dataclass

from records.console.i18n import N_
from records.roles import FILE_RECORDS, READ_RECORDS, Role


@dataclass(frozen=True, slots=True)
class NavEntry:
    label: str  # msgid, translated when the page is rendered
    path: str
    roles: frozenset[Role]


EVERYONE = frozenset(Role)

NAVIGATION: list[NavEntry] = [
    NavEntry(N_("Home"), "/console/", EVERYONE),
    NavEntry(N_("Files"), "/console/records/", READ_RECORDS),
    NavEntry(N_("File a new one"), "/console/records/new", FILE_RECORDS),
    NavEntry(N_("Metrics"), "/console/metrics/", READ_RECORDS),
    NavEntry(N_("Audit log"), "/console/audit", frozenset({Role.compliance_officer, Role.admin})),
    NavEntry(N_("Log integrity"), "/console/audit/integrity", frozenset({Role.compliance_officer, Role.admin})),
    NavEntry(N_("Retention"), "/console/retention/batches",
             frozenset({Role.archivist, Role.admin, Role.compliance_officer})),
    # Supervisors review disposals at the stages that name them but see no other retention page.
    NavEntry(N_("Disposal reviews"), "/console/retention/reviews/", frozenset({Role.supervisor})),
    NavEntry(N_("Plugins"), "/console/plugins/", frozenset({Role.admin, Role.plugin_manager})),
    NavEntry(N_("Administration"), "/console/admin/tokens/", frozenset({Role.admin})),
]


def entries_for(role: Role | None) -> list[NavEntry]:
    return [entry for entry in NAVIGATION if role is not None and role in entry.roles]

