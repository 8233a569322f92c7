"""Issue 14 finding 8, the smaller points: JSON bodies only as JSON, reads of retention objects
name their targets, the bagit library keeps file names out of the log, and the shipped Caddyfile
terminates TLS and sends HSTS."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import bagit
import pytest

from records.api.app import create_app
from tests.conftest import RoleClient, record_body
from tests.retention.setup import RETENTION, certificate, hold, open_batch, schedule_id

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


# --- JSON bodies only under a JSON Content-Type --------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/xml", None])
def test_a_json_body_under_another_content_type_is_415(agent: RoleClient, content_type):
    # A page on any site can make a browser post text/plain or a form without a preflight.
    headers = {"Content-Type": content_type} if content_type else {}  # bytes alone: httpx sends no type
    response = agent.post("/api/v1/records", content=json.dumps(record_body()).encode(), headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "unsupported_media_type"
    assert agent.get("/api/v1/records").json()["items"] == []  # nothing was filed


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON",
                                          "application/merge-patch+json"])
def test_json_in_any_of_its_spellings_is_accepted(agent: RoleClient, content_type):
    response = agent.post("/api/v1/records", content=json.dumps(record_body()).encode(), headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text


def test_every_json_route_refuses_other_types(admin: RoleClient, filed):
    for method, url in [("PATCH", f"/api/v1/records/{filed['id']}"), ("POST", f"/api/v1/records/{filed['id']}/notes"),
                        ("POST", f"/api/v1/records/{filed['id']}/transitions"), ("POST", "/api/v1/tokens"),
                        ("POST", f"{RETENTION}/schedules"), ("POST", f"{RETENTION}/holds"), ("POST", f"{RETENTION}/sweeps")]:
        response = admin.request(method, url, content=b'{"text": "x"}', headers={"Content-Type": "text/plain", "If-Match": '"1"'})
        assert response.status_code == 415, (method, url, response.text)


# --- reads of retention objects name them --------------------------------------------------------


def test_reads_of_batches_certificates_holds_and_schedules_have_targets(admin: RoleClient, filed):
    batch = open_batch(admin)
    reads = {
        "schedule": schedule_id(admin),
        "hold": hold(admin, filed["id"]),
        "batch": batch,
        "certificate": certificate(admin),
    }
    paths = {"schedule": "schedules", "hold": "holds", "batch": "batches", "certificate": "certificates"}
    for kind, object_id in reads.items():
        response = admin.get(f"{RETENTION}/{paths[kind]}/{object_id}")
        assert response.status_code == 200, response.text
        request_id = response.headers["x-request-id"]
        events = admin.get("/api/v1/audit/events", params={"limit": 200}).json()["items"]
        event = next(e for e in events if e["request_id"] == request_id)
        assert f"{kind}:{object_id}" in event["targets"], event
    # A read of something that does not exist names what was asked for, too.
    missing = admin.get(f"{RETENTION}/batches/no-such-batch")
    assert missing.status_code == 404
    events = admin.get("/api/v1/audit/events", params={"limit": 200}).json()["items"]
    assert next(e for e in events if e["request_id"] == missing.headers["x-request-id"])["targets"] == ["batch:no-such-batch"]


# --- the bagit library's INFO lines --------------------------------------------------------------


def test_bagit_does_not_log_file_names(settings, tmp_path, caplog: pytest.LogCaptureFixture):
    create_app(settings)  # the service quiets the library as it is built
    caplog.set_level(logging.DEBUG)
    package = tmp_path / "package"
    package.mkdir()
    (package / "欧阳娜娜-身份证.pdf").write_bytes(b"scan")
    bagit.make_bag(str(package), checksums=["sha256"])
    assert (package / "bagit.txt").exists()
    assert "欧阳娜娜" not in caplog.text and not [r for r in caplog.records if r.name == "bagit" and r.levelno < logging.WARNING]


# --- the shipped reverse proxy -------------------------------------------------------------------


def test_the_caddyfile_terminates_tls_and_sends_hsts():
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    sites = re.findall(r"^(\S[^{\n]*)\{", caddyfile, re.MULTILINE)
    assert sites and not any(s.strip().startswith((":80", "http://")) for s in sites if not s.strip().startswith("{")), sites
    assert re.search(r'Strict-Transport-Security\s+"max-age=\d{8,}', caddyfile)
    compose = (DEPLOY / "compose.yaml").read_text()
    assert '"443:443"' in compose
