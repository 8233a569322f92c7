"""Attachments: streamed upload with sha256 and size, download, and nothing left by a failed upload."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from records.settings import load_settings


def blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


def multipart(boundary: str, *parts: tuple[str, str | None, bytes], close: bool = True) -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: application/pdf\r\n\r\n".encode()
        body += content + b"\r\n"
    if close:
        body += f"--{boundary}--\r\n".encode()
    return body


def test_upload_and_download_round_trip(agent, compliance_officer, filed, data_dir):
    content = os.urandom(300_000)
    url = f"/api/v1/records/{filed['id']}/attachments"
    response = agent.post(url, files={"file": ("发票 scan.pdf", content, "application/pdf")})
    assert response.status_code == 201, response.text
    attachment = response.json()
    assert attachment["size"] == len(content)
    assert attachment["sha256"] == hashlib.sha256(content).hexdigest()
    assert attachment["filename"] == "发票 scan.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["uploaded_by"] == "alice"

    record = agent.get(f"/api/v1/records/{filed['id']}").json()
    assert record["attachments"] == [attachment]
    assert record["version"] == 2
    assert record["timeline"][-1]["event"] == "attachment_added"

    download = compliance_officer.get(f"{url}/{attachment['id']}", headers={"X-Purpose": "complaint review"})
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-length"] == str(len(content))
    assert download.headers["etag"] == f'"{attachment["sha256"]}"'
    assert "filename*=UTF-8''%E5%8F%91%E7%A5%A8%20scan.pdf" in download.headers["content-disposition"]
    assert len(blob_files(data_dir)) == 1


def test_empty_file_and_path_in_filename(agent, filed):
    url = f"/api/v1/records/{filed['id']}/attachments"
    response = agent.post(url, files={"file": ("../../etc/passwd", b"", "text/plain")})
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "passwd"
    assert response.json()["size"] == 0
    assert response.json()["sha256"] == hashlib.sha256(b"").hexdigest()
    assert agent.get(f"{url}/{response.json()['id']}").content == b""


def test_other_fields_are_ignored_but_the_file_is_required(agent, filed, data_dir):
    url = f"/api/v1/records/{filed['id']}/attachments"
    body = multipart("XyZ", ("comment", None, b"hello"), ("file", "a.pdf", b"%PDF-1.7"))
    ok = agent.post(url, content=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["size"] == 8
    missing = agent.post(url, content=multipart("XyZ", ("comment", None, b"x")),
                         headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "file"
    assert len(blob_files(data_dir)) == 1


def test_two_files_in_one_upload_are_refused_and_nothing_is_kept(agent, filed, data_dir):
    url = f"/api/v1/records/{filed['id']}/attachments"
    body = multipart("B", ("file", "a.pdf", b"a" * 1000), ("file", "b.pdf", b"b" * 1000))
    response = agent.post(url, content=body, headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert response.status_code == 422
    assert blob_files(data_dir) == []
    assert agent.get(f"/api/v1/records/{filed['id']}").json()["attachments"] == []


def test_body_cut_off_before_its_closing_boundary_stores_nothing(agent, filed, data_dir):
    url = f"/api/v1/records/{filed['id']}/attachments"
    body = multipart("B", ("file", "a.pdf", b"x" * 100_000), close=False)[:-5000]
    response = agent.post(url, content=body, headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert blob_files(data_dir) == []
    record = agent.get(f"/api/v1/records/{filed['id']}").json()
    assert record["attachments"] == [] and record["version"] == 1


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("application/json", 415), ("multipart/form-data", 415), ("text/plain", 415)],
)
def test_upload_must_be_multipart(agent, filed, content_type, status):
    response = agent.post(
        f"/api/v1/records/{filed['id']}/attachments", content=b"{}", headers={"Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.json()["code"] == "unsupported_media_type"


def test_malformed_multipart_is_a_client_error(agent, filed, data_dir):
    response = agent.post(
        f"/api/v1/records/{filed['id']}/attachments",
        content=b"--B\r\nthis is not a header line at all\r\n\r\nxx\r\n--B--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code in (400, 422), response.text
    assert blob_files(data_dir) == []


def test_upload_to_a_missing_record_is_refused_before_storing(agent, data_dir):
    response = agent.post("/api/v1/records/missing/attachments", files={"file": ("a.txt", b"abc", "text/plain")})
    assert response.status_code == 404
    assert blob_files(data_dir) == []


def test_unknown_attachment_is_404(agent, filed):
    response = agent.get(f"/api/v1/records/{filed['id']}/attachments/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "attachment_not_found"


def test_attachment_size_limit(tmp_path, monkeypatch):
    """An upload larger than RECORDS_MAX_ATTACHMENT_BYTES is refused with 413 and leaves nothing."""
    from litestar.testing import TestClient

    from records.api.app import create_app

    data_dir = tmp_path / "d"
    monkeypatch.setenv("RECORDS_MAX_ATTACHMENT_BYTES", "10000")
    app = create_app(load_settings(data_dir=data_dir))
    with TestClient(app) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "alice", "agent").token
        headers = {"Authorization": f"Bearer {token}"}
        record = client.post("/api/v1/records", headers=headers, json={
            "kind": "consultation", "channel": "phone", "customer": {"name": "A", "phone": "13800000000", "account": "1"},
            "subject": "s", "description": "d", "urgency": "general"}).json()
        url = f"/api/v1/records/{record['id']}/attachments"
        assert client.post(url, headers=headers, files={"file": ("ok.bin", b"x" * 10_000)}).status_code == 201
        big = client.post(url, headers=headers, files={"file": ("big.bin", b"x" * 10_001)})
        assert big.status_code == 413
        assert big.json()["code"] == "payload_too_large"
        huge = client.post(url, headers=headers, files={"file": ("huge.bin", b"x" * 200_000)})
        assert huge.status_code == 413
        assert len(client.get(f"/api/v1/records/{record['id']}", headers=headers).json()["attachments"]) == 1
    assert len(blob_files(data_dir)) == 1


def test_content_lost_from_the_blob_store_is_a_clear_error_not_a_broken_download(agent, filed, data_dir):
    url = f"/api/v1/records/{filed['id']}/attachments"
    attachment = agent.post(url, files={"file": ("a.txt", b"abc", "text/plain")}).json()
    for path in blob_files(data_dir):
        path.unlink()
    response = agent.get(f"{url}/{attachment['id']}")
    assert response.status_code == 500
    assert response.json()["code"] == "attachment_content_missing"
