"""The administrator's pages over HTTP: API tokens (list, issue with the secret shown once, revoke)
and trusted publisher keys (list, add, remove), through the same services as /api/v1/tokens and
/api/v1/plugins/trusted-keys, admitting the same roles and audited as the same actions; bad input
is a message beside the field and changes nothing."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from records.plugins.signing import public_pem
from records.roles import Role
from tests.console.conftest import ConsoleClient

TOKENS = "/console/admin/tokens/"
PUBLISHERS = "/console/admin/publishers/"


def secret_in(html: str) -> str:
    match = re.search(r'id="issued-secret" class="secret" value="([^"]+)"', html)
    assert match, "no secret shown"
    return match.group(1)


def api_tokens(admin, include_revoked: bool = False) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    items = admin.get("/api/v1/tokens", params={"include_revoked": str(include_revoked).lower()}).json()["items"]
    return {t["name"]: t for t in items}


def test_issue_a_token_whose_secret_is_shown_once_and_works(console_as, admin, client):
    console = console_as(Role.admin, "ada")
    issued = console.post(TOKENS, {"name": "night-batch", "role": "archivist"})
    assert issued.status_code == 201, issued.text
    assert "Token night-batch issued (archivist)" in issued.text and "shown only this once" in issued.text
    secret = secret_in(issued.text)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json() == {
        "name": "night-batch", "role": "archivist"}
    assert api_tokens(admin)["night-batch"]["role"] == "archivist"
    listed = console.get(TOKENS).text
    assert '<tr id="token-night-batch">' in listed and secret not in listed  # never shown again
    # The same name again: refused, nothing changed, the form keeps what was typed.
    again = console.post(TOKENS, {"name": "night-batch", "role": "agent"})
    assert again.status_code == 409 and "No token was issued." in again.text
    assert 'value="night-batch"' in again.text and api_tokens(admin)["night-batch"]["role"] == "archivist"


@pytest.mark.parametrize("form, field", [
    ({"name": "", "role": "agent"}, "name"),
    ({"name": "has space", "role": "agent"}, "name"),
    ({"name": "x" * 65, "role": "agent"}, "name"),
    ({"name": "ok-name", "role": "emperor"}, "role"),
    ({"name": "ok-name"}, "role"),
])
def test_bad_token_fields_are_shown_beside_the_field(console_as, admin, form, field):
    console = console_as(Role.admin, "ada")
    refused = console.post(TOKENS, form)
    assert refused.status_code in (400, 422), refused.text
    assert "No token was issued." in refused.text and "Traceback" not in refused.text
    assert re.search(rf'<(input|select) id="t-{field}"[^>]*aria-invalid="true"', refused.text)
    assert "ok-name" not in api_tokens(admin) and "has space" not in api_tokens(admin)


def test_revoking_a_token_ends_its_sessions(console_as, admin, issue_token, client):
    holder = issue_token(Role.agent, "temp-agent")
    console = console_as(Role.admin, "ada")
    assert '<tr id="token-temp-agent">' in console.get(TOKENS).text
    done = console.post(f"{TOKENS}temp-agent/revoke")
    assert done.status_code == 303
    page = console.get(done.headers["location"]).text
    assert "Revoked the token temp-agent; its console sessions have ended." in page
    assert '<tr id="token-temp-agent">' not in page
    assert api_tokens(admin, include_revoked=True)["temp-agent"]["revoked_at"] is not None
    assert '<tr id="token-temp-agent">' in console.get(TOKENS, params={"include_revoked": "1"}).text
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {holder}"}).status_code == 401
    assert ConsoleClient(client, holder).sign_in().status_code != 303
    missing = console.post(f"{TOKENS}temp-agent/revoke")
    assert missing.status_code == 404 and "The token was not revoked." in missing.text


def test_the_last_admin_token_is_not_revoked(console_as, admin):
    console = console_as(Role.admin, "ada")
    assert console.post(f"{TOKENS}{admin.name}/revoke").status_code == 303  # another admin remains: ada
    last = console.post(f"{TOKENS}ada/revoke")
    assert last.status_code == 409, last.text
    assert "The token was not revoked." in last.text
    assert '<tr id="token-ada">' in console.get(TOKENS).text  # still signed in: the token still works


def test_token_changes_are_audited_as_the_api_routes(console_as, issue_token, as_role):
    issue_token(Role.agent, "to-revoke")
    console = console_as(Role.admin, "ada")
    console.get(TOKENS)
    console.post(TOKENS, {"name": "new-one", "role": "agent"})
    console.post(f"{TOKENS}to-revoke/revoke")
    reader = as_role(Role.compliance_officer, "carla")
    events = reader.get("/api/v1/audit/events", params={"actor": "ada", "limit": 500}).json()["items"]
    seen = [(e["action"], e["outcome"], e["targets"]) for e in events if e["action"].startswith("token.")]
    assert ("token.list", "allowed", []) in seen
    assert ("token.create", "allowed", ["token:new-one"]) in seen
    assert ("token.revoke", "allowed", ["token:to-revoke"]) in seen


def test_trust_and_distrust_a_publisher_key(console_as, admin):
    console = console_as(Role.admin, "ada")
    assert "No publisher key is trusted" in console.get(PUBLISHERS).text
    key = public_pem(Ed25519PrivateKey.generate().public_key())
    added = console.post(PUBLISHERS, {"name": "team-escalation", "public_key": key})
    assert added.status_code == 303, added.text
    page = console.get(added.headers["location"]).text
    assert "Now trusting the publisher key team-escalation." in page
    [stored] = admin.get("/api/v1/plugins/trusted-keys").json()["items"]
    assert (stored["name"], stored["added_by"]) == ("team-escalation", "ada")
    assert stored["fingerprint"] in page

    duplicate = console.post(PUBLISHERS, {"name": "team-escalation", "public_key": key})
    assert duplicate.status_code == 409 and "The key was not added." in duplicate.text

    removed = console.post(f"{PUBLISHERS}team-escalation/remove")
    assert removed.status_code == 303
    assert "No longer trusting the publisher key team-escalation." in console.get(removed.headers["location"]).text
    assert admin.get("/api/v1/plugins/trusted-keys").json()["items"] == []
    missing = console.post(f"{PUBLISHERS}team-escalation/remove")
    assert missing.status_code == 404 and "The key was not removed." in missing.text


@pytest.mark.parametrize("form, field, message", [
    ({"name": "Team", "public_key": "K"}, "name", "name"),
    ({"name": "team", "public_key": "not a key"}, "public_key", "PEM"),
    ({"name": "team", "public_key": "RSA"}, "public_key", "must be an Ed25519 key"),
    ({"name": "team", "public_key": ""}, "public_key", "public_key"),
])
def test_a_bad_publisher_key_is_refused_beside_its_field(console_as, admin, form, field, message):
    if form["public_key"] == "RSA":
        form = {**form, "public_key": generate_private_key(65537, 2048).public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()}
    if form["public_key"] == "K":
        form = {**form, "public_key": public_pem(Ed25519PrivateKey.generate().public_key())}
    console = console_as(Role.admin, "ada")
    refused = console.post(PUBLISHERS, form)
    assert refused.status_code in (400, 422), refused.text
    assert "The key was not added." in refused.text and message in refused.text
    assert re.search(rf'<(input|textarea) id="k-{"name" if field == "name" else "key"}"[^>]*aria-invalid="true"', refused.text)
    assert admin.get("/api/v1/plugins/trusted-keys").json()["items"] == []


def test_other_roles_are_refused(console_as):
    console = console_as(Role.plugin_manager, "pat")
    assert console.get(TOKENS).status_code == 403
    assert console.get(PUBLISHERS).status_code == 403
    assert console.post(TOKENS, {"name": "sneaky", "role": "admin"}).status_code == 403
    assert console.post(PUBLISHERS, {"name": "sneaky", "public_key": "x"}).status_code == 403


def test_forms_without_the_csrf_token_change_nothing(console_as, admin):
    console = console_as(Role.admin, "ada")
    forged = console.post(TOKENS, {"name": "forged", "role": "admin"}, csrf=False)
    assert forged.status_code == 403 and "forged" not in api_tokens(admin)
