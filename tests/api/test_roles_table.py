"""README's Roles table is the authorization matrix: each row's operations admit exactly the roles
it marks, every API operation is in one row, and `masked` marks exactly the readers who see
personal data masked. A guard that changes without README (or the reverse) fails here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from litestar import Litestar

from records.roles import Role
from records.settings import RecordsSettings

README = Path(__file__).resolve().parents[2] / "README.md"
OPERATION = re.compile(r"`(GET|POST|PATCH|PUT|DELETE) (/[^`]*)`")
DENIED = "—"


@dataclass(frozen=True)
class Row:
    what: str
    operations: frozenset[tuple[str, str]]
    cells: dict[str, str]

    @property
    def admitted(self) -> set[str]:
        return {role for role, cell in self.cells.items() if cell != DENIED}


def _normalised(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def roles_table() -> tuple[list[str], list[Row]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Roles\n"):]
    section = section[:section.index("\n## ", 1)]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    roles = header[2:]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        operations = frozenset((method, "/api/v1" + _normalised(path)) for method, path in OPERATION.findall(cells[1]))
        rows.append(Row(cells[0], operations, dict(zip(roles, cells[2:], strict=True))))
    return roles, rows


def app_operations(app: Litestar) -> dict[tuple[str, str], set[str]]:
    found = {}
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                path = _normalised(re.sub(r":\w+\}", "}", route.path))
                found[(method, path)] = {role.value for role in handler.opt.get("roles") or ()}
    return found


def test_the_table_has_a_column_for_every_role() -> None:
    roles, rows = roles_table()
    assert roles == [role.value for role in Role]
    assert rows and all(row.operations for row in rows), [row.what for row in rows if not row.operations]


def test_every_operation_is_in_exactly_one_row_and_admits_exactly_its_roles(app: Litestar) -> None:
    _, rows = roles_table()
    operations = app_operations(app)
    listed = [operation for row in rows for operation in row.operations]
    assert sorted({o for o in listed if listed.count(o) > 1}) == [], "operations in more than one row"
    assert sorted(set(operations) - set(listed)) == [], "API operations README's Roles table does not list"
    assert sorted(set(listed) - set(operations)) == [], "operations README lists that the API does not have"
    drift = [f"{method} {path}: README says {sorted(row.admitted)}, the guard admits {sorted(operations[(method, path)])}"
             for row in rows for method, path in sorted(row.operations) if operations[(method, path)] != row.admitted]
    assert drift == []


def test_masked_marks_exactly_the_readers_outside_the_identity_roles(app: Litestar, settings: RecordsSettings) -> None:
    _, rows = roles_table()
    identity = set(settings.names("identity_roles"))
    read = next(row for row in rows if ("GET", "/api/v1/records/{}") in row.operations)
    masked = {role for role, cell in read.cells.items() if cell == "masked"}
    assert masked == read.admitted - identity
    assert all(cell != "masked" for row in rows if row is not read for cell in row.cells.values()
               if not any(path.startswith("/api/v1/records") and method == "GET" for method, path in row.operations))
