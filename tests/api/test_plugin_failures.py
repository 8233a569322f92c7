"""Issue 14 finding 2: a plugin's failure never puts the exception's text, which may quote a
customer's data, in a response or in the plugin status. Failures are named by plugin, hook,
exception type and request id; the message, redacted, goes only to the debug-level failures log."""

from __future__ import annotations

import logging

import pytest

from records import hookimpl
from records.redaction import redact_message
from records.roles import Role
from tests.conftest import record_body
from tests.helpers.plugin_apps import running, with_plugins

ACCOUNT = "ACCT-YLW-55501"
NAME = "Yellowby Marchbanks"
PHONE = "13987654321"


def customer() -> dict[str, str]:
    return {"name": NAME, "phone": PHONE, "account": ACCOUNT}


class AccountParsingClassifier:
    """Careless code: ``int()`` fails with the account in its message."""

    @hookimpl
    def records_classify(self, record):
        return [f"account:{int(record.customer.account)}"]


class AccountParsingValidator:
    @hookimpl
    def records_validate_record(self, record, previous, actor):
        raise ValueError(f"{record.customer.name} at {record.customer.phone}: bad account {int(record.customer.account)}")


def _no_personal_data(text: str) -> None:
    for value in (ACCOUNT, NAME, PHONE, "55501"):
        assert value not in text


def test_plugin_status_names_the_failure_without_its_message(settings):
    with running(settings, with_plugins(account_parser=AccountParsingClassifier())) as service:
        agent = service.login(Role.agent, "alice")
        filed = agent.post("/api/v1/records", json=record_body(customer=customer()))
        assert filed.status_code == 201, filed.text
        listed = service.plugins()
    state = listed["account-parser"]
    _no_personal_data(str(state))
    assert state["status"] == "failing" and state["failures"] == 1
    assert state["last_failure"] == f"records_classify raised builtins.ValueError (request {filed.headers['x-request-id']})"
    assert state["last_failure_request_id"] == filed.headers["x-request-id"]
    assert state["last_failure_at"] is not None


def test_a_failing_validation_hook_answers_500_without_the_message(settings):
    with running(settings, with_plugins(account_validator=AccountParsingValidator())) as service:
        admin = service.login(Role.admin, "ada")  # sees customers masked: the 500 must not unmask them
        response = admin.post("/api/v1/records", json=record_body(customer=customer()))
        assert response.status_code == 500
        problem = response.json()
        assert problem["code"] == "plugin_failed"
        _no_personal_data(response.text)
        request_id = response.headers["x-request-id"]
        assert problem["detail"] == (
            f"plugin account-validator failed: records_validate_record raised builtins.ValueError (request {request_id})")
        assert service.plugins()["account-validator"]["last_failure_request_id"] == request_id


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def plugin_log():
    """Everything the plugin loggers write, at every level (as with ``RECORDS_LOG_LEVEL=debug``)."""
    logger, handler = logging.getLogger("records.plugins"), Captured()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_the_message_reaches_only_the_debug_log_and_redacted(settings, plugin_log):
    with running(settings, with_plugins(account_parser=AccountParsingClassifier())) as service:
        agent = service.login(Role.agent, "alice")
        filed = agent.post("/api/v1/records", json=record_body(customer=customer()))
        assert filed.status_code == 201
    reports = [r for r in plugin_log if r.name == "records.plugins.failures"]
    assert len(reports) == 1 and reports[0].levelno == logging.DEBUG
    text = reports[0].getMessage()
    assert "invalid literal for int() with base 10: <redacted>" in text
    assert filed.headers["x-request-id"] in text and "records_classify" in text
    assert any(r.levelno == logging.ERROR and "builtins.ValueError" in r.getMessage() for r in plugin_log)
    _no_personal_data("\n".join(r.getMessage() for r in plugin_log))


@pytest.mark.parametrize(("message", "expected"), [
    ("invalid literal for int() with base 10: 'ACCT-YLW-55501'", "invalid literal for int() with base 10: <redacted>"),
    ('no route for "张三"', "no route for <redacted>"),
    ("write to li.si@example.cn failed", "write to <redacted> failed"),
    ("call 139 8765 4321 then", "call <redacted> then"),
    ("ID 11010519491231002X unknown", "ID <redacted> unknown"),
    ("full width １３９８７６５４３２１", "full width <redacted>"),
    ("Yellowby Marchbanks has no plan", "<redacted> has no plan"),
    ("list index out of range", "list index out of range"),
])
def test_redaction_of_messages(message, expected):
    assert redact_message(message, identifiers=[NAME, None, ""]) == expected
