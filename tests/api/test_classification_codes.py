"""Classification codes are checked (issue 15, item 2): schedules, floors and holds match on codes,
so a code no registered scheme defines is refused wherever a caller names one."""

from __future__ import annotations

from litestar.testing import TestClient

from records import hookimpl
from records.api.app import create_app
from records.classification import ClassificationScheme, SchemeCode
from records.plugins.manager import plugin_manager
from tests.conftest import record_body
from tests.console.conftest import ConsoleClient

RETENTION = "/api/v1/retention"


def _unknown(response, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "unknown_classification"
    assert code in body["detail"] and "urgency" in body["detail"] and "content" in body["schemes"]


def test_filing_and_amending_refuse_unknown_codes(agent):
    _unknown(agent.post("/api/v1/records", json=record_body(classification=["nosuchscheme:zzz"])), "nosuchscheme:zzz")
    _unknown(agent.post("/api/v1/records", json=record_body(classification=["content:network_service.sigal"])),
             "content:network_service.sigal")
    ok = agent.post("/api/v1/records", json=record_body(classification=["content:network_service.signal", "urgency"]))
    assert ok.status_code == 201, ok.text
    record = ok.json()
    r = agent.patch(f"/api/v1/records/{record['id']}", json={"classification": ["urgency:urgentt"]},
                    headers={"If-Match": f'"{record["version"]}"'})
    _unknown(r, "urgency:urgentt")


def test_schedules_and_floors_refuse_unknown_codes(archivist):
    body = {"name": "Typo", "kinds": ["complaint"], "classification": ["urgency:majr"], "period": "P5Y", "action": "destroy"}
    _unknown(archivist.post(f"{RETENTION}/schedules", json=body), "urgency:majr")
    created = archivist.post(f"{RETENTION}/schedules", json={**body, "classification": ["urgency:major"]})
    assert created.status_code == 201, created.text
    _unknown(archivist.patch(f"{RETENTION}/schedules/{created.json()['id']}",
                             json={"classification": ["nosuchscheme:zzz"], "reason": "typo"}), "nosuchscheme:zzz")
    _unknown(archivist.post(f"{RETENTION}/floors", json={"classification": ["nosuchscheme:zzz"], "minimum_period": "P1Y",
                                                         "reason": "x"}), "nosuchscheme:zzz")


class RegionScheme:
    @hookimpl
    def records_register_classification_schemes(self, register):  # type: ignore[no-untyped-def]
        register(ClassificationScheme(name="region", title_en="Region", title_zh="地区",
                                      codes=[SchemeCode(code="north", label_en="North", label_zh="北")]))


def _client(settings, *extra):  # type: ignore[no-untyped-def]
    pm = plugin_manager()
    for plugin in extra:
        pm.register(plugin, name="region-scheme")
    return create_app(settings, plugins=pm)


def test_codes_of_a_scheme_disabled_later_stay_valid(settings):
    app = _client(settings, RegionScheme())
    with TestClient(app) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "alice", "agent").token
        auth = {"Authorization": f"Bearer {token}"}
        filed = client.post("/api/v1/records", json=record_body(classification=["region:north"]), headers=auth)
        assert filed.status_code == 201, filed.text
        record = filed.json()
    app = _client(settings)  # the plugin is gone: its scheme is no longer registered
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        _unknown(client.post("/api/v1/records", json=record_body(classification=["region:north"]), headers=auth),
                 "region:north")
        # the stored code stays valid: the file can be amended with it, and it is still listed
        r = client.patch(f"/api/v1/records/{record['id']}", json={"classification": ["region:north", "urgency:urgent"]},
                         headers={**auth, "If-Match": f'"{record["version"]}"'})
        assert r.status_code == 200, r.text
        assert "region:north" in r.json()["classification"]
        # the console shows it as a code of a scheme no longer active, not as a label it lacks
        console = ConsoleClient(client, token)
        assert console.sign_in().status_code == 303
        page = console.get(f"/console/records/{record['id']}").text
        assert '<span title="region:north">region:north (inactive scheme)</span>' in page
        console.headers["accept-language"] = "zh-CN"
        console.get("/console/language", params={"lang": "zh_CN", "next": "/console/"})
        assert '<span title="region:north">region:north（已停用的分类方案）</span>' in console.get(
            f"/console/records/{record['id']}").text
