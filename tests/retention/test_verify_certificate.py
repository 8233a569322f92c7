"""``records retention verify-certificate`` a forger cannot pass (issue 15, item 4): the key must be
the installation's (or one the user names), its fingerprint is printed, and the PDF works too."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fpdf import FPDF
from litestar.testing import TestClient

from records.api.app import create_app
from records.cli import main
from records.crypto.keyring import audit_key_id
from records.retention.certificates import sign
from records.retention.models import DestructionCertificate
from records.roles import Role
from tests.conftest import RoleClient
from tests.retention.conftest import RETENTION, approve_and_execute, archive, sweep


@pytest.fixture
def cli():
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def issued(clock, settings, tmp_path):  # type: ignore[no-untyped-def]
    """(certificate JSON, its PDF) of one destroyed consultation."""
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            agent = RoleClient(client, portal.call(app.state.token_service.issue, "alice", "agent").token, "alice", Role.agent)
            ada = RoleClient(client, portal.call(app.state.token_service.issue, "ada", "archivist").token, "ada", Role.archivist)
        archive(agent, ada)
        clock.set(2030, 1, 2)
        done = approve_and_execute(ada, sweep(ada)["batches"][0])
        url = f"{RETENTION}/certificates/{done['certificate_id']}"
        return ada.get(url).json(), ada.get(url, params={"format": "pdf"}).content


def test_the_installations_key_verifies_and_is_named(issued, data_dir, tmp_path, cli):
    cert, pdf = issued
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    ok = cli("retention", "verify-certificate", str(path), "--data-dir", str(data_dir))
    assert ok.exit_code == 0, ok.output
    assert f"signed by key {cert['key_id']}, fingerprint SHA256:" in ok.output and "the installation's key" in ok.output
    pdf_path = tmp_path / "cert.pdf"
    pdf_path.write_bytes(pdf)
    from_pdf = cli("retention", "verify-certificate", str(pdf_path), "--data-dir", str(data_dir))
    assert from_pdf.exit_code == 0, from_pdf.output
    assert f"certificate {cert['id']} valid" in from_pdf.stdout


def test_a_forgers_self_signed_certificate_fails_unless_its_key_is_named(issued, data_dir, tmp_path, cli):
    cert, _ = issued
    forger = Ed25519PrivateKey.generate()
    forged = sign(DestructionCertificate.model_validate({**cert, "executor": "mallory"}), audit_key_id(forger.public_key()),
                  forger)
    path = tmp_path / "forged.json"
    path.write_text(forged.model_dump_json())
    refused = cli("retention", "verify-certificate", str(path), "--data-dir", str(data_dir))
    assert refused.exit_code == 1
    assert "NOT the installation's key" in refused.stderr and "not one of the trusted keys" in refused.stderr
    key_file = tmp_path / "forger.pem"
    key_file.write_bytes(forger.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    named = cli("retention", "verify-certificate", str(path), "--data-dir", str(data_dir), "--public-key", str(key_file))
    assert named.exit_code == 0, named.output
    assert "a key given with --public-key, NOT the installation's" in named.output


def test_what_cannot_be_read_is_said_clearly(issued, data_dir, tmp_path, cli):
    cert, _ = issued
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    nowhere = cli("retention", "verify-certificate", str(path), "--data-dir", str(tmp_path / "empty"))
    assert nowhere.exit_code == 2 and "[certificate_untrusted]" in nowhere.stderr
    printed = FPDF()
    printed.add_page()
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(bytes(printed.output()))
    no_json = cli("retention", "verify-certificate", str(plain), "--data-dir", str(data_dir))
    assert no_json.exit_code == 2 and "[certificate_unreadable]" in no_json.stderr and "no signed JSON" in no_json.stderr
    binary = tmp_path / "noise.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    noise = cli("retention", "verify-certificate", str(binary), "--data-dir", str(data_dir))
    assert noise.exit_code == 2 and "[certificate_unreadable]" in noise.stderr and "Traceback" not in noise.output
    torn = tmp_path / "torn.pdf"
    torn.write_bytes(b"%PDF-1.7\n garbage")
    broken = cli("retention", "verify-certificate", str(torn), "--data-dir", str(data_dir))
    assert broken.exit_code == 2 and "[certificate_unreadable]" in broken.stderr


def test_a_server_s_published_keys_are_trusted_with_url(issued, data_dir, tmp_path, cli):
    """``--url`` trusts what a running installation publishes, with no keyring at hand: its own
    certificate verifies, a forger's does not, and a token the server refuses is said plainly."""
    from tests.helpers.server_process import ServerProcess, create_token

    cert, _ = issued
    genuine = tmp_path / "cert.json"
    genuine.write_text(json.dumps(cert))
    forger = Ed25519PrivateKey.generate()
    forged = tmp_path / "forged.json"
    forged.write_text(sign(DestructionCertificate.model_validate({**cert, "executor": "mallory"}),
                           audit_key_id(forger.public_key()), forger).model_dump_json())
    auditor = create_token(data_dir, "carol", "compliance_officer")
    server = ServerProcess(data_dir, tmp_path / "server.log").start()
    try:
        elsewhere = str(tmp_path / "no-keyring-here")  # the keys can only come from the server
        ok = cli("retention", "verify-certificate", str(genuine), "--url", server.base_url, "--token", auditor,
                 "--data-dir", elsewhere)
        assert ok.exit_code == 0, ok.output
        assert f"the installation's key (published at {server.base_url})" in ok.output
        refused = cli("retention", "verify-certificate", str(forged), "--url", server.base_url, "--token", auditor,
                      "--data-dir", elsewhere)
        assert refused.exit_code == 1 and "NOT the installation's key" in refused.stderr
        anonymous = cli("retention", "verify-certificate", str(genuine), "--url", server.base_url, "--data-dir", elsewhere)
        assert anonymous.exit_code == 2 and "[certificate_untrusted]" in anonymous.stderr
        assert "answered 401" in anonymous.stderr and "Traceback" not in anonymous.output
    finally:
        server.stop()
