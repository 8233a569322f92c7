"""A key rotation overtaken by another stops instead of looping."""

from __future__ import annotations

import anyio

from records.errors import KeyUnavailable
from records.installation import Installation
from tests.conftest import record_body

# --- two rotations racing ---------------------------------------------------------------------


def test_a_rotation_overtaken_by_another_stops_instead_of_looping(settings, agent):
    ids = []
    for n in range(3):
        response = agent.post("/api/v1/records", json=record_body(subject=f"Outage {n}"))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    async def race() -> Exception | None:
        installation = await Installation.open(settings)
        try:
            # Two `records keys rotate` both saw no retiring KEK and both began a rotation.
            first = installation.keyring.begin_rotation()
            second = installation.keyring.begin_rotation()
            assert first != second and installation.keyring.active_kek_id() == second
            try:
                with anyio.fail_after(10):
                    await installation.keys._rewrap_all(first, None)
            except KeyUnavailable as exc:
                outcome: Exception | None = exc
            else:
                outcome = None
            # The later rotation still completes, and every record stays readable.
            report = await installation.keys.rotate(grace_seconds=0)
            assert report.active_kek == second
            return outcome
        finally:
            await installation.close()

    outcome = anyio.run(race)
    assert isinstance(outcome, KeyUnavailable), repr(outcome)
    assert outcome.code == "key_unavailable"
    for record_id in ids:
        got = agent.get(f"/api/v1/records/{record_id}")
        assert got.status_code == 200, got.text
