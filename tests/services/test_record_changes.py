"""Changes to one record: an upload that meets the archiving of its record is refused and leaves
nothing; an emergency's incident text is sealed at rest and gone with the data key; sixty
concurrent notes all land; the same incident patched twice changes nothing the second time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar.testing import TestClient

from records.api.app import create_app
from records.errors import RecordArchived
from records.models import FeedbackIn, NoteIn, RecordCreate, RecordPatch, TransitionIn
from records.services.records import RecordService, UploadMeta
from records.settings import RecordsSettings
from tests.conftest import record_body
from tests.helpers.in_process import ADA, ALICE, SAM, call, files_under


class _Upload:
    """An ``Upload`` (see records.services.records.Upload) whose stream runs ``midway`` between two chunks."""

    def __init__(self, midway: Callable[[], Any]) -> None:
        self._midway = midway

    async def begin(self) -> UploadMeta:
        return UploadMeta("evidence.pdf", "application/pdf")

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b"first half of the evidence " * 100
        await self._midway()
        yield b"second half of the evidence " * 100


# --- an upload in flight when the record is archived --------------------------------------------


def test_an_upload_in_flight_when_the_record_is_archived_is_refused_and_leaves_nothing(client, app, agent, data_dir):
    service: RecordService = app.state.record_service
    state: dict[str, Any] = {}

    async def archive() -> None:
        # feedback → archived (needs feedback; for archivists), while the upload is streaming
        state["archived"] = await service.transition(state["id"], TransitionIn(to="archived"), None, ADA)

    async def scenario() -> Exception | None:
        record = await service.file(RecordCreate(**record_body()), ALICE)
        state["id"] = record.id
        await service.amend(record.id, RecordPatch(result="Base-station card replaced.",
                                                   feedback=FeedbackIn(satisfaction=4)), 1, ALICE)
        for stage in ("investigating", "handling", "feedback"):
            await service.transition(record.id, TransitionIn(to=stage), None, SAM)
        try:
            await service.attach(record.id, _Upload(archive), ALICE)
        except Exception as exc:  # noqa: BLE001 - examined below
            return exc
        return None

    refused = call(client, scenario)
    assert state["archived"].archived_at is not None  # the record really was archived mid-stream
    assert isinstance(refused, RecordArchived), repr(refused)
    assert (refused.code, refused.status) == ("record_archived", 409)

    url = f"/api/v1/records/{state['id']}"
    record = agent.get(url).json()
    assert record["status"] == "archived"
    assert record["attachments"] == []
    assert "attachment_added" not in [event["event"] for event in record["timeline"]]
    assert files_under(data_dir / "blobs") == []  # neither the blob nor a partial upload is left

    # Notes still annotate an archived record.
    note = agent.post(f"{url}/notes", json={"text": "Customer called again after archiving."})
    assert note.status_code == 201, note.text
    assert [n["text"] for n in agent.get(url).json()["notes"]] == ["Customer called again after archiving."]


# --- emergency incident text is sealed -----------------------------------------------------------


INCIDENT = {"affected_area": "MARKER-INCIDENT-AREA", "affected_services": ["MARKER-SVC"]}
INCIDENT_MARKERS = [m.encode(enc) for m in ("MARKER-INCIDENT-AREA", "MARKER-SVC") for enc in ("utf-8", "utf-16-le")]


def test_emergency_incident_text_is_sealed_and_gone_after_shredding(settings: RecordsSettings, data_dir):
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        token = call(client, app.state.token_service.issue, "alice", "agent").token
        headers = {"Authorization": f"Bearer {token}"}
        filed = client.post("/api/v1/records", headers=headers, json=record_body("emergency", incident=INCIDENT))
        assert filed.status_code == 201, filed.text
        record = filed.json()
        for shown in (record, client.get(f"/api/v1/records/{record['id']}", headers=headers).json()):
            assert shown["incident"]["affected_area"] == "MARKER-INCIDENT-AREA"
            assert shown["incident"]["affected_services"] == ["MARKER-SVC"]

    # The app has stopped: no file under the data dir holds the incident text, in any encoding.
    found = [(str(p.relative_to(data_dir)), m) for p in files_under(data_dir) for m in INCIDENT_MARKERS if m in p.read_bytes()]
    assert found == []
    # ...while the scanner does see what is stored in clear (the reference), so an empty result means something.
    assert any(record["reference"].encode() in p.read_bytes() for p in files_under(data_dir))

    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        shredded = call(client, app.state.record_service.shred, record["id"])
        assert shredded.destroyed_at is not None
        assert shredded.incident is None
        got = client.get(f"/api/v1/records/{record['id']}", headers=headers)
        assert got.status_code == 200, got.text
        assert got.json()["incident"] is None


# --- concurrent notes on one record ----------------------------------------------------------------


def test_sixty_concurrent_notes_on_one_record_all_succeed(client, app, agent, filed):
    service: RecordService = app.state.record_service

    async def notes() -> list[Any]:
        return await asyncio.gather(
            *(service.add_note(filed["id"], NoteIn(text=f"note {n}"), ALICE) for n in range(60)), return_exceptions=True
        )

    results = call(client, notes)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    record = agent.get(f"/api/v1/records/{filed['id']}").json()
    assert record["version"] == 61
    assert len(record["notes"]) == 60
    assert sorted(n["text"] for n in record["notes"]) == sorted(f"note {n}" for n in range(60))


# --- amending an incident with the same value --------------------------------------------------


def test_patching_the_same_incident_twice_changes_nothing_the_second_time(agent):
    filed = agent.post("/api/v1/records", json=record_body("emergency", incident={"affected_area": "Zone A"}))
    assert filed.status_code == 201, filed.text
    url = f"/api/v1/records/{filed.json()['id']}"
    incident = {"affected_area": "Zone B", "affected_services": ["voice"]}
    first = agent.patch(url, json={"incident": incident}, headers={"If-Match": '"1"'})
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2
    second = agent.patch(url, json={"incident": incident}, headers={"If-Match": '"2"'})
    assert second.status_code == 200, second.text
    assert second.json()["version"] == 2
    after = agent.get(url).json()
    assert after["version"] == 2
    assert [e["event"] for e in after["timeline"]].count("amended") == 1
    assert after["incident"]["affected_area"] == "Zone B"
