"""A compliance officer's journey in Chromium: find an access in the audit explorer, have the
browser verify it (inclusion proof against the signed checkpoint, Ed25519 signature with
WebCrypto), see the log's integrity page remember the checkpoint and prove the next one extends
it, and export the events. Then the server is made to lie (Playwright rewrites its JSON on the
way to the page) and the page must say the check FAILED. The script's algorithms are also run
directly against trees and proofs built by ``records.audit.merkle``."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from records.audit.merkle import MerkleFrontier, consistency_path, inclusion_path, leaf_hash, root
from tests.conftest import record_body
from tests.console.conftest import assert_accessible, screenshot, sign_in

STORE_KEY = "records.audit.checkpoint.v1"


def seal(server) -> dict:  # type: ignore[no-untyped-def]
    with server.api("compliance_officer") as api:
        response = api.post("/api/v1/audit/checkpoints")
    assert response.status_code == 201, response.text
    return response.json()


def file_and_read(server) -> str:  # type: ignore[no-untyped-def]
    with server.api("agent") as api:
        record = api.post("/api/v1/records", json=record_body(subject="Billing dispute")).json()
        assert api.get(f"/api/v1/records/{record['id']}").status_code == 200
    return record["id"]


def open_integrity(page, server) -> str:  # type: ignore[no-untyped-def]
    """Load the integrity page and wait for the browser's checks; returns their verdict."""
    page.goto(f"{server.base_url}/console/audit/integrity")
    page.wait_for_selector("#integrity[data-result]")
    return page.locator("#integrity").get_attribute("data-result")


def checks(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator("#checks").inner_text()


def rewrite(page, pattern: str, change) -> None:  # type: ignore[no-untyped-def]
    """Serve the page the server's JSON at ``pattern`` after ``change(body)`` edits it."""

    def handle(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        change(body)
        route.fulfill(response=response, body=json.dumps(body), content_type="application/json")

    page.route(pattern, handle)


def flip(hex_hash: str) -> str:
    return ("1" if hex_hash[0] == "0" else "0") + hex_hash[1:]


def explorer_row(page, server, record_id: str):  # type: ignore[no-untyped-def]
    page.goto(f"{server.base_url}/console/audit?record_id={record_id}&action=record.read")
    row = page.locator("tr[data-seq]")
    assert row.count() == 1
    return row


def verify_row(row) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Press the row's Verify and wait for the browser's verdict: (status, what the row says)."""
    row.get_by_role("button", name=re.compile(r"^Verify")).click()
    seq = row.get_attribute("data-seq")
    row.page.wait_for_selector(f"tr[data-seq='{seq}'][data-verified]:not([data-verified=running])")
    return row.get_attribute("data-verified"), row.locator("output").inner_text()


def test_compliance_officer_finds_an_access_verifies_it_and_exports(page, console_server):
    record_id = file_and_read(console_server)
    seal(console_server)
    sign_in(page, console_server, "compliance_officer")

    # First visit of the integrity page: the signature is checked, nothing to compare with yet.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log integrity").click()
    page.wait_for_selector("#integrity[data-result]")
    assert page.locator("#integrity").get_attribute("data-result") == "unchecked"
    text = checks(page)
    assert "Passed: The checkpoint of tree size" in text and "(Ed25519, checked by this browser)" in text
    assert "Not checked: This browser has not seen a checkpoint of this log before" in text

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_label("Record").fill(record_id)
    page.get_by_label("Action").fill("record.read")
    page.get_by_role("button", name="Show events").click()
    page.wait_for_url(re.compile(r".*record_id=.*"))
    row = page.locator("tr[data-seq]")
    assert row.count() == 1 and "agent-browser" in row.inner_text()
    status, said = verify_row(row)
    assert status == "passed", said
    assert said.startswith("Passed: In the signed log: event ")
    assert_accessible(page)
    screenshot(page, "audit-verify")

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    exported = open(download.value.path(), encoding="utf-8").read()
    assert record_id in exported and "record.read" in exported

    # The log grows; the next visit proves the new checkpoint extends the one remembered.
    seen = json.loads(page.evaluate(f"() => localStorage.getItem('{STORE_KEY}')"))
    file_and_read(console_server)
    later = seal(console_server)
    assert later["tree_size"] > seen["tree_size"]
    assert open_integrity(page, console_server) == "passed", checks(page)
    assert "extends the one this browser saw at" in checks(page)
    assert f"(tree size {seen['tree_size']})" in checks(page)
    assert page.locator("#checks-summary").inner_text() == "Every check passed."
    assert_accessible(page)
    screenshot(page, "integrity")


def test_the_page_says_failed_when_the_server_lies(page, console_server):
    sign_in(page, console_server, "compliance_officer")

    # An altered root: the signature no longer covers the checkpoint, and it is not remembered.
    rewrite(page, "**/console/audit/checkpoint.json", lambda cp: cp.update(root_hash=flip(cp["root_hash"])))
    assert open_integrity(page, console_server) == "failed"
    assert "FAILED: The checkpoint's signature does not verify against key" in checks(page)
    assert page.locator("#checks-summary").inner_text().startswith("At least one check FAILED.")
    assert page.evaluate(f"() => localStorage.getItem('{STORE_KEY}')") is None
    page.unroute("**/console/audit/checkpoint.json")

    # The honest checkpoint is remembered; then a consistency proof that does not hold.
    assert open_integrity(page, console_server) == "unchecked"
    remembered = page.evaluate(f"() => localStorage.getItem('{STORE_KEY}')")
    file_and_read(console_server)
    seal(console_server)
    rewrite(page, "**/console/audit/proofs/consistency.json*", lambda p: p.update(path=[flip(h) for h in p["path"]]))
    assert open_integrity(page, console_server) == "failed"
    assert "FAILED: The consistency proof from tree size" in checks(page)
    assert page.evaluate(f"() => localStorage.getItem('{STORE_KEY}')") == remembered  # still the trusted one
    page.unroute("**/console/audit/proofs/consistency.json*")

    # A log smaller than what this browser saw: rolled back.
    page.evaluate("""key => {
        const seen = JSON.parse(localStorage.getItem(key));
        seen.tree_size += 1000000;
        localStorage.setItem(key, JSON.stringify(seen));
    }""", STORE_KEY)
    assert open_integrity(page, console_server) == "failed"
    assert "it was rolled back or replaced" in checks(page)
    page.get_by_role("button", name="Forget the remembered checkpoint").click()
    assert page.locator("#remembered").inner_text() == "This browser remembers no checkpoint of this log."

    # The signing key replaced by another one under the same name.
    assert open_integrity(page, console_server) == "unchecked"
    other_key = Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    rewrite(page, "**/console/audit/public-keys.json",
            lambda keys: [k.update(public_key=other_key) for k in keys["items"]])
    assert open_integrity(page, console_server) == "failed"
    text = checks(page)
    assert "FAILED: The checkpoint's signature does not verify" in text
    assert "differs from the one this browser saw under that name before" in text
    assert_accessible(page)


def test_verify_in_the_explorer_fails_on_a_wrong_proof_or_altered_bytes(page, console_server):
    record_id = file_and_read(console_server)
    seal(console_server)
    sign_in(page, console_server, "compliance_officer")

    rewrite(page, "**/console/audit/proofs/inclusion.json*", lambda p: p.update(path=[flip(h) for h in p["path"]]))
    status, said = verify_row(explorer_row(page, console_server, record_id))
    assert status == "failed" and said.startswith("FAILED: NOT in the signed log"), said
    page.unroute("**/console/audit/proofs/inclusion.json*")

    # The row's bytes altered (a purpose the event never had): they are not the log's.
    row = explorer_row(page, console_server, record_id)
    row.evaluate("""tr => {
        const event = JSON.parse(atob(tr.dataset.canonical));
        event.purpose = "audit";
        tr.dataset.canonical = btoa(JSON.stringify(event));
    }""")
    status, said = verify_row(row)
    assert status == "failed" and "are not the ones the log holds" in said, said

    # The row says another action than its bytes.
    row = explorer_row(page, console_server, record_id)
    row.locator("td code").evaluate("code => { code.textContent = 'record.list'; }")
    status, said = verify_row(row)
    assert status == "failed" and "does not show what the event's signed bytes say" in said, said

    # And an honest row still passes after all that.
    status, said = verify_row(explorer_row(page, console_server, record_id))
    assert status == "passed", said


def _tree(size: int) -> tuple[dict[tuple[int, int], bytes], list[bytes]]:
    entries = [f"entry {i}".encode() for i in range(size)]
    nodes: dict[tuple[int, int], bytes] = {}
    frontier = MerkleFrontier(0, {})
    for entry in entries:
        for level, index, digest in frontier.append(leaf_hash(entry)):
            nodes[(level, index)] = digest
    return nodes, entries


def test_the_scripts_algorithms_agree_with_the_servers_tree(page, console_server):
    sign_in(page, console_server, "compliance_officer")
    page.goto(f"{console_server.base_url}/console/audit/integrity")
    page.wait_for_selector("#integrity[data-result]")
    inclusions, consistencies = [], []
    for size in range(1, 20):
        nodes, entries = _tree(size)
        look = lambda level, index, nodes=nodes: nodes[(level, index)]  # noqa: E731
        top = root(size, look).hex()
        for index in range(size):
            inclusions.append({"index": index, "size": size, "entry": base64.b64encode(entries[index]).decode(),
                               "path": [h.hex() for h in inclusion_path(index, size, look)], "root": top})
        for first in range(1, size + 1):
            consistencies.append({"first": first, "second": size, "firstRoot": root(first, look).hex(), "secondRoot": top,
                                  "path": [h.hex() for h in consistency_path(first, size, look)]})
    result = page.evaluate("""async ([inclusions, consistencies]) => {
        const A = window.RecordsAudit, h = A.hexToBytes;
        const out = {inclusion: [], wrongIndex: [], wrongPath: [], consistency: [], wrongFirst: [], wrongSecond: [], cut: []};
        for (const c of inclusions) {
            const leaf = await A.leafHash(A.base64ToBytes(c.entry)), path = c.path.map(h), top = h(c.root);
            out.inclusion.push(await A.verifyInclusion(c.index, c.size, leaf, path, top));
            if (c.size > 1) out.wrongIndex.push(await A.verifyInclusion((c.index + 1) % c.size, c.size, leaf, path, top));
            if (path.length) {
                const bad = path.slice(); bad[bad.length - 1] = await A.nodeHash(bad[0], bad[0]);
                out.wrongPath.push(await A.verifyInclusion(c.index, c.size, leaf, bad, top));
            }
        }
        for (const c of consistencies) {
            const path = c.path.map(h), r1 = h(c.firstRoot), r2 = h(c.secondRoot);
            out.consistency.push(await A.verifyConsistency(c.first, c.second, r1, r2, path));
            if (c.first < c.second) {
                out.wrongFirst.push(await A.verifyConsistency(c.first, c.second, await A.nodeHash(r1, r1), r2, path));
                out.wrongSecond.push(await A.verifyConsistency(c.first, c.second, r1, await A.nodeHash(r2, r2), path));
                out.cut.push(await A.verifyConsistency(c.first, c.second, r1, r2, path.slice(0, -1)));
            }
        }
        out.empty = A.bytesToHex(await A.emptyRoot());
        return out;
    }""", [inclusions, consistencies])
    assert len(result["inclusion"]) == len(inclusions) and all(result["inclusion"])
    assert len(result["consistency"]) == len(consistencies) and all(result["consistency"])
    for negative in ("wrongIndex", "wrongPath", "wrongFirst", "wrongSecond", "cut"):
        assert result[negative] and not any(result[negative]), negative
    assert result["empty"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_the_scripts_signature_check_reads_the_published_key(page, console_server):
    sign_in(page, console_server, "compliance_officer")
    page.goto(f"{console_server.base_url}/console/audit/integrity")
    page.wait_for_selector("#integrity[data-result]")
    verdicts = page.evaluate("""async () => {
        const A = window.RecordsAudit;
        const cp = await (await fetch('/console/audit/checkpoint.json')).json();
        const keys = (await (await fetch('/console/audit/public-keys.json')).json()).items;
        const pem = keys.find(k => k.key_id === cp.key_id).public_key;
        return [await A.verifySignature(cp, pem),
                await A.verifySignature({...cp, tree_size: cp.tree_size + 1}, pem),
                // another last digit of the timestamp (a fixed '9' left one ending in 9 unchanged)
                await A.verifySignature({...cp, timestamp: cp.timestamp.replace(/(.)Z$/, (_, d) => (d === '9' ? '8' : '9') + 'Z')}, pem),
                await A.verifySignature({...cp, signature: 'AAAA'}, pem),
                await A.verifySignature(cp, 'not a key')];
    }""")
    assert verdicts == ["passed", "failed", "failed", "failed", "bad_key"]


def test_what_could_not_be_checked_is_said(page, console_server):
    sign_in(page, console_server, "compliance_officer")
    # A browser whose WebCrypto has no Ed25519 (older ones): the signature is not checked, and
    # the page says so instead of passing it.
    page.add_init_script("""(() => {
        const importKey = SubtleCrypto.prototype.importKey;
        SubtleCrypto.prototype.importKey = function (format, data, algorithm, ...rest) {
            if ((algorithm && algorithm.name || algorithm) === "Ed25519") {
                return Promise.reject(new DOMException("Algorithm: Unrecognized name", "NotSupportedError"));
            }
            return importKey.call(this, format, data, algorithm, ...rest);
        };
    })()""")
    assert open_integrity(page, console_server) == "unchecked"
    text = checks(page)
    assert "Not checked: This browser's WebCrypto has no Ed25519" in text
    assert "Passed: The checkpoint" not in text
    assert page.locator("#checks-summary").inner_text() == "No check failed, but some could not be run (see above)."
    record_id = file_and_read(console_server)
    seal(console_server)
    status, said = verify_row(explorer_row(page, console_server, record_id))
    assert status == "unchecked" and "could not check that checkpoint's signature" in said, said


def test_without_webcrypto_nothing_is_claimed(page, console_server):
    sign_in(page, console_server, "compliance_officer")
    # Served over plain http from another host, a page has no crypto.subtle.
    page.add_init_script("Object.defineProperty(window, 'isSecureContext', {get: () => false});")
    assert open_integrity(page, console_server) == "unchecked"
    assert checks(page) == "Not checked: This browser offers no WebCrypto on this page (it needs https, or localhost), so nothing could be checked."
    assert page.evaluate(f"() => localStorage.getItem('{STORE_KEY}')") is None
