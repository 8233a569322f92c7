"""Issue 14 finding 6: masking covers free text and files. An archivist saw "139****4321" in the
customer object and, in the same response, a note reading "called <the full name> at 13987654321",
the attachment's filename and, on download, the attachment's bytes."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from litestar.testing import TestClient

from records.api.app import create_app
from records.settings import load_settings
from tests.conftest import RoleClient, record_body

NAME, PHONE, ACCOUNT = "欧阳娜娜", "13987654321", "ACCT-YLW-55501"
SECRETS = (NAME, PHONE, ACCOUNT, "8765", "11010519491231002X", "ouyang.nana@example.cn", "6222021234567890")
CONTENT = b"%PDF-1.4 scanned ID card of the customer"


@pytest.fixture
def masked_file(agent: RoleClient) -> dict[str, str]:
    """A file whose texts are full of its customer's data, as agents write them."""
    body = record_body(customer={"name": NAME, "phone": PHONE, "account": ACCOUNT},
                       description=f"{NAME} (ID 11010519491231002X) reports no signal; call back on {PHONE}.")
    filed = agent.post("/api/v1/records", json=body).json()
    url = f"/api/v1/records/{filed['id']}"
    assert agent.post(f"{url}/notes", json={"text": f"called {NAME} at {PHONE}; refund to card 6222021234567890"}).status_code == 201
    assert agent.post(f"{url}/notes", json={"text": f"客户来电 139-8765-4321，邮件 ouyang.nana@example.cn，账户 {ACCOUNT.lower()}",
                                           "type": "communication", "channel": "phone", "direction": "inbound"}).status_code == 201
    upload = agent.post(f"{url}/attachments", files={"file": (f"{NAME}-身份证-11010519491231002X.pdf", CONTENT, "application/pdf")})
    assert upload.status_code == 201, upload.text
    return {"url": url, "attachment": f"{url}/attachments/{upload.json()['id']}"}


def _assert_masked(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


def test_masked_roles_see_notes_communications_and_filenames_masked(masked_file, archivist, compliance_officer, admin):
    for who in (archivist, compliance_officer, admin):
        record = who.get(masked_file["url"])
        assert record.status_code == 200
        _assert_masked(record.text)
        body = record.json()
        assert body["notes"][0]["text"] == "called 欧*** at 139****4321; refund to card ************7890"
        assert body["notes"][1]["text"] == "客户来电 139-****-4321，邮件 o**********@example.cn，账户 ac**-***-***01"
        assert body["attachments"][0]["filename"] == "欧***-身份证-1****************X.pdf"
        assert body["description"].startswith("欧*** (ID 1****************X)")
    listed = archivist.get("/api/v1/records").text
    _assert_masked(listed)


def test_identity_roles_still_read_what_was_written(masked_file, agent, supervisor):
    for who in (agent, supervisor):
        body = who.get(masked_file["url"]).json()
        assert body["notes"][0]["text"] == f"called {NAME} at {PHONE}; refund to card 6222021234567890"
        assert body["attachments"][0]["filename"] == f"{NAME}-身份证-11010519491231002X.pdf"
        download = who.get(masked_file["attachment"])
        assert download.status_code == 200 and download.content == CONTENT


def test_masked_roles_get_attachment_bytes_only_for_a_stated_purpose(masked_file, archivist, admin):
    refused = archivist.get(masked_file["attachment"])
    assert refused.status_code == 422 and refused.json()["code"] == "purpose_required"
    assert CONTENT not in refused.content
    given = archivist.get(masked_file["attachment"], headers={"X-Purpose": "transfer check 2026-12"})
    assert given.status_code == 200 and given.content == CONTENT
    _assert_masked(unquote(given.headers["content-disposition"]))  # the filename it is saved under, masked
    events = admin.get("/api/v1/audit/events", params={"action": "attachment.reveal"}).json()["items"]
    assert [(e["actor"], e["purpose"], e["outcome"]) for e in events] == [("ada", "transfer check 2026-12", "allowed")]
    assert any(t.startswith("attachment:") for t in events[0]["targets"])


@pytest.fixture
def refusing(data_dir) -> Iterator[TestClient]:
    app = create_app(load_settings(data_dir=data_dir, masked_attachments="refuse"))
    with TestClient(app) as client:
        yield client


def test_an_installation_can_refuse_attachment_bytes_to_masked_roles(refusing):
    def login(role: str, name: str) -> RoleClient:
        with refusing.portal() as portal:
            return RoleClient(refusing, portal.call(refusing.app.state.token_service.issue, name, role).token, name, role)  # type: ignore[arg-type]

    agent, archivist = login("agent", "alice"), login("archivist", "archie")
    filed = agent.post("/api/v1/records", json=record_body()).json()
    upload = agent.post(f"/api/v1/records/{filed['id']}/attachments", files={"file": ("a.pdf", CONTENT, "application/pdf")})
    url = f"/api/v1/records/{filed['id']}/attachments/{upload.json()['id']}"
    refused = archivist.get(url, headers={"X-Purpose": "curious"})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert CONTENT not in refused.content
    assert agent.get(url).content == CONTENT
