"""``records retention …`` for archivists: verify certificates against the installation's key, and
script everything the retention API does (schedules, floors, holds, batches, decisions).

Exit status: 0 done (a certificate verifies); 1 a certificate does not verify, or an unexpected
failure; 2 bad input (unreadable file, no trusted key, refused request: ``[code] message``).
"""

from __future__ import annotations

import json
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

    request = urllib.request.Request(url.rstrip("/") + "/api/v1/audit/public-keys",
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
