"""Impact before change (issue 15, item 9): editing or re-applying a schedule can be previewed."""

from __future__ import annotations

from tests.retention.conftest import RETENTION, archive
from tests.retention.setup import schedule_id


def test_an_edit_and_a_reapply_are_previewed_without_changing_anything(clock, agent, archivist):
    complaints = schedule_id(archivist, "Complaints")
    first = archive(agent, archivist, "complaint")
    second = archive(agent, archivist, "complaint")
    before = archivist.get(f"/api/v1/records/{first['id']}/retention").json()["retain_until"]

    preview = archivist.patch(f"{RETENTION}/schedules/{complaints}", params={"dry_run": "true"},
                              json={"period": "P1Y", "reason": "shorter"})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["dry_run"] is True and body["schedule"]["period"] == "P1Y" and body["schedule"]["version"] == 2
    assert body["examined"] == 2 and body["earlier"] == 2 and body["later"] == 0 and body["changed"] == 0
    assert {i["record_id"] for i in body["first_earlier"]} == {first["id"], second["id"]}
    assert body["first_earlier"][0]["retain_until_then"] < body["first_earlier"][0]["retain_until_now"]
    # nothing was stored
    assert archivist.get(f"{RETENTION}/schedules/{complaints}").json()["version"] == 1
    assert archivist.get(f"/api/v1/records/{first['id']}/retention").json()["retain_until"] == before

    # a preview runs the same checks as the edit: below a floor is refused either way
    consultations = schedule_id(archivist, "Consultations (SPEC §2.5)")
    refused = archivist.patch(f"{RETENTION}/schedules/{consultations}", params={"dry_run": "true"},
                              json={"period": "P1Y", "reason": "x"})
    assert refused.status_code == 422 and refused.json()["code"] == "retention_below_minimum"

    longer = archivist.patch(f"{RETENTION}/schedules/{complaints}", json={"period": "P5Y", "reason": "regulator"})
    assert longer.status_code == 200
    dry = archivist.post(f"{RETENTION}/schedules/{complaints}/reapply", json={"reason": "regulator", "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["later"] == 2 and dry.json()["earlier"] == 0 and dry.json()["changed"] == 0
    assert archivist.get(f"/api/v1/records/{first['id']}/retention").json()["retain_until"] == before
    done = archivist.post(f"{RETENTION}/schedules/{complaints}/reapply", json={"reason": "regulator"}).json()
    assert done["dry_run"] is False and done["changed"] == 2 and done["later"] == 2
    assert archivist.get(f"/api/v1/records/{first['id']}/retention").json()["retain_until"] > before

    # shorter again: without allow_shorter the preview says the files keep their later dates
    archivist.patch(f"{RETENTION}/schedules/{complaints}", json={"period": "P4Y", "reason": "settled"})
    kept = archivist.post(f"{RETENTION}/schedules/{complaints}/reapply", json={"reason": "align", "dry_run": True}).json()
    assert kept["kept_longer"] == 2 and kept["earlier"] == 0 and kept["unchanged"] == 2
    shorter = archivist.post(f"{RETENTION}/schedules/{complaints}/reapply",
                             json={"reason": "align", "dry_run": True, "allow_shorter": True}).json()
    assert shorter["earlier"] == 2 and len(shorter["first_earlier"]) == 2
