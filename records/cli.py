"""The ``records`` command line: serve the API and administer an installation.

Every command takes ``--data-dir`` (or ``RECORDS_DATA_DIR``). Failures print
``error [code]: message`` on stderr and exit with status 2 (bad input) or 1 (anything else),
never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from records.errors import InvalidInput, RecordsError
from records.roles import Role
from records.settings import RecordsSettings, load_settings

T = TypeVar("T")

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default ./records-data, or RECORDS_DATA_DIR).",
)


class RecordsCliError(click.ClickException):
    def __init__(self, error: RecordsError) -> None:
        super().__init__(error.detail)
        self.code = error.code
        self.exit_code = 2 if isinstance(error, InvalidInput) or error.status in (404, 409, 422) else 1

    def format_message(self) -> str:
        return f"[{self.code}] {self.message}"


def _settings(**overrides: Any) -> RecordsSettings:
    try:
        return load_settings(**overrides)
    except RecordsError as exc:
        raise RecordsCliError(exc) from None


def _with_storage(settings: RecordsSettings, action: Callable[[Any], Awaitable[T]]) -> T:
    """Open storage, run ``action(storage)``, close it; domain errors become CLI errors."""
    from records.storage import open_storage

    async def run() -> T:
        storage = open_storage(settings)
        try:
            return await action(storage)
        finally:
            await storage.close()

    try:
        return asyncio.run(run())
    except RecordsError as exc:
        raise RecordsCliError(exc) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="records")
def main() -> None:
    """records: governance of customer-service files."""


@main.command()
@data_dir_option
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1, or RECORDS_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000, or RECORDS_PORT).")
def serve(data_dir: Path | None, host: str | None, port: int | None) -> None:
    """Start the API server (initialises the data dir on first start)."""
    import uvicorn

    from records.api.app import create_app

    settings = _settings(data_dir=data_dir, host=host, port=port)
    _with_storage(settings, _noop)  # fail here, clearly, if the data dir cannot be used
    click.echo(f"records: data dir {settings.data_dir.resolve()}, listening on http://{settings.host}:{settings.port}", err=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
    )


async def _noop(_: Any) -> None:
    return None


@main.command()
@data_dir_option
def init(data_dir: Path | None) -> None:
    """Create and initialise the data dir (serve does this on first start too)."""
    settings = _settings(data_dir=data_dir)
    _with_storage(settings, _noop)
    click.echo(f"initialised {settings.data_dir.resolve()}", err=True)


@main.group()
def tokens() -> None:
    """Issue, list and revoke API tokens."""


@tokens.command("create")
@data_dir_option
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]), help="Role the token grants.")
@click.option("--name", required=True, help="Who or what holds the token (unique among active tokens).")
def tokens_create(data_dir: Path | None, role: str, name: str) -> None:
    """Issue a token; prints the token and nothing else on stdout."""
    from records.services.tokens import TokenService

    issued = _with_storage(_settings(data_dir=data_dir), lambda s: TokenService(s.tokens).issue(name, role))
    click.echo(issued.token)


@tokens.command("list")
@data_dir_option
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def tokens_list(data_dir: Path | None, include_revoked: bool, as_json: bool) -> None:
    """List tokens (names and roles; secrets are never stored)."""
    from records.services.tokens import TokenService

    found = _with_storage(
        _settings(data_dir=data_dir), lambda s: TokenService(s.tokens).list(include_revoked=include_revoked)
    )
    rows = [
        {
            "name": t.name,
            "role": t.role.value,
            "created_at": t.created_at.isoformat(),
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        }
        for t in found
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'NAME':<24} {'ROLE':<20} {'CREATED':<32} REVOKED")
    for row in rows:
        click.echo(f"{row['name']:<24} {row['role']:<20} {row['created_at']:<32} {row['revoked_at'] or '-'}")


@tokens.command("revoke")
@data_dir_option
@click.argument("name")
def tokens_revoke(data_dir: Path | None, name: str) -> None:
    """Revoke the active token called NAME."""
    from records.services.tokens import TokenService

    _with_storage(_settings(data_dir=data_dir), lambda s: TokenService(s.tokens).revoke(name))
    click.echo(f"revoked {name}", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
