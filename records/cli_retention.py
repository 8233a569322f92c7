"""``records retention …`` for archivists: verify certificates against the installation's key, and
script everything the retention API does (schedules, floors, holds, batches, decisions).

Exit status: 0 done (a certificate verifies); 1 a certificate does not verify, or an unexpected
failure; 2 bad input (unreadable file, no trusted key, refused request: ``[code] message``).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from records.cli import RecordsCliError, _settings, data_dir_option, retention
from records.errors import KeyUnavailable


def _keys_from_files(paths: tuple[Path, ...]) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from records.crypto.keyring import audit_key_id
    from records.retention.errors import CertificateUntrusted

    keys: dict[str, Any] = {}
    for path in paths:
        try:
            key = load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise RecordsCliError(CertificateUntrusted(f"cannot read the public key {path}: {type(exc).__name__}")) from None
        if not isinstance(key, Ed25519PublicKey):
            raise RecordsCliError(CertificateUntrusted(f"{path} is not an Ed25519 public key"))
        keys[audit_key_id(key)] = key
    return keys


def _keys_from_api(url: str, token: str | None) -> dict[str, Any]:
    """The installation's published keys, ``GET /api/v1/audit/public-keys`` (an auditor's token)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from records.crypto.keyring import audit_key_id
    from records.retention.errors import CertificateUntrusted

    request = urllib.request.Request(url.rstrip("/") + "/api/v1/audit/public-keys",  # noqa: S310 - the operator's own URL
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the operator's own URL
            items = json.loads(response.read())["items"]
        keys = {}
        for item in items:
            key = load_pem_public_key(item["public_key"].encode())
            if isinstance(key, Ed25519PublicKey):
                keys[audit_key_id(key)] = key
        return keys
    except urllib.error.HTTPError as exc:
        raise RecordsCliError(CertificateUntrusted(
            f"{url} answered {exc.code} for its published keys (an admin's or compliance officer's --token reads them)")) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RecordsCliError(CertificateUntrusted(f"cannot read the published keys at {url}: {type(exc).__name__}")) from None


@retention.command("verify-certificate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", "public_keys", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM of a key you trust (e.g. from GET /api/v1/audit/public-keys); repeatable. "
                   "Only then may the certificate be signed by a key that is not the installation's.")
@click.option("--url", default=None, help="Trust the keys this server publishes (GET /api/v1/audit/public-keys).")
@click.option("--token", envvar="RECORDS_TOKEN", default=None, help="API token for --url (or RECORDS_TOKEN).")
@data_dir_option
def retention_verify_certificate(file: Path, public_keys: tuple[Path, ...], url: str | None, token: str | None,
                                 data_dir: Path | None) -> None:
    """Check a destruction certificate (its JSON, or its PDF with the JSON embedded) offline: the
    signature, the signing key, the audit checkpoint it names and every destruction event's
    inclusion proof.

    The key must be the installation's: read from the data dir's keyring (default), or the keys
    a server publishes (--url), or one given with --public-key. The key embedded in the
    certificate is never trusted on its own: anyone can sign with a key of their own.
    Exit 0 only if it verifies; 1 if it does not; 2 if the file or the keys cannot be read.
    """
    from records.crypto.keyring import published_audit_keys
    from records.retention.certificates import embedded_key, key_fingerprint, read_certificate, verify
    from records.retention.errors import CertificateUntrusted

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise RecordsCliError(CertificateUntrusted(f"cannot read {file}: {exc.strerror}")) from None
    document = read_certificate(data)  # CertificateUnreadable: [certificate_unreadable], exit 2
    installation: dict[str, Any] = {}
    where = ""
    if url:
        installation, where = _keys_from_api(url, token), f"published at {url}"
    else:
        settings = _settings(data_dir=data_dir)
        try:
            installation, where = published_audit_keys(settings.keyring_path), f"keyring {settings.keyring_path}"
        except KeyUnavailable as exc:
            if not public_keys:
                raise RecordsCliError(CertificateUntrusted(
                    f"no key to trust: {exc.detail}; pass --data-dir, --url or --public-key")) from None
    given = _keys_from_files(public_keys)
    trusted = {**installation, **given}
    key = embedded_key(document)
    problems = verify(document, trusted)
    if key is not None:
        key_id = str(document.get("key_id"))
        whose = ("the installation's key" + (f" ({where})" if where else "")) if key_id in installation else (
            "a key given with --public-key, NOT the installation's" if key_id in given
            else "NOT the installation's key, nor one given with --public-key")
        click.echo(f"signed by key {key_id}, fingerprint {key_fingerprint(key)}: {whose}", err=bool(problems))
    if problems:
        for problem in problems:
            click.echo(f"certificate NOT valid: {problem}", err=True)
        raise SystemExit(1)
    click.echo(f"certificate {document['id']} valid: {len(document['items'])} record(s) disposed of")


# --- everything the retention API does, scriptable ------------------------------------------------

_ROLES = ["admin", "archivist", "compliance_officer", "supervisor"]


def _actor(role: str = "admin"):  # type: ignore[no-untyped-def]
    """The operator at the machine, named as the audit trail names the command (``cli:<user>``)."""
    from records.audit import trail as audit_trail
    from records.roles import Principal, Role

    trail = audit_trail.current()
    return Principal(trail.actor if trail and trail.actor else "cli", Role(role))


def _body(model, source: str):  # type: ignore[no-untyped-def]
    """A request body from a JSON file (``-``: standard input), validated like the API's."""
    from pydantic import ValidationError

    from records.errors import InvalidInput

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        return model.model_validate_json(text)
    except OSError as exc:
        raise RecordsCliError(InvalidInput(f"cannot read {source}: {exc.strerror}")) from None
    except UnicodeDecodeError:
        raise RecordsCliError(InvalidInput(f"{source} is not UTF-8 text")) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise RecordsCliError(InvalidInput(f"{where}: {first.get('msg')}", field=where)) from None


def _run(data_dir: Path | None, audit: str, action):  # type: ignore[no-untyped-def]
    from records.cli import _with_installation

    return _with_installation(_settings(data_dir=data_dir), lambda i: action(i.retention), audit=audit)


def _emit(result: Any, as_json: bool, lines) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        if isinstance(result, list):
            click.echo(json.dumps([r.model_dump(mode="json") for r in result], indent=2, ensure_ascii=False))
        else:
            click.echo(result.model_dump_json(indent=2))
        return
    for line in lines(result):
        click.echo(line)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (what the API returns).")
body_option = click.option("--body", "source", required=True, metavar="FILE",
                           help="The request body as JSON, as the API takes it (`-`: standard input).")


@retention.group("schedules")
def schedules() -> None:
    """Retention schedules: list, show, create, amend (with --dry-run), reapply."""


def _schedule_line(s: Any) -> str:
    scope = ",".join(k.value for k in s.kinds) + (f" [{','.join(s.classification)}]" if s.classification else "")
    stages = f"\t{len(s.review_stages)} review stage(s)" if s.review_stages else ""
    return f"{s.id}\tv{s.version}\t{s.name}\t{scope}\t{s.period or '-'}\t{s.action.value}{stages}"


@schedules.command("list")
@data_dir_option
@json_option
def schedules_list(data_dir: Path | None, as_json: bool) -> None:
    """The latest version of every schedule."""
    found = _run(data_dir, "retention.schedule.list", lambda r: r.schedules())
    _emit(found, as_json, lambda items: [_schedule_line(s) for s in items])


@schedules.command("show")
@click.argument("schedule_id")
@click.option("--version", type=int, default=None, help="An earlier version.")
@data_dir_option
def schedules_show(schedule_id: str, version: int | None, data_dir: Path | None) -> None:
    """One schedule as JSON."""
    _emit(_run(data_dir, "retention.schedule.read", lambda r: r.schedule(schedule_id, version)), True, None)


@schedules.command("create")
@body_option
@data_dir_option
def schedules_create(source: str, data_dir: Path | None) -> None:
    """Create a schedule (body: POST /api/v1/retention/schedules); prints it as JSON."""
    from records.retention.models import ScheduleIn

    data = _body(ScheduleIn, source)
    _emit(_run(data_dir, "retention.schedule.create", lambda r: r.create_schedule(data, _actor())), True, None)


@schedules.command("amend")
@click.argument("schedule_id")
@body_option
@click.option("--dry-run", is_flag=True, help="Store nothing; print what re-applying the edit would do.")
@data_dir_option
def schedules_amend(schedule_id: str, source: str, dry_run: bool, data_dir: Path | None) -> None:
    """Amend a schedule (body: PATCH /api/v1/retention/schedules/{id}): a new version, or a preview."""
    from records.retention.models import SchedulePatch

    data = _body(SchedulePatch, source)
    _emit(_run(data_dir, "retention.schedule.amend",
               lambda r: r.amend_schedule(schedule_id, data, _actor(), dry_run=dry_run)), True, None)


@schedules.command("reapply")
@click.argument("schedule_id")
@click.option("--reason", required=True)
@click.option("--allow-shorter", is_flag=True, help="Also bring retain-until dates forward.")
@click.option("--dry-run", is_flag=True, help="Change nothing; print what would change.")
@data_dir_option
def schedules_reapply(schedule_id: str, reason: str, allow_shorter: bool, dry_run: bool, data_dir: Path | None) -> None:
    """Re-apply the latest version to the files under earlier ones."""
    from records.retention.models import ReapplyIn

    data = _body_of(ReapplyIn, reason=reason, allow_shorter=allow_shorter, dry_run=dry_run)
    _emit(_run(data_dir, "retention.schedule.reapply", lambda r: r.reapply_schedule(schedule_id, data, _actor())),
          True, None)


def _body_of(model, **fields: Any):  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    from records.errors import InvalidInput

    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "options"
        raise RecordsCliError(InvalidInput(f"{where}: {first.get('msg')}", field=where)) from None


@retention.group("floors")
def floors() -> None:
    """Legal minimum retention: list, declare, remove."""


@floors.command("list")
@click.option("--active", is_flag=True, help="Only floors that bind now.")
@data_dir_option
@json_option
def floors_list(active: bool, data_dir: Path | None, as_json: bool) -> None:
    """Every floor and where it comes from."""
    found = _run(data_dir, "retention.floor.list", lambda r: r.floors(active_only=active))
    _emit(found, as_json, lambda items: [f"{f.id}\t{'active' if f.active else 'removed'}\t{f.describe()}" for f in items])


@floors.command("declare")
@body_option
@data_dir_option
def floors_declare(source: str, data_dir: Path | None) -> None:
    """Declare a floor (body: POST /api/v1/retention/floors)."""
    from records.retention.floors import FloorIn

    data = _body(FloorIn, source)
    _emit(_run(data_dir, "retention.floor.declare", lambda r: r.declare_floor(data, _actor())), True, None)


@floors.command("remove")
@click.argument("floor_id")
@click.option("--reason", required=True)
@data_dir_option
def floors_remove(floor_id: str, reason: str, data_dir: Path | None) -> None:
    """Remove a floor: an admin's recorded act (the operator at the machine is one)."""
    from records.retention.floors import FloorRemoval

    data = _body_of(FloorRemoval, reason=reason)
    _emit(_run(data_dir, "retention.floor.remove", lambda r: r.remove_floor(floor_id, data, _actor())), True, None)


@retention.group("holds")
def holds() -> None:
    """Legal holds: list, show, the files covered, place, release."""


@holds.command("list")
@click.option("--active", is_flag=True)
@data_dir_option
@json_option
def holds_list(active: bool, data_dir: Path | None, as_json: bool) -> None:
    """Holds, newest first, with their scope (personal data masked)."""
    found = _run(data_dir, "retention.hold.list", lambda r: r.holds(active_only=active))
    _emit(found, as_json, lambda items: [
        f"{h.id}\t{'active' if h.active else 'released'}\t{h.case_reference}\t{h.scope}" for h in items])


@holds.command("show")
@click.argument("hold_id")
@data_dir_option
def holds_show(hold_id: str, data_dir: Path | None) -> None:
    """One hold as JSON: scope, history."""
    _emit(_run(data_dir, "retention.hold.read", lambda r: r.hold(hold_id)), True, None)


@holds.command("records")
@click.argument("hold_id")
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--limit", type=click.IntRange(1, 1000), default=50)
@data_dir_option
@json_option
def holds_records(hold_id: str, offset: int, limit: int, data_dir: Path | None, as_json: bool) -> None:
    """The files a hold covers, a page at a time."""
    found = _run(data_dir, "retention.hold.records", lambda r: r.hold_coverage(hold_id, offset, limit))
    _emit(found, as_json, lambda c: [f"{c.total} file(s)"] + [
        f"{i.record_id}\t{i.reference}\t{i.kind.value}\t{i.state}" for i in c.items])


@holds.command("place")
@body_option
@click.option("--purpose", default=None, help="Why you look files up by customer (X-Purpose), for a saved query.")
@data_dir_option
def holds_place(source: str, purpose: str | None, data_dir: Path | None) -> None:
    """Place a hold (body: POST /api/v1/retention/holds)."""
    from records.retention.models import HoldIn

    data = _body(HoldIn, source)

    async def place(r):  # type: ignore[no-untyped-def]
        from records.audit import trail as audit_trail

        trail = audit_trail.current()
        if trail is not None and purpose:
            trail.purpose = purpose
        return await r.place_hold(data, _actor())

    _emit(_run(data_dir, "retention.hold.place", place), True, None)


@holds.command("release")
@click.argument("hold_id")
@click.option("--reason", required=True)
@data_dir_option
def holds_release(hold_id: str, reason: str, data_dir: Path | None) -> None:
    """Release a hold."""
    from records.retention.models import HoldRelease

    data = _body_of(HoldRelease, reason=reason)
    _emit(_run(data_dir, "retention.hold.release", lambda r: r.release_hold(hold_id, data, _actor())), True, None)


@retention.group("batches")
def batches() -> None:
    """Disposition batches: list, show, decide."""


@batches.command("list")
@click.option("--status", type=click.Choice(["open", "executing", "done"]), default=None)
@data_dir_option
@json_option
def batches_list(status: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Batches, newest first."""
    found = _run(data_dir, "retention.batch.list", lambda r: r.batches(status, 1000))
    _emit(found, as_json, lambda items: [
        f"{b.id}\t{b.status.value}\t{b.created_at.isoformat()}\t{b.certificate_id or '-'}" for b in items])


@batches.command("show")
@click.argument("batch_id")
@data_dir_option
def batches_show(batch_id: str, data_dir: Path | None) -> None:
    """One batch as JSON: items, decisions, progress."""
    _emit(_run(data_dir, "retention.batch.read", lambda r: r.batch(batch_id)), True, None)


@batches.command("decide")
@click.argument("batch_id")
@click.argument("record_ids", nargs=-1)
@click.option("--decision", type=click.Choice(["approve", "reject", "extend"]), required=True)
@click.option("--reason", default=None, help="Required to reject or extend.")
@click.option("--until", default=None, help="For extend: the new retain-until date, ISO 8601 with its zone.")
@click.option("--all", "every", is_flag=True, help="Every item of the batch still pending.")
@click.option("--role", type=click.Choice(_ROLES), default="admin", show_default=True,
              help="Decide in this role (a review stage admits its reviewers' roles).")
@data_dir_option
@json_option
def batches_decide(batch_id: str, record_ids: tuple[str, ...], decision: str, reason: str | None, until: str | None,
                   every: bool, role: str, data_dir: Path | None, as_json: bool) -> None:
    """Decide items of a batch: the given RECORD_IDS, or --all pending ones, with one reason."""
    from records.errors import InvalidInput
    from records.retention.models import DecisionsIn

    if bool(record_ids) == every:
        raise RecordsCliError(InvalidInput("name the records, or pass --all (not both)"))

    async def decide(r):  # type: ignore[no-untyped-def]
        ids = list(record_ids)
        if every:
            batch = await r.batch(batch_id)
            ids = [i.record_id for i in batch.items if i.decision.value == "pending"]
            if not ids:
                raise InvalidInput(f"batch {batch_id} has no pending item")
        data = _body_of(DecisionsIn, decisions=[{"record_id": i, "decision": decision, "reason": reason, "until": until}
                                                for i in ids])
        return await r.decide(batch_id, data, _actor(role))

    found = _run(data_dir, "retention.batch.decide", decide)
    _emit(found, as_json, lambda b: [f"batch {b.id} {b.status.value}: {b.progress.decided if b.progress else 0} of "
                                     f"{len(b.items)} item(s) decided"])


@retention.command("reviews")
@click.option("--role", type=click.Choice(_ROLES), default="admin", show_default=True,
              help="List what waits for this role's review stages.")
@data_dir_option
@json_option
def retention_reviews(role: str, data_dir: Path | None, as_json: bool) -> None:
    """Items waiting for a review stage the role reviews, the earliest due first."""
    found = _run(data_dir, "retention.review.list", lambda r: r.reviews(_actor(role)))
    _emit(found, as_json, lambda rl: [f"{i.batch_id}\t{i.record_id}\t{i.reference}\tstage {i.stage}/{i.stages} "
                                      f"{i.stage_name}\tdue {i.retain_until.date()}" for i in rl.items])
