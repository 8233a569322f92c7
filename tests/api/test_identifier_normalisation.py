"""Issue 14, finding 3: one normalisation for every identifier. Full-width digits (what Chinese
input methods type), other scripts' digits and dashes of every width find, hold and index the
same customer as ASCII does, at filing, search, holds and retention events."""

from __future__ import annotations

import pytest

from records.crypto.blind_index import BlindIndex, normalise_account, normalise_identifier, normalise_phone
from tests.conftest import record_body

PHONE = "13987654321"
VARIANTS = [
    "１３９８７６５４３２１",  # full width (U+FF10…)
    "١٣٩٨٧٦٥٤٣٢١",  # Arabic-Indic
    "۱۳۹۸۷۶۵۴۳۲۱",  # Extended Arabic-Indic (Persian)
    "१३९८७६५४३२१",  # Devanagari
    "+86 139–8765–4321",  # en dashes
    "１３９　８７６５　４３２１",  # ideographic spaces
    "𝟏𝟑𝟗𝟖𝟕𝟔𝟓𝟒𝟑𝟐𝟏",  # mathematical bold digits
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_normalises_to_the_ascii_number(variant):
    assert normalise_phone(variant) == PHONE
    index = BlindIndex(b"k" * 32)
    assert index.phone(variant) == index.phone(PHONE)


def test_accounts_and_names_share_the_normalisation():
    assert normalise_account("ａｃｃｔ－ｙｌｗ－５５５０１") == normalise_account("ACCT-YLW-55501")
    assert normalise_account("ACCT—YLW−٥٥٥٠١") == "ACCT-YLW-55501"
    assert normalise_account("ACCT.YLW.55501") != "ACCT-YLW-55501"  # punctuation still distinguishes
    assert normalise_identifier("  张\u3000三 ") == "张 三"


def _ids(client, **params):
    response = client.get("/api/v1/records", params=params)
    assert response.status_code == 200, response.text
    return {r["id"] for r in response.json()["items"]}


def test_search_by_any_digits_finds_the_customer(agent):
    ascii_filed = agent.post("/api/v1/records", json=record_body(customer={"name": "李四", "phone": PHONE, "account": "ACC-7"}))
    wide_filed = agent.post("/api/v1/records", json=record_body(
        customer={"name": "李四", "phone": "１３９８７６５４３２１", "account": "ＡＣＣ－７"}))
    assert ascii_filed.status_code == wide_filed.status_code == 201, wide_filed.text
    # Stored as the number it is, so the masked form and every later comparison agree.
    assert wide_filed.json()["customer"]["phone"] == PHONE
    both = {ascii_filed.json()["id"], wide_filed.json()["id"]}
    for variant in VARIANTS:
        assert _ids(agent, customer_phone=variant) == both, variant
    assert _ids(agent, customer_account="ACC-٧") == both


def test_hold_by_full_width_phone_covers_the_customer(agent, archivist):
    filed = agent.post("/api/v1/records", json=record_body(customer={"name": "李四", "phone": PHONE, "account": "ACC-7"}))
    record_id = filed.json()["id"]
    hold = archivist.post("/api/v1/retention/holds", headers={"X-Purpose": "litigation hold"},
                          json={"reason": "Litigation", "case_reference": "C-1",
                                "query": {"customer_phone": "１３９８７６５４３２１"}})
    assert hold.status_code == 201, hold.text
    holds = archivist.get(f"/api/v1/records/{record_id}/retention").json()["holds"]
    assert hold.json()["id"] in holds


def test_hold_by_a_phone_without_digits_is_refused(archivist):
    r = archivist.post("/api/v1/retention/holds", headers={"X-Purpose": "litigation hold"},
                       json={"reason": "Litigation", "case_reference": "C-1", "query": {"customer_phone": "abc-def"}})
    assert r.status_code == 422, r.text
