"""``records plugins …``: keys, signatures, trust, install and switching from the command line (issue 7).

Everything runs through click's CliRunner on a temporary data dir, as an operator on the
server's machine would type it.
"""

from __future__ import annotations

import asyncio
import base64
import getpass
import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from records.cli import main
from tests.plugin_wheels import EXAMPLE_PACKAGE, build_wheel

NAME = "records-example-escalation"
EXAMPLE_HOOKS = {"records_register_metrics", "records_register_classification_schemes", "records_lifecycle"}


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def d(cli, data_dir: Path) -> list[str]:
    assert cli("init", "--data-dir", data_dir).exit_code == 0  # only serve and init create a data dir
    return ["--data-dir", str(data_dir)]


@pytest.fixture
def keyfile(cli, tmp_path: Path) -> Path:
    path = tmp_path / "team.pem"
    result = cli("plugins", "keygen", "--out", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    filename, data = build_wheel(version="1.0.0")
    path = tmp_path / "dist" / filename
    path.parent.mkdir()
    path.write_bytes(data)
    return path


@pytest.fixture
def trusted(cli, d, keyfile: Path) -> Path:
    result = cli("plugins", "trust", "team-escalation", f"{keyfile}.pub", *d)
    assert result.exit_code == 0, result.output
    return keyfile


def _signed(cli, keyfile: Path, wheel: Path) -> Path:
    result = cli("plugins", "sign", "--key", keyfile, wheel)
    assert result.exit_code == 0, result.output
    return Path(f"{wheel}.sig")


def _listed(cli, d: list[str]) -> dict[str, dict[str, Any]]:
    result = cli("plugins", "list", "--json", *d)
    assert result.exit_code == 0, result.output
    return {item["name"]: item for item in json.loads(result.stdout)}


def _refused(result: Any, code: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert f"[{code}]" in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def _audit_events(data_dir: Path, action: str) -> list[Any]:
    from records.audit.log import EventQuery
    from records.installation import Installation
    from records.settings import load_settings

    async def find() -> list[Any]:
        installation = await Installation.open(load_settings(data_dir=data_dir))
        try:
            return await installation.audit.find(EventQuery(action=action, limit=1000))
        finally:
            await installation.close()

    return asyncio.run(find())


# --- keys and signatures ---------------------------------------------------------------------------


def test_keygen_writes_a_private_key_and_its_public_half(cli, tmp_path):
    key = tmp_path / "team.pem"
    result = cli("plugins", "keygen", "--out", key)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    pub_path = tmp_path / "team.pem.pub"
    public = serialization.load_pem_public_key(pub_path.read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert public.public_bytes(*raw) == private.public_key().public_bytes(*raw)
    assert result.stdout == pub_path.read_text()  # the public key is printed, the private one never
    assert "PRIVATE" not in result.output


def test_keygen_never_overwrites_a_key(cli, tmp_path, keyfile):
    before, before_pub = keyfile.read_bytes(), Path(f"{keyfile}.pub").read_bytes()
    result = cli("plugins", "keygen", "--out", keyfile)
    _refused(result, "invalid_input")
    assert "exists" in result.stderr
    assert keyfile.read_bytes() == before and Path(f"{keyfile}.pub").read_bytes() == before_pub


def test_sign_writes_a_signature_that_verifies_with_the_public_key(cli, keyfile, wheel):
    signature_file = _signed(cli, keyfile, wheel)
    assert signature_file == wheel.with_name(wheel.name + ".sig") and signature_file.is_file()
    raw = base64.b64decode(signature_file.read_text().strip(), validate=True)
    assert len(raw) == 64
    public = serialization.load_pem_public_key(Path(f"{keyfile}.pub").read_bytes())
    public.verify(raw, wheel.read_bytes())  # raises InvalidSignature if not


def test_sign_with_output_writes_there(cli, keyfile, wheel, tmp_path):
    target = tmp_path / "elsewhere.sig"
    result = cli("plugins", "sign", "--key", keyfile, wheel, "--output", target)
    assert result.exit_code == 0, result.output
    assert target.is_file() and not Path(f"{wheel}.sig").exists()


def test_sign_with_a_bad_key_file(cli, tmp_path, wheel):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key at all\n")
    _refused(cli("plugins", "sign", "--key", garbage, wheel), "invalid_input")
    # The public half is not a private key either.
    public_only = tmp_path / "pub.pem"
    key = Ed25519PrivateKey.generate()
    public_only.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    _refused(cli("plugins", "sign", "--key", public_only, wheel), "invalid_input")
    _refused(cli("plugins", "sign", "--key", tmp_path / "missing.pem", wheel), "invalid_input")
    assert not Path(f"{wheel}.sig").exists()


def test_sign_a_missing_wheel(cli, keyfile, tmp_path):
    _refused(cli("plugins", "sign", "--key", keyfile, tmp_path / "nope.whl"), "invalid_input")


# --- trust, install, list ----------------------------------------------------------------------------


def test_trust_prints_the_fingerprint_and_refuses_bad_keys(cli, d, keyfile, tmp_path):
    result = cli("plugins", "trust", "team-escalation", f"{keyfile}.pub", *d)
    assert result.exit_code == 0, result.output
    assert "team-escalation" in result.stdout and "sha256:" in result.stdout
    _refused(cli("plugins", "trust", "team-escalation", f"{keyfile}.pub", *d), "trusted_key_exists")
    _refused(cli("plugins", "trust", "Bad Name!", f"{keyfile}.pub", *d), "invalid_input")
    _refused(cli("plugins", "trust", "team-b", keyfile, *d), "invalid_input")  # the private key is not a public key
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n")
    _refused(cli("plugins", "trust", "team-c", garbage, *d), "invalid_input")
    _refused(cli("plugins", "trust", "team-d", tmp_path / "missing.pub", *d), "invalid_input")


def test_install_with_the_default_signature_file(cli, d, trusted, wheel):
    _signed(cli, trusted, wheel)
    result = cli("plugins", "install", wheel, *d)
    assert result.exit_code == 0, result.output
    assert f"installed {NAME} 1.0.0" in result.stdout and "team-escalation" in result.stdout
    assert "records_register_metrics" in result.stdout
    listed = _listed(cli, d)[NAME]
    assert (listed["origin"], listed["status"], listed["version"], listed["enabled"]) == ("installed", "active", "1.0.0", True)
    assert listed["publisher"] == "team-escalation"
    assert EXAMPLE_HOOKS <= set(listed["hooks"])
    assert listed["installed_by"] == f"cli:{getpass.getuser()}"
    # The CLI process does not keep the plugin's modules once it has finished.
    assert EXAMPLE_PACKAGE not in sys.modules


def test_install_with_an_explicit_signature_file(cli, d, trusted, wheel, tmp_path):
    elsewhere = tmp_path / "sigs" / "escalation.sig"
    elsewhere.parent.mkdir()
    assert cli("plugins", "sign", "--key", trusted, wheel, "--output", elsewhere).exit_code == 0
    _refused(cli("plugins", "install", wheel, *d), "invalid_input")  # no WHEEL.sig next to it
    result = cli("plugins", "install", wheel, "--signature", elsewhere, *d)
    assert result.exit_code == 0, result.output
    assert _listed(cli, d)[NAME]["status"] == "active"


def test_list_table_shows_installed_and_built_in_plugins(cli, d, trusted, wheel):
    _signed(cli, trusted, wheel)
    assert cli("plugins", "install", wheel, *d).exit_code == 0
    result = cli("plugins", "list", *d)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    row = lines[NAME]
    assert " installed " in row and " 1.0.0 " in row and " active " in row and "records_register_metrics" in row
    assert " built-in " in lines["telecom-metrics"] and " active " in lines["telecom-metrics"]


def test_disable_enable_uninstall(cli, d, trusted, wheel):
    _signed(cli, trusted, wheel)
    assert cli("plugins", "install", wheel, *d).exit_code == 0

    result = cli("plugins", "disable", NAME, *d)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{NAME}: disabled"
    listed = _listed(cli, d)[NAME]
    assert (listed["status"], listed["enabled"]) == ("disabled", False)

    result = cli("plugins", "enable", NAME, *d)
    assert result.exit_code == 0 and result.stdout.strip() == f"{NAME}: active"
    assert _listed(cli, d)[NAME]["status"] == "active"

    data_dir = Path(d[1])
    assert (data_dir / "plugins" / NAME).is_dir() and list((data_dir / "blobs").rglob("*.whl"))
    result = cli("plugins", "uninstall", NAME, *d)
    assert result.exit_code == 0 and NAME in result.stdout
    assert NAME not in _listed(cli, d)
    _refused(cli("plugins", "uninstall", NAME, *d), "plugin_not_found")
    # The unpacked files and the stored wheel went with it.
    assert not (data_dir / "plugins" / NAME).exists()
    assert not list((data_dir / "blobs").rglob("*.whl"))


def test_upgrade_from_the_cli_and_no_downgrade(cli, d, trusted, wheel, tmp_path):
    _signed(cli, trusted, wheel)
    assert cli("plugins", "install", wheel, *d).exit_code == 0
    filename, data = build_wheel(version="1.1.0")
    newer = tmp_path / "dist" / filename
    newer.write_bytes(data)
    _signed(cli, trusted, newer)
    result = cli("plugins", "install", newer, *d)
    assert result.exit_code == 0, result.output
    assert _listed(cli, d)[NAME]["version"] == "1.1.0"
    _refused(cli("plugins", "install", wheel, *d), "plugin_already_installed")
    assert _listed(cli, d)[NAME]["version"] == "1.1.0"


def test_a_built_in_can_be_switched_but_not_uninstalled(cli, d):
    result = cli("plugins", "disable", "telecom-metrics", *d)
    assert result.exit_code == 0, result.output
    listed = _listed(cli, d)["telecom-metrics"]
    assert (listed["origin"], listed["status"], listed["enabled"]) == ("built-in", "disabled", False)

    refused = cli("plugins", "uninstall", "telecom-metrics", *d)
    _refused(refused, "builtin_plugin")
    assert "telecom-metrics" in _listed(cli, d)

    assert cli("plugins", "enable", "telecom-metrics", *d).exit_code == 0
    assert _listed(cli, d)["telecom-metrics"]["status"] == "active"


def test_a_built_in_the_service_needs_cannot_be_disabled(cli, d):
    _refused(cli("plugins", "disable", "telecom-workflows", *d), "plugin_required")
    assert _listed(cli, d)["telecom-workflows"]["status"] == "active"


# --- refusals ----------------------------------------------------------------------------------------


def test_a_missing_wheel(cli, d, trusted, tmp_path):
    result = cli("plugins", "install", tmp_path / "nope-1.0.0-py3-none-any.whl", *d)
    _refused(result, "invalid_input")
    assert "nope-1.0.0-py3-none-any.whl" in result.stderr


def test_an_unsigned_wheel(cli, d, trusted, wheel):
    result = cli("plugins", "install", wheel, *d)  # no WHEEL.sig
    _refused(result, "invalid_input")
    assert "signature" in result.stderr
    assert NAME not in _listed(cli, d)


def test_a_wheel_signed_by_an_untrusted_key(cli, d, trusted, wheel, tmp_path):
    stranger = tmp_path / "stranger.pem"
    assert cli("plugins", "keygen", "--out", stranger).exit_code == 0
    _signed(cli, stranger, wheel)
    _refused(cli("plugins", "install", wheel, *d), "plugin_signature_invalid")
    assert NAME not in _listed(cli, d)
    assert EXAMPLE_PACKAGE not in sys.modules


def test_an_empty_trust_store_says_so(cli, d, keyfile, wheel):
    _signed(cli, keyfile, wheel)
    result = cli("plugins", "install", wheel, *d)
    _refused(result, "plugin_signature_invalid")
    assert "trust store is empty" in result.stderr


def test_a_signature_that_is_not_a_signature(cli, d, trusted, wheel):
    Path(f"{wheel}.sig").write_text("bm90IGEgc2lnbmF0dXJl\n")
    _refused(cli("plugins", "install", wheel, *d), "invalid_input")
    assert NAME not in _listed(cli, d)


def test_a_wheel_altered_after_signing(cli, d, trusted, wheel):
    _signed(cli, trusted, wheel)
    tampered = bytearray(wheel.read_bytes())
    tampered[len(tampered) // 2] ^= 0x01
    wheel.write_bytes(bytes(tampered))
    _refused(cli("plugins", "install", wheel, *d), "plugin_signature_invalid")
    assert NAME not in _listed(cli, d)
    data_dir = Path(d[1])
    assert not (data_dir / "plugins" / NAME).exists()


def test_a_wheel_whose_file_name_is_not_its_distribution(cli, d, trusted, wheel):
    renamed = wheel.with_name("other_name-1.0.0-py3-none-any.whl")
    wheel.rename(renamed)
    _signed(cli, trusted, renamed)
    _refused(cli("plugins", "install", renamed, *d), "plugin_package_invalid")
    listed = _listed(cli, d)
    assert NAME not in listed and "other-name" not in listed


def test_a_file_that_is_not_a_wheel_name(cli, d, trusted, tmp_path):
    path = tmp_path / "plugin.zip"
    path.write_bytes(build_wheel()[1])
    _signed(cli, trusted, path)
    _refused(cli("plugins", "install", path, *d), "plugin_package_invalid")


@pytest.mark.parametrize("command", ["enable", "disable", "uninstall"])
def test_unknown_plugin_names(cli, d, command):
    result = cli("plugins", command, "no-such-plugin", *d)
    _refused(result, "plugin_not_found")
    assert "no-such-plugin" in result.stderr


# --- audit -------------------------------------------------------------------------------------------


def test_every_cli_change_is_audited_and_the_log_verifies(cli, d, data_dir, trusted, wheel, tmp_path):
    _signed(cli, trusted, wheel)
    assert cli("plugins", "install", wheel, *d).exit_code == 0
    assert cli("plugins", "disable", NAME, *d).exit_code == 0
    assert cli("plugins", "enable", NAME, *d).exit_code == 0
    assert cli("plugins", "disable", "telecom-metrics", *d).exit_code == 0
    assert cli("plugins", "enable", "telecom-metrics", *d).exit_code == 0
    assert cli("plugins", "uninstall", NAME, *d).exit_code == 0
    stranger = tmp_path / "stranger.pem"
    cli("plugins", "keygen", "--out", stranger)
    _signed(cli, stranger, wheel)
    assert cli("plugins", "install", wheel, *d).exit_code == 2  # refused: audited as failed

    actor = f"cli:{getpass.getuser()}"
    trust = _audit_events(data_dir, "trusted_key.add")
    assert [(e.actor, e.outcome.value) for e in trust] == [(actor, "allowed")]
    assert "trusted_key:team-escalation" in trust[0].targets

    installs = _audit_events(data_dir, "plugin.install")
    assert [(e.actor, e.outcome.value) for e in installs] == [(actor, "allowed"), (actor, "failed")]
    assert f"plugin:{NAME}" in installs[0].targets and f"plugin_version:{NAME}==1.0.0" in installs[0].targets

    for action, count in (("plugin.disable", 2), ("plugin.enable", 2), ("plugin.uninstall", 1)):
        events = _audit_events(data_dir, action)
        assert [(e.actor, e.outcome.value) for e in events] == [(actor, "allowed")] * count, action
    disables = _audit_events(data_dir, "plugin.disable")
    assert {t for e in disables for t in e.targets} >= {f"plugin:{NAME}", "plugin:telecom_metrics"}
    assert f"plugin:{NAME}" in _audit_events(data_dir, "plugin.uninstall")[0].targets

    verified = cli("audit", "verify", *d)
    assert verified.exit_code == 0, verified.output
    assert "audit log intact" in verified.stdout


def test_a_refused_uninstall_of_a_built_in_is_audited_as_failed(cli, d, data_dir):
    assert cli("plugins", "uninstall", "telecom-metrics", *d).exit_code == 2
    events = _audit_events(data_dir, "plugin.uninstall")
    assert [(e.actor, e.outcome.value) for e in events] == [(f"cli:{getpass.getuser()}", "failed")]


def test_names_are_matched_as_pip_matches_them(cli, d, trusted, wheel):
    _signed(cli, trusted, wheel)
    assert cli("plugins", "install", wheel, *d).exit_code == 0
    result = cli("plugins", "disable", "Records_Example.Escalation", *d)
    assert result.exit_code == 0, result.output
    assert _listed(cli, d)[NAME]["status"] == "disabled"
    assert cli("plugins", "enable", "records_example_escalation", *d).exit_code == 0
    assert cli("plugins", "uninstall", "RECORDS-EXAMPLE-ESCALATION", *d).exit_code == 0
    assert NAME not in _listed(cli, d)


def test_an_upgrade_of_a_disabled_plugin_stays_disabled_until_enabled(cli, d, trusted, wheel, tmp_path):
    _signed(cli, trusted, wheel)
    assert cli("plugins", "install", wheel, *d).exit_code == 0
    assert cli("plugins", "disable", NAME, *d).exit_code == 0
    filename, data = build_wheel(version="1.1.0")
    newer = tmp_path / "dist" / filename
    newer.write_bytes(data)
    _signed(cli, trusted, newer)
    assert cli("plugins", "install", newer, *d).exit_code == 0
    listed = _listed(cli, d)[NAME]
    assert (listed["version"], listed["status"], listed["enabled"]) == ("1.1.0", "disabled", False)
    result = cli("plugins", "enable", NAME, *d)
    assert result.exit_code == 0 and result.stdout.strip() == f"{NAME}: active"
    listed = _listed(cli, d)[NAME]
    assert (listed["version"], listed["status"]) == ("1.1.0", "active")
    assert EXAMPLE_HOOKS <= set(listed["hooks"])
