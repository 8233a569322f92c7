"""The ``records`` command line: serve the API and administer an installation.

Every command takes ``--data-dir`` (or ``RECORDS_DATA_DIR``). Only ``serve`` and ``init`` create
a data dir; every other command refuses one that does not exist (``no_data_dir``), since a new
one would hold tokens and keys that no running service knows. Failures print
``Error: [code] message`` on stderr and exit with status 2 (bad input) or 1 (anything else),
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

from records.errors import InvalidInput, KeyUnavailable, NoDataDir, RecordsError
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


def _existing_data_dir(settings: RecordsSettings) -> None:
    """Refuse a data dir that is not there (or, embedded, holds no store) instead of creating one."""
    where = settings.data_dir.resolve()
    hint = (f"run `records init --data-dir {where}` to create one, or point --data-dir (or RECORDS_DATA_DIR) "
            "at the data dir of the service")
    if not settings.data_dir.is_dir():
        raise RecordsCliError(NoDataDir(f"no data dir at {where}: {hint}"))
    if settings.store == "sqlite" and not settings.database_path.is_file():
        raise RecordsCliError(NoDataDir(f"{where} holds no records installation (no {settings.database_path.name}): {hint}"))


def _existing_settings(data_dir: Path | None) -> RecordsSettings:
    """The settings of a command that works on an existing installation (all but serve and init)."""
    settings = _settings(data_dir=data_dir)
    _existing_data_dir(settings)
    return settings


def _with_installation(settings: RecordsSettings, action: Callable[[Any], Awaitable[T]], audit: str | None = None,
                       create: bool = False) -> T:
    """Open the installation, run ``action(installation)``, close it; domain errors become CLI errors.

    Only with ``create`` (serve, init) may the data dir be created. With ``audit``, the command is
    an audited action (actor ``cli:<user>``): its event commits with its change, or is appended
    after it; a failed command leaves a ``failed`` event.
    """
    if not create:
        _existing_data_dir(settings)
    from records.audit import trail as audit_trail
    from records.audit.events import Outcome
    from records.installation import Installation

    async def run() -> T:
        installation = await Installation.open(settings)
        trail = audit_trail.cli_trail(audit) if audit else None
        token = audit_trail.begin(trail) if trail else None
        try:
            result = await action(installation)
            if trail is not None and not trail.recorded:
                await installation.audit.append([trail.draft(Outcome.allowed)])
            return result
        except RecordsError:
            if trail is not None and not trail.recorded:
                await installation.audit.append([trail.draft(Outcome.failed)])
            raise
        finally:
            if token is not None:
                audit_trail.end(token)
            await installation.close()

    try:
        return asyncio.run(run())
    except RecordsError as exc:
        raise RecordsCliError(exc) from None


class RecordsGroup(click.Group):
    """Operators get ``[code] message``, never a traceback: an error nobody anticipated (a full
    disk mid-command, a bug) is reported as ``internal_error`` with its type and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except RecordsError as exc:
            raise RecordsCliError(exc) from None
        except OSError as exc:
            raise InternalCliError(f"{type(exc).__name__}: {exc.strerror or exc}") from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence before a traceback
            raise InternalCliError(f"unexpected {type(exc).__name__}: {exc}") from None


class InternalCliError(click.ClickException):
    exit_code = 1

    def format_message(self) -> str:
        return f"[internal_error] {self.message}"


@click.group(cls=RecordsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="records")
def main() -> None:
    """records: governance of customer-service files."""
    from records import access_log

    access_log.quiet_libraries()  # retention commands write transfer packages too


@main.command()
@data_dir_option
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1, or RECORDS_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000, or RECORDS_PORT).")
def serve(data_dir: Path | None, host: str | None, port: int | None) -> None:
    """Start the API server (initialises the data dir on first start)."""
    import uvicorn

    from records import access_log
    from records.api.app import create_app
    from records.storage.sqlite.backup import serving_lock

    settings = _settings(data_dir=data_dir, host=host, port=port)
    # README's one-command start: the first start creates the data dir. Fail here, clearly, if it cannot be used.
    _with_installation(settings, _noop, create=True)
    click.echo(f"records: data dir {settings.data_dir.resolve()}, listening on http://{settings.host}:{settings.port}", err=True)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
        # uvicorn would believe X-Forwarded-For from 127.0.0.1, where every client of the default
        # bind comes from; the app's ClientAddressMiddleware believes RECORDS_TRUSTED_PROXIES only.
        proxy_headers=False,
        forwarded_allow_ips=[],
    )
    uvicorn_server = uvicorn.Server(config)  # Config configures logging; filters go on afterwards
    access_log.install()
    try:
        with serving_lock(settings.data_dir, exclusive=False):
            uvicorn_server.run()
    except RecordsError as exc:
        raise RecordsCliError(exc) from None


async def _noop(_: Any) -> None:
    return None


@main.command()
@data_dir_option
def init(data_dir: Path | None) -> None:
    """Create and initialise the data dir (serve does this on first start too); the other commands
    need one that exists."""
    settings = _settings(data_dir=data_dir)
    existed = settings.data_dir.is_dir() and (settings.store != "sqlite" or settings.database_path.is_file())
    _with_installation(settings, _noop, create=True)
    where = settings.data_dir.resolve()
    click.echo(f"{where} was already initialised" if existed else f"initialised {where}", err=True)


@main.group()
def tokens() -> None:
    """Issue, list and revoke API tokens."""


@tokens.command("create")
@data_dir_option
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]), help="Role the token grants.")
@click.option("--name", required=True, help="Who or what holds the token (unique among active tokens).")
def tokens_create(data_dir: Path | None, role: str, name: str) -> None:
    """Issue a token; prints the token and nothing else on stdout."""
    issued = _with_installation(_existing_settings(data_dir), lambda i: i.tokens.issue(name, role), audit="token.create")
    click.echo(issued.token)


@tokens.command("list")
@data_dir_option
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def tokens_list(data_dir: Path | None, include_revoked: bool, as_json: bool) -> None:
    """List tokens (names and roles; secrets are never stored)."""
    found = _with_installation(
        _existing_settings(data_dir), lambda i: i.tokens.list(include_revoked=include_revoked), audit="token.list"
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
    _with_installation(_existing_settings(data_dir), lambda i: i.tokens.revoke(name), audit="token.revoke")
    click.echo(f"revoked {name}", err=True)


@main.group()
def keys() -> None:
    """Key-encryption keys: status and rotation."""


@keys.command("status")
@data_dir_option
def keys_status(data_dir: Path | None) -> None:
    """KEKs with their state and how many data keys each wraps."""

    async def status(installation: Any) -> list[tuple[str, str, str, int]]:
        counts = await installation.storage.data_keys.count_by_kek()
        return [(k.kek_id, k.state, k.created_at, counts.get(k.kek_id, 0)) for k in installation.keys.keks.keks()]

    rows = _with_installation(_existing_settings(data_dir), status, audit="keys.status")
    click.echo(f"{'KEK':<32} {'STATE':<10} {'CREATED':<28} DATA KEYS")
    for kek_id, state, created, count in rows:
        click.echo(f"{kek_id:<32} {state:<10} {created:<28} {count}")


@keys.command("rotate")
@data_dir_option
def keys_rotate(data_dir: Path | None) -> None:
    """Add a new KEK and re-wrap every data key under it (no data is re-encrypted).

    Safe to interrupt: running it again resumes the unfinished rotation. The old KEK is erased
    once no data key uses it. Backups taken before then need the old KEK: take a new backup.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    settings = _existing_settings(data_dir)
    # rich draws the bar on stderr and only on a terminal, so scripts get clean output.
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        transient=True, console=_stderr_console(),
    ) as bar:
        task = bar.add_task("re-wrapping data keys", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = _with_installation(
            settings,
            lambda i: i.keys.rotate(grace_seconds=settings.key_rotation_grace_seconds, progress=progress),
            audit="keys.rotate",
        )
    verb = "resumed rotation to" if report.resumed else "rotated to"
    click.echo(f"{verb} {report.active_kek}: re-wrapped {report.rewrapped} data key(s)", err=True)
    for kek_id in report.retired:
        click.echo(f"retired {kek_id}", err=True)
    for kek_id, count in report.still_in_use.items():
        click.echo(f"{kek_id} still wraps {count} data key(s); run `records keys rotate` again", err=True)


def _stderr_console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=True)


@main.command("backup")
@data_dir_option
@click.option("--to", "destination", required=True, type=click.Path(file_okay=False, path_type=Path), help="New directory.")
def backup_command(data_dir: Path | None, destination: Path) -> None:
    """Write a consistent online snapshot of records and attachments (never the keyring)."""
    from records.storage.sqlite.backup import backup

    settings = _existing_settings(data_dir)
    _with_installation(settings, _noop, audit="backup")  # checked and audited before copying anything
    try:
        summary = backup(settings.data_dir, destination)
    except RecordsError as exc:
        raise RecordsCliError(exc) from None
    click.echo(f"backed up {summary.records} record(s), {summary.blobs} blob(s), {summary.bytes} bytes to {summary.path}", err=True)


async def _destroyed_again(installation: Any) -> int:
    return installation.destroyed_again


@main.command("restore")
@data_dir_option
@click.option("--from", "source", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace records the data dir already holds.")
def restore_command(data_dir: Path | None, source: Path, force: bool) -> None:
    """Bring a backup back into the data dir (service stopped). Keys destroyed since stay destroyed."""
    from records.crypto.keyring import LocalKeyring, parse_master_key
    from records.plugins.manager import plugin_manager
    from records.storage.sqlite.backup import restore, serving_lock

    settings = _settings(data_dir=data_dir)
    keyring_file = settings.keyring_path / LocalKeyring.FILE
    try:
        if not keyring_file.is_file():
            raise KeyUnavailable(
                f"no keyring at {settings.keyring_path}: a backup holds only ciphertext; put this installation's keyring there first"
            )
        with serving_lock(settings.data_dir, exclusive=True):
            master = parse_master_key(settings.master_key.get_secret_value()) if settings.master_key else None
            keyring = LocalKeyring.open(settings.keyring_path, master)
            # The same provider the service uses (a KMS plugin, or the local keyring) judges the backup.
            keks = plugin_manager(block=settings.names("plugins_block")).hook.records_key_provider(settings=settings, keyring=keyring)
            manifest = restore(source, settings.data_dir, keks, force=force)
            # Opening enforces the register of destroyed keys on what was just restored.
            destroyed = _with_installation(settings, _destroyed_again, audit="restore")
    except RecordsError as exc:
        raise RecordsCliError(exc) from None
    click.echo(f"restored {manifest['records']} record(s) from a backup of {manifest['created_at']}", err=True)
    if destroyed:
        click.echo(f"{destroyed} record(s) destroyed since that backup stay destroyed", err=True)


@main.command("migrate")
@data_dir_option
@click.option("--to-store", required=True, help="mongodb:// URL of the target (a replica set; an empty database).")
@click.option("--to-blobs", default="file", show_default=True,
              help="Target blob store: s3://BUCKET (with RECORDS_S3_* settings), or file to keep blobs in the data dir.")
def migrate_command(data_dir: Path | None, to_store: str, to_blobs: str) -> None:
    """Move this embedded installation to MongoDB (and S3), then prove the copy identical:
    counts, content hashes, audit tree root. Run with the service stopped; the source is only read."""
    from records.storage import open_storage
    from records.storage.embedded import EmbeddedStorage
    from records.storage.migration import migrate

    settings = _settings(data_dir=data_dir)
    target_settings = _settings(data_dir=data_dir, store=to_store, blobs=to_blobs)
    if settings.store != "sqlite" or not to_store.startswith(("mongodb://", "mongodb+srv://")):
        raise RecordsCliError(InvalidInput("migrate moves an embedded (sqlite) installation to a mongodb:// store"))
    if not (settings.data_dir / "records.sqlite3").is_file():
        raise RecordsCliError(InvalidInput(f"{settings.data_dir} holds no embedded installation"))

    async def run() -> Any:
        source = EmbeddedStorage.open(settings.data_dir)
        target = open_storage(target_settings)
        try:
            return await migrate(source, target, progress=lambda step: click.echo(f"migrating {step}…", err=True))
        finally:
            await source.close()
            await target.close()

    try:
        report = asyncio.run(run())
    except RecordsError as exc:
        raise RecordsCliError(exc) from None
    for what, (before, after) in report.counts.items():
        click.echo(f"{what:<14} {before:>10} {after:>10}  {'same' if before == after else 'DIFFERENT'}")
    for what, (before, after) in (("records sha256", report.records_digest), ("blobs sha256", report.blobs_digest),
                                  ("audit root", report.audit_root)):
        click.echo(f"{what:<14} {before}  {'same' if before == after else 'DIFFERENT: ' + after}")
    if not report.identical:
        click.echo("migration NOT proven identical", err=True)
        raise SystemExit(1)
    click.echo("migration proven identical: point RECORDS_STORE and RECORDS_BLOBS at the target", err=True)


@main.group()
def audit() -> None:
    """The access log: verify it, seal it."""


@audit.command("verify")
@data_dir_option
def audit_verify(data_dir: Path | None) -> None:
    """Recompute the Merkle tree and check every checkpoint; exit 0 only if the log is intact."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    settings = _existing_settings(data_dir)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), transient=True,
                  console=_stderr_console()) as bar:
        task = bar.add_task("verifying events", total=None)
        # Verification judges the log as it was; its own event is appended after the judgement.
        report = _with_installation(
            settings,
            lambda i: i.audit.verify(lambda done, total: bar.update(task, completed=done, total=total)),
            audit="audit.verify",
        )
    if report.ok:
        click.echo(f"audit log intact: {report.events} event(s), {report.checkpoints} checkpoint(s) verified")
        return
    click.echo(f"audit log NOT intact: {report.problem}", err=True)
    raise SystemExit(1)


async def _seal_with_its_event(installation: Any) -> Any:
    """The command's own event goes in first, so the checkpoint covers it too."""
    from records.audit import trail as audit_trail

    trail = audit_trail.current()
    if trail is not None:
        await installation.audit.append([trail.draft()])
        trail.recorded = True
    return await installation.audit.seal()


@audit.command("seal")
@data_dir_option
def audit_seal(data_dir: Path | None) -> None:
    """Seal pending events into a new signed checkpoint and print it as JSON."""
    checkpoint = _with_installation(_existing_settings(data_dir), _seal_with_its_event, audit="audit.checkpoint.seal")
    click.echo(checkpoint.model_dump_json())


@main.group()
def retention() -> None:
    """Retention and disposition: sweep due records, execute batches, verify certificates."""


def _progress_bar(description: str):  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=True, console=_stderr_console())


@retention.command("sweep")
@data_dir_option
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="Sweep as of this UTC date (default now); a later date only forecasts.")
@click.option("--json", "as_json", is_flag=True, help="Print the batches as JSON.")
def retention_sweep(data_dir: Path | None, as_of: Any, as_json: bool) -> None:
    """Gather due, unheld records into disposition batches (after assigning any archived record
    that has no schedule yet)."""
    from records.retention.service import SYSTEM

    settings = _existing_settings(data_dir)
    with _progress_bar("sweeping due records") as bar:
        task = bar.add_task("sweeping due records", total=None)

        async def sweep(installation: Any) -> Any:
            from records.audit import trail as audit_trail

            trail = audit_trail.current()
            actor = SYSTEM if trail is None else type(SYSTEM)(trail.actor or "cli", "operator")  # type: ignore[arg-type]
            return await installation.retention.sweep(actor, as_of=as_of, reconcile=True,
                                                      progress=lambda n: bar.update(task, completed=n))

        result = _with_installation(settings, sweep, audit="retention.sweep")
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    verb = "would gather" if result.forecast else "gathered"
    click.echo(f"{verb} {result.due} due record(s) into {len(result.batches)} batch(es); {result.held} left out under "
               f"legal hold; {result.assigned} archived record(s) assigned a schedule", err=True)
    for batch in result.batches:
        click.echo(f"{batch.id or 'forecast'}\t{batch.status.value}\t{len(batch.items)} item(s)")


@retention.command("execute")
@data_dir_option
@click.argument("batch_id")
def retention_execute(data_dir: Path | None, batch_id: str) -> None:
    """Execute (or resume) a decided disposition batch, with a progress bar; prints its certificate id."""
    from records.roles import Principal

    settings = _existing_settings(data_dir)
    with _progress_bar("disposing") as bar:
        task = bar.add_task("disposing", total=None)

        async def run(installation: Any) -> Any:
            from records.audit import trail as audit_trail

            trail = audit_trail.current()
            actor = Principal(trail.actor if trail else "cli", "operator")  # type: ignore[arg-type]
            await installation.retention.start_execution(batch_id, actor)
            return await installation.retention.run(
                batch_id, progress=lambda done, total: bar.update(task, completed=done, total=total))

        batch = _with_installation(settings, run, audit="retention.batch.execute")
    progress = batch.progress
    click.echo(f"batch {batch.id} {batch.status.value}: {progress.disposed} disposed of, {progress.kept} kept, "
               f"{progress.held} held", err=True)
    if batch.certificate_id:
        click.echo(batch.certificate_id)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


# --- plugins -------------------------------------------------------------------------------------


def _operator():  # type: ignore[no-untyped-def]
    """The CLI acts as the operator at the machine (who may do anything the data dir allows)."""
    from records.audit.trail import cli_trail
    from records.roles import Principal

    return Principal(name=cli_trail("plugin").actor or "cli", role=Role.plugin_manager)


def _read_file(path: Path, what: str, limit: int) -> bytes:
    try:
        if path.stat().st_size > limit:
            raise RecordsCliError(InvalidInput(f"{what} {path} is larger than {limit} bytes"))
        return path.read_bytes()
    except OSError as exc:
        raise RecordsCliError(InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}")) from None


@main.group()
def plugins() -> None:
    """Install, switch and remove plugins; sign wheels; manage trusted publisher keys."""


def _plugin_service(installation):  # type: ignore[no-untyped-def]
    if installation.plugin_service is None:
        raise InvalidInput("this installation has no plugin service")
    return installation.plugin_service


@plugins.command("list")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_list(data_dir: Path | None, as_json: bool) -> None:
    """Every plugin: origin, version, status, hooks."""
    items = _with_installation(_existing_settings(data_dir), lambda i: _plugin_service(i).list(), audit="plugin.list")
    if as_json:
        click.echo(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    click.echo(f"{'NAME':<34} {'ORIGIN':<10} {'VERSION':<10} {'STATUS':<9} HOOKS")
    for item in items:
        click.echo(f"{item.name:<34} {item.origin:<10} {item.version or '-':<10} {item.status:<9} {', '.join(item.hooks) or '-'}"
                   + (f"  ({item.error})" if item.error else ""))


@plugins.command("install")
@data_dir_option
@click.argument("wheel", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--signature", "signature_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File holding the base64 signature (default: WHEEL.sig).")
def plugins_install(data_dir: Path | None, wheel: Path, signature_file: Path | None) -> None:
    """Install or upgrade a plugin from a signed wheel; running servers pick it up."""
    settings = _existing_settings(data_dir)
    data = _read_file(wheel, "wheel", settings.max_plugin_bytes)
    signature = _read_file(signature_file or wheel.with_name(wheel.name + ".sig"), "signature", 1024)
    info = _with_installation(settings, lambda i: _plugin_service(i).install(wheel.name, data, signature, _operator()),
                              audit="plugin.install")
    click.echo(f"installed {info.name} {info.version} (signed by {info.publisher}), {info.status}; hooks: {', '.join(info.hooks)}")


def _switch(data_dir: Path | None, name: str, enabled: bool) -> None:
    action = "plugin.enable" if enabled else "plugin.disable"
    info = _with_installation(_existing_settings(data_dir),
                              lambda i: _plugin_service(i).set_enabled(name, enabled, _operator()), audit=action)
    click.echo(f"{info.name}: {info.status}")


@plugins.command("enable")
@data_dir_option
@click.argument("name")
def plugins_enable(data_dir: Path | None, name: str) -> None:
    """Switch a plugin back on."""
    _switch(data_dir, name, True)


@plugins.command("disable")
@data_dir_option
@click.argument("name")
def plugins_disable(data_dir: Path | None, name: str) -> None:
    """Switch a plugin off (built-ins included)."""
    _switch(data_dir, name, False)


@plugins.command("uninstall")
@data_dir_option
@click.argument("name")
def plugins_uninstall(data_dir: Path | None, name: str) -> None:
    """Remove an installed plugin (built-ins can only be disabled)."""
    _with_installation(_existing_settings(data_dir), lambda i: _plugin_service(i).uninstall(name, _operator()),
                       audit="plugin.uninstall")
    click.echo(f"uninstalled {name}")


@plugins.command("trust")
@data_dir_option
@click.argument("name")
@click.argument("keyfile", type=click.Path(dir_okay=False, path_type=Path))
def plugins_trust(data_dir: Path | None, name: str, keyfile: Path) -> None:
    """Trust the publisher public key in KEYFILE (PEM) under NAME."""
    pem = _read_file(keyfile, "public key", 4096).decode("utf-8", "replace")
    key = _with_installation(_existing_settings(data_dir), lambda i: _plugin_service(i).trust(name, pem, _operator()),
                             audit="trusted_key.add")
    click.echo(f"trusted {key.name} ({key.fingerprint})")


@plugins.command("keygen")
@click.option("--out", "keyfile", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key (mode 0600); the public key goes to OUT.pub. Keep it out of any repository.")
def plugins_keygen(keyfile: Path) -> None:
    """Write a new Ed25519 publisher key to --out (mode 0600) and its public key to OUT.pub; print
    the public key. Never overwrites a key."""
    import os

    from records.plugins.signing import new_private_key_pem

    private, public = new_private_key_pem()
    pub = keyfile.with_name(keyfile.name + ".pub")
    for path in (keyfile, pub):
        if path.exists():
            raise RecordsCliError(InvalidInput(f"{path} exists; not overwriting a key"))
    try:
        fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            with os.fdopen(fd, "wb") as out:
                out.write(private)
        except BaseException:
            keyfile.unlink(missing_ok=True)
            raise
        try:
            with open(pub, "x", encoding="ascii") as out:
                out.write(public)
        except OSError:
            keyfile.unlink(missing_ok=True)  # half a key pair is no use: leave nothing
            raise
    except FileExistsError as exc:
        raise RecordsCliError(InvalidInput(f"{exc.filename} exists; not overwriting a key")) from None
    except OSError as exc:
        raise RecordsCliError(InvalidInput(f"cannot write {keyfile}: {exc.strerror or exc}")) from None
    click.echo(f"wrote the private key to {keyfile.resolve()} (mode 0600; keep it secret, out of any repository) "
               f"and the public key to {pub.resolve()}", err=True)
    click.echo(public, nl=False)


@plugins.command("sign")
@click.option("--key", "keyfile", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Ed25519 private key (PEM).")
@click.argument("wheel", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Default: WHEEL.sig.")
def plugins_sign(keyfile: Path, wheel: Path, output: Path | None) -> None:
    """Sign WHEEL: writes the base64 Ed25519 signature over its bytes to WHEEL.sig."""
    from records.plugins.signing import load_private_key, sign

    try:
        key = load_private_key(_read_file(keyfile, "key", 16 * 1024))
    except RecordsError as exc:
        raise RecordsCliError(exc) from None
    signature = sign(key, _read_file(wheel, "wheel", 1024 * 1024 * 1024))
    target = output or wheel.with_name(wheel.name + ".sig")
    try:
        target.write_text(signature + "\n")
    except OSError as exc:
        raise RecordsCliError(InvalidInput(f"cannot write {target}: {exc.strerror or exc}")) from None
    click.echo(f"signed {wheel.name} → {target}")


# --- fsck ------------------------------------------------------------------------------------------


@main.command("fsck")
@data_dir_option
@click.option("--repair", is_flag=True, help="Fix what is safely fixable (needs the service stopped).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def fsck_command(data_dir: Path | None, repair: bool, as_json: bool) -> None:
    """Check store, blobs, keys and access log agree; exit 0 only when nothing is left wrong."""
    import contextlib

    from records.fsck import fsck
    from records.storage.sqlite.backup import BackupError, serving_lock

    settings = _existing_settings(data_dir)
    # A repair deletes blobs no record lists: with a server running, an upload in flight is such a
    # blob for a moment. Checking alone may run beside the service (and may report that upload).
    lock = serving_lock(settings.data_dir, exclusive=True) if repair else contextlib.nullcontext()
    try:
        with lock:
            report = _with_installation(
                settings, lambda i: fsck(i, repair=repair, progress=lambda step: click.echo(f"checking {step}…", err=True)),
                audit="fsck.repair" if repair else "fsck.check",
            )
    except BackupError:
        raise RecordsCliError(InvalidInput("the service is running on this data dir; stop it before `records fsck --repair`")) from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(f"records {report.records}, data keys {report.keys}, blobs {report.blobs}, audit events {report.audit_events}")
        for f in report.findings:
            state = "repaired" if f.repaired else ("repairable (--repair)" if f.repairable else "needs a person")
            click.echo(f"{f.code:<26} {f.subject:<60} {state}: {f.detail}")
        click.echo("clean" if report.clean else f"{sum(not f.repaired for f in report.findings)} problem(s) left")
    if not report.clean:
        sys.exit(1)


# The archivists' retention commands (schedules, floors, holds, batches, certificates) live in their
# own module and join the ``retention`` group here.
from records import cli_retention  # noqa: E402,F401
