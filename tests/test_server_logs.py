"""The running server's log carries no personal data: searches by phone or account are logged
without their query strings."""

from __future__ import annotations

import httpx
import pytest

from tests.test_durability import ServerProcess, create_token, server  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


def test_access_log_drops_query_strings(server: ServerProcess, data_dir) -> None:  # noqa: F811
    token = create_token(data_dir, "alice")
    server.start()
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        found = client.get("/api/v1/records", params={"customer_phone": "13987654321", "customer_account": "ACCT-SECRET-9"})
        assert found.status_code == 200
    server.stop()
    log = server.log()
    assert "GET /api/v1/records HTTP/1.1" in log  # the request is logged...
    assert "13987654321" not in log and "ACCT-SECRET-9" not in log  # ...without the personal data
