"""No personal data in logs: records carrying marker names, phones, accounts and notes are filed,
read, revealed, annotated and searched for, and neither the server process's output nor anything
sent through Python logging contains a marker."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from records import hookimpl
from records.api.app import create_app
from records.plugins.manager import plugin_manager
from records.services.records import RecordService
from tests.helpers.server_process import ServerProcess, create_token

# Distinctive values that nothing else in a log could produce by chance.
MARKERS = {
    "name": "Quillon Zebedeewarth",
    "phone": "13987654321",
    "account": "ACCT-SECRET-9",
    "subject": "Subjectmarker Fennelwick",
    "description": "Descriptionmarker lives at 42 Marrowbone Lane",
    "note": "Notemarker promised a refund of 3719 yuan",
    "result": "Resultmarker Thistlewaite satisfied",
}


def _exercise(client: Any) -> None:
    """Everything that touches personal data, through ``client`` (httpx or litestar TestClient)."""
    body = {
        "kind": "complaint", "channel": "phone", "urgency": "urgent",
        "customer": {"name": MARKERS["name"], "phone": MARKERS["phone"], "account": MARKERS["account"]},
        "subject": MARKERS["subject"], "description": MARKERS["description"],
    }
    filed = client.post("/api/v1/records", json=body)
    assert filed.status_code == 201, filed.text
    record_id = filed.json()["id"]
    url = f"/api/v1/records/{record_id}"
    assert client.post(f"{url}/notes", json={"text": MARKERS["note"]}).status_code == 201
    assert client.patch(url, json={"result": MARKERS["result"]}, headers={"If-Match": '"2"'}).status_code == 200
    assert client.get(url).status_code == 200
    assert client.get(f"{url}/identity", headers={"X-Purpose": "log test"}).status_code == 200
    # Searches by phone (written as callers write it) and account, which put personal data in URLs.
    found = client.get("/api/v1/records", params={"customer_phone": "+86 139-8765-4321"})
    assert found.status_code == 200 and [r["id"] for r in found.json()["items"]] == [record_id]
    assert client.get("/api/v1/records", params={"customer_account": MARKERS["account"]}).status_code == 200
    # Refused and invalid requests carrying personal data are logged no more than accepted ones.
    bad = dict(body, kind="nonsense")
    assert client.post("/api/v1/records", json=bad).status_code == 422
    assert client.patch(url, json={"subject": MARKERS["subject"]}, headers={"If-Match": '"1"'}).status_code == 409


def _assert_no_markers(log: str) -> None:
    for what, marker in MARKERS.items():
        assert marker not in log, f"the {what} ({marker!r}) appears in the log"
    assert "8765-4321" not in log and "8765 4321" not in log


# The test's own HTTP client logs the URLs it requests; the service does not use httpx.
CLIENT_LOGGERS = ("httpx", "httpcore")


def test_python_logging_carries_no_personal_data(agent, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    _exercise(agent)
    service = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    assert any(r.name.startswith("httpx") for r in caplog.records), "the capture is not working"
    _assert_no_markers("\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in service))


class LeakyClassifier:
    """A plugin whose error message quotes the record, as careless code does."""

    @hookimpl
    def records_classify(self, record):
        raise ValueError(f"cannot classify {record.description!r} of {record.customer.name} ({record.customer.phone})")


@pytest.fixture
def leaky_client(settings):
    """An agent's client of an app running the leaky classifier. Started in a fixture: the app
    configures logging when it starts, before the test's log capture begins."""
    pm = plugin_manager()
    pm.register(LeakyClassifier(), name="leaky-classifier")
    app = create_app(settings, plugins=pm)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "alice", "agent").token
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_failures_are_logged_without_the_personal_data_in_their_messages(leaky_client, caplog, monkeypatch) -> None:
    caplog.set_level(logging.DEBUG)
    _exercise(leaky_client)  # every filing meets the failing classifier

    async def broken_get(self, record_id, actor):
        raise RuntimeError(f"unexpected failure reading {MARKERS['name']} / {MARKERS['phone']}")

    monkeypatch.setattr(RecordService, "get", broken_get)
    filed = leaky_client.get("/api/v1/records", params={"limit": 1}).json()["items"][0]
    assert leaky_client.get(f"/api/v1/records/{filed['id']}").status_code == 500
    service = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in service)
    assert "plugin leaky-classifier failed: records_classify raised builtins.ValueError" in text
    assert "unhandled error on GET" in text and "builtins.RuntimeError" in text  # where and what, for operators
    _assert_no_markers(text)


@pytest.mark.slow
def test_server_process_output_carries_no_personal_data(server: ServerProcess, data_dir) -> None:
    token = create_token(data_dir, "alice")
    server.start()
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        _exercise(client)
    server.stop()
    log = server.log()
    assert "GET /api/v1/records HTTP/1.1" in log  # requests are logged (access log)...
    _assert_no_markers(log)  # ...without the personal data, query strings included


def test_exceptions_logged_by_the_server_stack_lose_their_messages(tmp_path) -> None:
    from records import access_log

    out = tmp_path / "server.log"
    handler = logging.FileHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("uvicorn.error")
    touched = [logging.getLogger(n) for n in ("uvicorn.access", *access_log.EXCEPTION_LOGGERS)]
    saved = {id(t): list(t.filters) for t in touched}
    logger.addHandler(handler)
    try:
        access_log.install()
        try:
            raise ValueError(f"bad request body for {MARKERS['name']}")
        except ValueError:
            logger.exception("Exception in ASGI application")
    finally:
        logger.removeHandler(handler)
        for t in touched:  # install() is meant for a server process: leave the test run's loggers as they were
            t.filters[:] = saved[id(t)]
        handler.close()
    log = out.read_text()
    assert "Exception in ASGI application" in log and "builtins.ValueError (message withheld" in log
    _assert_no_markers(log)
