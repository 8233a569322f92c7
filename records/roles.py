"""Who may act: the roles a token carries and the authenticated principal of a request."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    admin = "admin"  # runs the service: tokens, everything else
    agent = "agent"  # customer-service staff: file and handle their files (SPEC §3.2 first-contact owner)
    supervisor = "supervisor"  # oversees agents: edits any file, reassigns owners
    archivist = "archivist"  # archive, retention, disposition
    compliance_officer = "compliance_officer"  # reads records and the access log, changes nothing
    plugin_manager = "plugin_manager"  # installs and manages plugins


# Roles grouped by what they may do to records; endpoints and services share these.
READ_RECORDS = frozenset({Role.admin, Role.agent, Role.supervisor, Role.archivist, Role.compliance_officer})
FILE_RECORDS = frozenset({Role.admin, Role.agent, Role.supervisor})
EDIT_ANY_RECORD = frozenset({Role.admin, Role.supervisor})
REASSIGN_RECORDS = frozenset({Role.admin, Role.supervisor})
MANAGE_TOKENS = frozenset({Role.admin})
# May ask for a transition; each transition of a workflow names which of them it admits.
TRANSITION_ROLES = frozenset({Role.admin, Role.agent, Role.supervisor, Role.archivist})


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: the name of the token used and the role it grants."""

    name: str
    role: Role
