"""The log-integrity page over HTTP: a compliance officer sees the latest signed checkpoint and the
page hands the browser what it needs to check it itself (the script, its messages, the JSON
twins); each explorer row carries the bytes its Verify checks, and those bytes, the proof the
JSON twin serves and the signed root agree under an independent RFC 9162 verifier. The page is
audited as ``GET /api/v1/audit/checkpoint`` is; other roles are refused. (The checks themselves
run in Chromium: test_browser_compliance_journey.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
import re

from records.roles import Role
from tests.audit.rfc9162 import unhex, unhex_path, verify_inclusion
from tests.conftest import record_body


def seal(client) -> dict:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/audit/checkpoints")
    assert response.status_code == 201, response.text
    return response.json()


def test_the_page_shows_the_signed_checkpoint_and_loads_the_checks(console_as, compliance_officer):
    console = console_as(Role.compliance_officer, "carla")
    latest = seal(compliance_officer)
    shown = console.get("/console/audit/integrity")
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert f'<dd id="cp-size">{latest["tree_size"]}</dd>' in html
    assert latest["root_hash"] in html and latest["key_id"] in html
    assert '<script src="/console/static/audit-verify.js" defer></script>' in html
    assert 'id="verify-messages" hidden' in html and 'data-key="sig_failed"' in html
    # Nothing on the page comes from another host.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert 'href="/console/audit/integrity" aria-current="page"' in html  # in the navigation


def test_the_page_is_in_chinese_too(console_as):
    console = console_as(Role.compliance_officer, "carla")
    console.get("/console/language", params={"lang": "zh_CN", "next": "/console/audit/integrity"})
    html = console.get("/console/audit/integrity").text
    assert "<h1>日志完整性</h1>" in html
    assert "检查点的签名无法用密钥 {key} 验证" in html  # the script's messages, in the page's language


def test_the_script_is_served_from_the_package(client):
    script = client.get("/console/static/audit-verify.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "verifyInclusion" in script.text and "Ed25519" in script.text


def test_viewing_the_page_is_audited_as_the_checkpoint_read(console_as, compliance_officer):
    console = console_as(Role.compliance_officer, "carla")
    assert console.get("/console/audit/integrity").status_code == 200
    compliance_officer.get("/api/v1/audit/checkpoint")
    reads = compliance_officer.get("/api/v1/audit/events",
                                   params={"action": "audit.checkpoint.read", "limit": 500}).json()["items"]
    page_read, api_read = reads[-2], reads[-1]
    assert (page_read["actor"], page_read["role"], page_read["outcome"]) == ("carla", "compliance_officer", "allowed")
    assert page_read["action"] == api_read["action"] and page_read["targets"] == api_read["targets"]


def test_other_roles_are_refused(console_as):
    console = console_as(Role.agent, "alice")
    refused = console.get("/console/audit/integrity")
    assert refused.status_code == 403, refused.text
    assert "Log integrity" not in refused.text.split("<main", 1)[0]  # not in their navigation
    assert console.get("/console/audit/checkpoint.json").status_code == 403


def test_each_explorer_row_carries_bytes_whose_proof_leads_to_the_signed_root(console_as, agent, compliance_officer):
    filed = agent.post("/api/v1/records", json=record_body()).json()
    assert agent.get(f"/api/v1/records/{filed['id']}").status_code == 200
    console = console_as(Role.compliance_officer, "carla")
    seal(compliance_officer)
    html = console.get("/console/audit", params={"record_id": filed["id"], "action": "record.read"}).text
    [(seq, canonical)] = re.findall(r'<tr data-seq="(\d+)" data-canonical="([^"]+)"', html)
    assert f'aria-describedby="verify-{seq}"' in html and 'class="verify-event secondary" hidden' in html
    entry = base64.b64decode(canonical)
    event = json.loads(entry)
    assert (event["seq"], event["action"], event["targets"]) == (int(seq), "record.read", [f"record:{filed['id']}"])

    checkpoint = console.get("/console/audit/checkpoint.json").json()
    proof = console.get("/console/audit/proofs/inclusion.json",
                        params={"index": seq, "tree_size": checkpoint["tree_size"]}).json()
    leaf = hashlib.sha256(b"\x00" + entry).digest()
    assert proof["leaf_hash"] == leaf.hex()
    assert verify_inclusion(leaf, int(seq), checkpoint["tree_size"], unhex_path(proof["path"]),
                            unhex(checkpoint["root_hash"]))
    # A byte changed in the event no longer hashes into the signed root.
    altered = hashlib.sha256(b"\x00" + entry.replace(b"record.read", b"record.list")).digest()
    assert not verify_inclusion(altered, int(seq), checkpoint["tree_size"], unhex_path(proof["path"]),
                                unhex(checkpoint["root_hash"]))


def test_a_proof_beyond_the_signed_log_is_a_clear_refusal(console_as):
    console = console_as(Role.compliance_officer, "carla")
    size = console.get("/console/audit/checkpoint.json").json()["tree_size"]
    beyond = console.get("/console/audit/proofs/inclusion.json", params={"index": size + 5, "tree_size": size + 10})
    assert beyond.status_code == 422
    assert "latest checkpoint" in beyond.text and "Traceback" not in beyond.text
    garbage = console.get("/console/audit/proofs/consistency.json", params={"first": "x", "second": 1})
    assert garbage.status_code in (400, 422) and "Traceback" not in garbage.text
