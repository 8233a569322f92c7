"""Every import of the code we ship is a dependency that `pip install .` installs.

A user who follows README installs the package without extras and runs it; an import that only
arrives with the test extra (as `packaging` once did) works in CI and breaks for them. These
tests read pyproject.toml and every module of the wheel, the way a fresh install would see them.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# The production drivers are imported only here, and only when the configuration asks for them.
PRODUCTION_ADAPTERS = (ROOT / "records/storage/mongodb", ROOT / "records/storage/s3.py")


@dataclass(frozen=True)
class Import:
    module: Path
    line: int
    name: str  # the imported module's top-level package
    at_top_level: bool  # executed when the module is imported (not inside a function)

    def __str__(self) -> str:
        return f"{self.module.relative_to(ROOT)}:{self.line} imports {self.name}"


def _imports(module: Path) -> list[Import]:
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    found: list[Import] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(module, child.lineno, alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append(Import(module, child.lineno, child.module, top))
            visit(child, top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, True)
    return found


def _wheel_packages() -> list[Path]:
    return [ROOT / package for package in PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]]


def _modules(packages: list[Path]) -> list[Path]:
    return sorted(module for package in packages for module in package.rglob("*.py"))


def _declared(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(requirement).name) for requirement in requirements}


@functools.cache
def _installed() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(top_level: str) -> set[str]:
    return {canonicalize_name(name) for name in _installed().get(top_level, [])}


def _in_production_adapter(module: Path) -> bool:
    return any(module == adapter or adapter in module.parents for adapter in PRODUCTION_ADAPTERS)


def _third_party(imports: list[Import], first_party: set[str]) -> list[Import]:
    return [found for found in imports
            if found.name.split(".")[0] not in sys.stdlib_module_names and found.name.split(".")[0] not in first_party]


FIRST_PARTY = {package.name for package in _wheel_packages()}
CORE = _declared(PYPROJECT["project"]["dependencies"])
PRODUCTION = _declared(PYPROJECT["project"]["optional-dependencies"]["production"])
SHIPPED_IMPORTS = [found for module in _modules(_wheel_packages()) for found in _imports(module)]


def test_the_modules_of_the_wheel_are_found() -> None:
    # Guards the tests below against passing over an empty tree.
    assert {"records", "records_telecom"} <= FIRST_PARTY
    assert any(found.name == "litestar" for found in SHIPPED_IMPORTS)


def test_every_import_of_the_core_is_a_declared_dependency() -> None:
    undeclared = [
        f"{found}, which comes from {sorted(_distributions(found.name.split('.')[0])) or 'no installed distribution'}"
        for found in _third_party(SHIPPED_IMPORTS, FIRST_PARTY)
        if not _in_production_adapter(found.module) and not _distributions(found.name.split(".")[0]) & CORE
    ]
    assert not undeclared, "not in [project] dependencies of pyproject.toml:\n" + "\n".join(undeclared)


def test_every_import_of_the_production_adapters_is_declared_in_the_production_extra() -> None:
    adapters = [found for found in _third_party(SHIPPED_IMPORTS, FIRST_PARTY) if _in_production_adapter(found.module)]
    assert any(found.name.startswith("beanie") for found in adapters)
    undeclared = [str(found) for found in adapters if not _distributions(found.name.split(".")[0]) & (CORE | PRODUCTION)]
    assert not undeclared, "not in the production extra of pyproject.toml:\n" + "\n".join(undeclared)


def test_the_production_adapters_are_imported_only_when_configured() -> None:
    # `pip install .` has no MongoDB or S3 driver: the core may import an adapter only lazily
    # (records.storage.open_storage turns the ImportError into [missing_dependency]).
    eager = [str(found) for found in SHIPPED_IMPORTS
             if found.at_top_level and not _in_production_adapter(found.module)
             and found.name.startswith(("records.storage.mongodb", "records.storage.s3"))]
    assert not eager, "imported at module level outside the adapters:\n" + "\n".join(eager)


@pytest.mark.parametrize("project", sorted(path.parent for path in (ROOT / "plugins").glob("*/pyproject.toml")),
                         ids=lambda path: path.name)
def test_every_import_of_a_separately_packaged_plugin_is_its_dependency_or_the_service(project: Path) -> None:
    metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [project / package for package in metadata["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]]
    declared = _declared(metadata["project"].get("dependencies", []))
    undeclared = [str(found) for module in _modules(packages)
                  for found in _third_party(_imports(module), {package.name for package in packages} | {"records"})
                  if not _distributions(found.name.split(".")[0]) & declared]
    assert not undeclared, f"not in the dependencies of {project.name}/pyproject.toml:\n" + "\n".join(undeclared)
