"""Every console route met by a hostile or clumsy user, over plain HTTP: malformed, oversized,
control-character and repeated values in every query and form, ids that name nothing, forms
without their CSRF token, links that try to send the viewer to another host, every role on every
page, and methods a browser sends without asking (HEAD, OPTIONS).

What a person depends on: a clear 4xx page with a stable code (or a 303 to sign-in), never a
500 or a traceback, nothing half-written, what they typed never run as markup, no page admitting
a role its API route refuses, and no customer's personal data in a page for a role that sees it
masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Litestar

from records.api.records import LIST_TEXT_LIMITS
from records.plugins.signing import public_pem
from records.roles import Role
from tests.conftest import RoleClient, record_body
from tests.console.conftest import ConsoleClient
from tests.retention.setup import RETENTION, archived_record, hold, now_schedule, open_batch, review_item

MARK = "<script>hostile()</script>"
HOSTILE = ["not-a-uuid", "\x00", "a" * 2100, "\u202e\u0007\ufeff", MARK, "-1", "99999999999999999999",
           "9999-12-31", "0001-01-01", "2026-02-30T25:61", "", "%00%0d%0a"]
# Every query parameter a console page reads, and every form field a console form reads.
QUERY = ("offset", "limit", "cursor", "status", "kind", "active", "from", "to", "group_by", "since", "until",
         "outcome", "role", "actor", "record_id", "action", "format", "index", "tree_size", "first", "second",
         "decided", "reapplied", "saved", "conflict", "done", "name", "include_revoked", "next", "lang", "reason",
         "customer_phone", "customer_account", "purpose", "received_from", "received_to", "sla", "channel",
         "urgency", "classification", "owner", "reference")
FORM = ("name", "role", "reason", "decision", "until", "scope", "record_id", "item", "kind", "to", "note", "version",
        "text", "type", "direction", "subject", "description", "needs", "result", "owner", "satisfaction",
        "feedback_comment", "intent", "period", "trigger", "event", "action", "kinds", "classification", "cutoff",
        "allow_shorter", "public_key", "purpose", "customer_phone", "customer_account", "record_ids", "case_reference",
        "received_from", "received_to", "received_at", "deadline", "urgency", "channel", "customer.name",
        "customer.phone", "customer.account", "incident.started_at", "token", "next")
NOBODY = "00000000-0000-4000-8000-000000000000"
PLACEHOLDER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
# Console actions no API route has: each is the form of the API action named here, and admits its roles.
CONSOLE_ONLY = {"console.record_form": "record.create", "console.hold_form": "retention.hold.place",
                "console.schedule_form": "retention.schedule.create"}
PUBLIC = {"/console/sign-in", "/console/language"}


# --- the routes ---------------------------------------------------------------------------------

def console_routes(app: Litestar) -> list[tuple[str, str, Any]]:
    """(method, path template, handler) of every console route but its static files and the
    OPTIONS answers litestar adds itself."""
    found = []
    for route in app.routes:
        if not route.path.startswith("/console") or route.path.startswith("/console/static"):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"OPTIONS"}):
                found.append((method, route.path, handler))
    return sorted(found, key=lambda r: (r[1], r[0]))


def fill(path: str, ids: dict[str, str], default: str = NOBODY) -> str:
    """The path with each ``{name}`` replaced by ``ids[name]`` (quoted), else by ``default`` as it is."""
    return PLACEHOLDER.sub(lambda m: quote(ids[m.group(1)], safe="") if m.group(1) in ids else default, path)


def quoted(value: str) -> str:
    """A path segment carrying ``value`` as it is (an empty one would be another route)."""
    return quote(value or " ", safe="")


def roles_of(handler: Any) -> frozenset[Role]:
    return frozenset(handler.opt.get("roles", frozenset()))


def viewer_for(handler: Any) -> Role:
    """The role that walks a route: admin where admitted, else the first role it admits."""
    roles = roles_of(handler)
    return Role.admin if not roles or Role.admin in roles else sorted(roles)[0]


def csrf_headers(console: ConsoleClient) -> dict[str, str]:
    return {"X-CSRF-Token": console.csrf}


def send(console: ConsoleClient, method: str, path: str, *, params: Any = None, data: Any = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    if method == "POST":
        return console.request("POST", path, data=data, params=params,
                               headers={**csrf_headers(console), **(headers or {})}, follow_redirects=False)
    return console.request(method, path, params=params, headers=headers, follow_redirects=False)


def assert_handled(response: httpx.Response, what: str) -> None:
    """A refusal a person can read, or the page; never a server failure, a traceback or the
    viewer's own input run as markup."""
    assert response.status_code < 500, f"{what}: {response.status_code}\n{response.text[:2000]}"
    assert "Traceback" not in response.text, what
    if response.headers.get("content-type", "").startswith("text/html"):
        assert MARK not in response.text, f"{what}: an unescaped value in the page"
        if response.status_code >= 400:
            # Every refusal page or form says what went wrong, with a code or beside the field.
            assert 'class="code"' in response.text or 'class="error"' in response.text or "aria-invalid" in response.text, \
                f"{what}: {response.status_code} without a message\n{response.text[:1500]}"


# --- a small world to be hostile to -------------------------------------------------------------

@pytest.fixture
def world(admin: RoleClient) -> dict[str, str]:
    """A filed record, an open batch, a held record, a schedule and an item awaiting review."""
    filed = admin.post("/api/v1/records", json=record_body())
    assert filed.status_code == 201, filed.text
    held = archived_record(admin)
    review = review_item(admin)
    return {"record_id": filed.json()["id"], "batch_id": open_batch(admin), "hold_id": hold(admin, held),
            "schedule_id": now_schedule(admin), "review": f"{review['batch_id']}:{review['record_id']}",
            "metric": "first_contact_resolution"}


def routes_walked_by(app: Litestar, role: Role) -> Iterator[tuple[str, str, Any]]:
    for method, path, handler in console_routes(app):
        if path in PUBLIC or path == "/console/sign-out":
            continue  # signed out by the walk itself; the public pages have their own test
        if viewer_for(handler) is role:
            yield method, path, handler


# --- roles: never more than the API ---------------------------------------------------------------

def test_no_console_route_admits_a_role_its_api_action_refuses(app: Litestar):
    api: dict[str, set[Role]] = {}
    for route in app.routes:
        if route.path.startswith("/api/"):
            for handler in getattr(route, "route_handlers", []):
                if (action := handler.opt.get("audit")) is not None:
                    api.setdefault(action, set()).update(roles_of(handler))
    checked = 0
    for method, path, handler in console_routes(app):
        action, roles = handler.opt.get("audit"), roles_of(handler)
        if path in PUBLIC or action in ("console.sign_in", "console.sign_out") or (path == "/console" and not action):
            continue
        assert action, f"{method} {path} is not audited as any action"
        twin = CONSOLE_ONLY.get(action, action)
        assert twin in api, f"{method} {path} is audited as {action!r}, which no API route is (add its twin to CONSOLE_ONLY)"
        assert roles, f"{method} {path} admits every role"
        assert roles <= api[twin], f"{method} {path} admits {sorted(roles - api[twin])}, which {twin} refuses"
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_every_page_refuses_the_roles_it_does_not_admit(console_as, app: Litestar, role: Role):
    console = console_as(role, f"{role.value}-walker")
    for method, path, handler in console_routes(app):
        if path in PUBLIC or path == "/console/sign-out" or not roles_of(handler):
            continue
        response = send(console, method, fill(path, {}), data={})
        assert_handled(response, f"{role.value} {method} {path}")
        if role in roles_of(handler):
            assert "<code>forbidden</code>" not in response.text, f"{role.value} is refused {method} {path}"
        else:
            assert response.status_code == 403 and "<code>forbidden</code>" in response.text, \
                f"{role.value} {method} {path}: {response.status_code}"


# --- hostile values on every route ------------------------------------------------------------------

# Each route is walked by viewer_for(): admin where admitted, else (plugins, a reveal) the first role admitted.
WALKERS = [Role.admin, Role.agent, Role.plugin_manager]


@pytest.mark.parametrize("role", WALKERS, ids=lambda r: r.value)
def test_hostile_values_in_every_query_form_and_path_are_refused_clearly(console_as, app: Litestar, world, role: Role):
    console = console_as(role, f"{role.value}-hostile")
    walked = 0
    for method, path, _handler in routes_walked_by(app, role):
        real = fill(path, world, default="no-such-thing")
        for value in HOSTILE:
            if method == "GET":
                once = {name: value[:1200] for name in QUERY}  # a URL holds at most 64 KiB
                assert_handled(send(console, method, real, params=once), f"{method} {path} ?*={value[:20]!r}")
                repeated = [(name, v) for name in QUERY for v in (value[:300], "1")]
                assert_handled(send(console, method, real, params=repeated), f"{method} {path} repeated {value[:20]!r}")
            else:
                form = {name: value for name in FORM} | {"csrf_token": console.csrf}
                assert_handled(send(console, method, real, data=form), f"{method} {path} form={value[:20]!r}")
            if "{" in path:
                assert_handled(send(console, method, fill(path, {}, default=quoted(value)), data={}),
                               f"{method} {path} id={value[:20]!r}")
        walked += 1
    assert walked >= (20 if role is Role.admin else 1)


def test_posts_of_the_wrong_shape_are_refused_not_failed(console_as, app: Litestar, world):
    console = console_as(Role.admin, "root-shapes")
    for method, path, _handler in routes_walked_by(app, Role.admin):
        if method != "POST":
            continue
        real = fill(path, world, default="no-such-thing")
        shapes: list[dict[str, Any]] = [
            {"content": b'{"reason": "json"}', "headers": {"content-type": "application/json"}},
            {"content": b"\xff\xfe\x00garbage", "headers": {"content-type": "application/x-www-form-urlencoded"}},
            {"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=x"}},
            {"content": b"", "headers": {"content-type": "text/plain"}},
        ]
        for shape in shapes:
            response = console.request("POST", real, content=shape["content"],
                                       headers={**csrf_headers(console), **shape["headers"]}, follow_redirects=False)
            assert_handled(response, f"POST {path} {shape['headers']['content-type']}")


# --- CSRF on every POST -----------------------------------------------------------------------------

def test_every_post_without_its_csrf_token_is_refused_and_changes_nothing(console_as, app: Litestar, world, admin):
    console = console_as(Role.admin, "root-csrf")
    before = admin.get(f"/api/v1/records/{world['record_id']}").json()
    posts = [(path, handler) for method, path, handler in console_routes(app) if method == "POST"]
    assert len(posts) >= 20
    for path, handler in posts:
        real = fill(path, world, default="no-such-thing")
        attempts = {
            "none": {"data": {"reason": "no token"}},
            "wrong field": {"data": {"csrf_token": "forged", "reason": "forged"}},
            "wrong header": {"data": {"reason": "forged"}, "headers": {"X-CSRF-Token": "forged"}},
        }
        if not handler.opt.get("streams_body"):
            # Only uploads (which cannot read a form before streaming it) take the token in the query.
            attempts["in the query"] = {"data": {"reason": "query"}, "params": {"csrf_token": console.csrf}}
        for name, attempt in attempts.items():
            response = console.request("POST", real, follow_redirects=False, **attempt)
            assert_handled(response, f"POST {path} csrf {name}")
            assert response.status_code == 403 and "<code>csrf_refused</code>" in response.text, \
                f"POST {path} with csrf {name}: {response.status_code}"
    after = admin.get(f"/api/v1/records/{world['record_id']}").json()
    assert after["version"] == before["version"] and after["notes"] == before["notes"]
    assert console.get("/console/").status_code == 200  # still signed in: no POST signed the viewer out


# --- signed out, HEAD and OPTIONS ---------------------------------------------------------------------

def test_every_route_signed_out_leads_to_sign_in_whatever_the_method(client, app: Litestar):
    for method, path, _handler in console_routes(app):
        if path in PUBLIC:
            continue
        for verb in {method, "HEAD", "OPTIONS"}:
            response = client.request(verb, fill(path, {}), headers={"HX-Request": "true"}, follow_redirects=False)
            assert response.status_code < 500, f"{verb} {path}"
            if verb == "HEAD" and method != "HEAD":
                assert response.status_code == 405, f"HEAD {path}: {response.status_code}"
                continue
            assert response.status_code == 303, f"{verb} {path}: {response.status_code}"
            location = response.headers["location"]
            assert location.startswith("/console/sign-in") and response.headers.get("hx-redirect") == location


def test_head_and_options_on_every_page_are_answered_signed_in(console_as, app: Litestar):
    console = console_as(Role.admin, "root-methods")
    for method, path, _handler in console_routes(app):
        if path == "/console/sign-out":
            continue
        for verb in ("HEAD", "PUT", "DELETE", "PATCH"):  # no console route answers these
            refused = console.request(verb, fill(path, {}), headers=csrf_headers(console), follow_redirects=False)
            assert refused.status_code == 405, f"{verb} {path}: {refused.status_code}"
            assert method in refused.headers.get("allow", ""), f"{verb} {path}: Allow {refused.headers.get('allow')}"
            assert refused.headers["content-type"].startswith("text/html"), f"{verb} {path}"
            if verb != "HEAD":
                assert "<code>method_not_allowed</code>" in refused.text, f"{verb} {path}"
        options = console.request("OPTIONS", fill(path, {}), follow_redirects=False)
        assert options.status_code == 204, f"OPTIONS {path}: {options.status_code}"


# --- where a link may send the viewer ---------------------------------------------------------------

OFF_SITE = ["//evil.example", "https://evil.example/console/", "/\\evil.example", "\\\\evil.example",
            "/console/\\..\\\\evil.example", "/console/sign-in/..//evil.example", "/console/\r\nSet-Cookie: x=1",
            "/console/sign-in\r\nLocation: //evil.example", "/console/\x00", "/console/\t/evil.example",
            "javascript:alert(1)", "/console/" + "a" * 3000, " //evil.example"]


def test_next_never_leads_off_the_console(client, issue_token):
    console = ConsoleClient(client, issue_token(Role.agent, "agent-next"))
    for target in OFF_SITE:
        language = client.get("/console/language", params={"lang": "zh_CN", "next": target}, follow_redirects=False)
        assert language.status_code == 303
        form = client.get("/console/sign-in", params={"next": target})
        assert form.status_code == 200
        [shown] = re.findall(r'name="next" value="([^"]*)"', form.text)
        signed_in = console.sign_in(next_path=target)
        assert signed_in.status_code == 303
        for location in (language.headers["location"], shown, signed_in.headers["location"]):
            assert location.startswith("/console/"), (target, location)
            # Nothing a browser would drop or reinterpret (a tab, a newline, a backslash), no second host.
            assert not re.search(r"[\x00-\x20\x7f\\]", location) and "//" not in location, (target, location)


# --- the defects this walk found ----------------------------------------------------------------

def test_a_hand_made_conflict_link_shows_the_page_without_a_conflict(console_as, filed):
    console = console_as(Role.agent, "alice-conflict")
    for value in ("x", "1", "1:", ":2", "a:b", "1:2:3", MARK, "9" * 20 + ":1"):
        response = console.get(f"/console/records/{filed['id']}", params={"conflict": value})
        assert response.status_code == 200, (value, response.text[:500])
        assert 'id="conflict"' not in response.text
    real = console.get(f"/console/records/{filed['id']}", params={"conflict": "1:2"})
    assert real.status_code == 200 and 'id="conflict"' in real.text and "version 1" in real.text


def test_an_extension_past_the_calendar_is_refused_beside_its_date_and_decides_nothing(console_as, admin, world):
    console = console_as(Role.archivist, "ada-extend")
    for until in ("9999-12-31", "0001-01-01"):
        response = console.post("/console/retention/reviews/decisions",
                                {"decision": "extend", "reason": "the case goes on", "until": until, "item": world["review"]})
        assert response.status_code == 422, response.text[:1500]
        assert "between the years 1000 and 9998" in response.text and 'aria-invalid="true"' in response.text
    batch_id, record_id = world["review"].split(":")
    [item] = [i for i in admin.get(f"{RETENTION}/batches/{batch_id}").json()["items"] if i["record_id"] == record_id]
    assert item["decision"] == "pending" and not item.get("reviews")
    api = admin.post("/api/v1/reviews/decisions", json={"decision": "extend", "reason": "r", "until": "9999-12-31T00:00:00+08:00",
                                                          "items": [{"batch_id": batch_id, "record_id": record_id}]})
    assert api.status_code == 422 and api.json()["code"] == "validation_failed"


# --- htmx fragments and uploads -----------------------------------------------------------------------

def test_fragments_asked_for_without_htmx_are_whole_pages_or_plain_fragments(console_as, world):
    console = console_as(Role.archivist, "ada-fragments")
    page = console.get("/console/metrics/deadlines")
    assert page.status_code == 200 and "<html" in page.text
    fragment = console.get("/console/metrics/deadlines", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    progress = console.get(f"/console/retention/batches/{world['batch_id']}/progress")
    assert progress.status_code == 200 and 'id="batch-progress"' in progress.text
    missing = console.get("/console/retention/batches/no-such-batch/progress", headers={"HX-Request": "true"})
    assert missing.status_code == 404 and "<code>" in missing.text


def test_uploads_without_a_file_or_with_hostile_names_are_refused_or_kept_harmless(console_as, agent, filed):
    console = console_as(agent)
    url = f"/console/records/{filed['id']}/attachments"
    token = {"csrf_token": console.csrf}
    refusals = [
        ({"data": {"note": "no file"}}, 415),
        ({"files": {"other": ("a.txt", b"x", "text/plain")}}, 422),
        ({"files": {"file": ("a" * 100_000 + ".txt", b"x", "text/plain")}}, 413),
        ({"content": b"plain", "headers": {"content-type": "text/plain"}}, 415),
        ({"content": b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.txt\"\r\n\r\nhalf",
          "headers": {"content-type": "multipart/form-data; boundary=b"}}, None),
    ]
    for kw, status in refusals:
        response = console.request("POST", url, params=token, follow_redirects=False, **kw)
        assert_handled(response, f"upload {status}")
        assert response.status_code == status if status else 400 <= response.status_code < 500, response.status_code
    assert agent.get(f"/api/v1/records/{filed['id']}").json()["attachments"] == []  # nothing half-stored
    odd = console.request("POST", url, params=token, follow_redirects=False,
                          files={"file": (f"\x00\u202e{MARK}.txt", b"hi", "text/html")})
    assert odd.status_code == 303
    page = console.get(f"/console/records/{filed['id']}")
    assert page.status_code == 200 and MARK not in page.text and "\u202e" not in page.text


def test_a_plugin_upload_without_its_wheel_is_refused_beside_the_form(console_as, plugin_manager):
    console = console_as(plugin_manager)
    token = {"csrf_token": console.csrf}
    for kw in ({"files": {"wheel": ("x.whl", b"", "application/zip")}, "data": {"signature": "", "signature_file": ""}},
               {"files": {"wheel": ("a" * 100_000 + ".whl", b"PK", "application/zip")}, "data": {"signature": ""}},
               {"files": {"signature_file": ("s.sig", b"")}, "data": {"signature": ""}}):
        response = console.request("POST", "/console/plugins/", params=token, follow_redirects=False, **kw)
        assert_handled(response, "plugin upload")
        assert 400 <= response.status_code < 500 and "The plugin was not installed." in response.text


# --- personal data ------------------------------------------------------------------------------------

CUSTOMER = ("张三", "13812345678", "ACC-1001")


@pytest.mark.parametrize("role", [Role.admin, Role.archivist, Role.compliance_officer], ids=lambda r: r.value)
def test_roles_that_see_customers_masked_never_read_them_in_a_page(console_as, admin, world, role: Role):
    console = console_as(role, f"{role.value}-masked")
    pages = ["/console/records/", f"/console/records/{world['record_id']}", "/console/metrics/deadlines",
             f"/console/retention/holds/{world['hold_id']}", f"/console/retention/batches/{world['batch_id']}",
             "/console/retention/reviews/", f"/console/records/{world['record_id']}?conflict=1:2"]
    for path in pages:
        response = console.get(path)
        assert_handled(response, f"{role.value} {path}")
        for value in CUSTOMER:
            assert value not in response.text, f"{role.value} reads {value!r} on {path}"


def test_refusals_of_a_filing_or_a_hold_never_repeat_the_customer_in_their_message(console_as):
    console = console_as(Role.agent, "alice-messages")
    filing = console.post("/console/records/new", {"kind": "complaint", "channel": "phone", "urgency": "urgent",
                                                   "customer.name": "张三", "customer.phone": "13812345678x",
                                                   "customer.account": "ACC-1001", "subject": "s", "description": "d"})
    assert filing.status_code == 422
    messages = " ".join(re.findall(r'class="error"[^>]*>(.*?)</', filing.text, flags=re.S))
    assert messages and not any(value in messages for value in ("张三", "13812345678", "ACC-1001"))


def test_the_list_of_files_refuses_what_get_api_records_refuses(console_as, agent):
    console = console_as(agent)
    for name, limit in LIST_TEXT_LIMITS.items():
        too_long = {name: "1" * (limit + 1)}
        page = console.get("/console/records/", params=too_long)
        assert page.status_code == 422 and "<code>invalid_input</code>" in page.text, (name, page.status_code)
        assert f"at most {limit} characters" in page.text
        assert agent.get("/api/v1/records", params=too_long).status_code in (400, 422), name
        at_limit = console.get("/console/records/", params={name: "1" * limit})
        assert at_limit.status_code < 500 and "may be at most" not in at_limit.text, name
    wordy = console.get("/console/records/", params={"customer_phone": "13812345678", "purpose": "p" * 501})
    assert wordy.status_code == 422 and "the purpose may be at most 500 characters" in wordy.text
    api = agent.get("/api/v1/records", params={"customer_phone": "13812345678"}, headers={"X-Purpose": "p" * 501})
    assert api.status_code == 422


def test_a_hand_made_done_link_never_announces_a_token_or_key_change_that_did_not_happen(console_as, admin):
    trusted = admin.post("/api/v1/plugins/trusted-keys", json={"name": "team-live",
                                                               "public_key": public_pem(Ed25519PrivateKey.generate().public_key())})
    assert trusted.status_code == 201, trusted.text
    console = console_as(Role.admin, "root-notices")
    lies = {"/console/admin/tokens/?done=revoked&name=root": "Revoked the token root",
            "/console/admin/tokens/?done=revoked&name=root-notices": "Revoked the token",
            "/console/admin/publishers/?done=distrusted&name=team-live": "No longer trusting",
            "/console/admin/publishers/?done=trusted&name=team-gone": "Now trusting"}
    for url, claim in lies.items():
        page = console.get(url)
        assert page.status_code == 200 and claim not in page.text, url


def test_a_hand_made_done_link_never_announces_a_plugin_change_that_did_not_happen(console_as, plugin_manager):
    builtin = plugin_manager.get("/api/v1/plugins").json()["items"][0]
    assert builtin["status"] == "active"
    console = console_as(plugin_manager)
    for done in ("disabled", "uninstalled"):
        page = console.get("/console/plugins/", params={"done": done, "name": builtin["name"]})
        assert page.status_code == 200 and f"{done.capitalize()} {builtin['name']}." not in page.text, done
    assert f"Enabled {builtin['name']}." in console.get("/console/plugins/", params={"done": "enabled", "name": builtin["name"]}).text


def test_a_hold_typed_on_many_files_holds_every_one_typed():
    from uuid import uuid4

    from records.console.holds_pages import hold_from_form

    ids = [str(uuid4()) for _ in range(600)]  # a blank line between each: 40 characters an id
    held = hold_from_form({"reason": "audit", "case_reference": "C-600", "record_ids": "\r\n\r\n".join(ids)},
                          "Asia/Shanghai")
    assert held.record_ids == ids


def test_text_longer_than_a_form_takes_is_refused_beside_its_field_never_cut(console_as, world):
    console = console_as(Role.archivist, "ada-long")
    long = "x" * 20_001
    for url, form, _field in [
        ("/console/retention/holds/", {"reason": long, "case_reference": "C-1", "record_ids": world["record_id"]}, "reason"),
        (f"/console/retention/holds/{world['hold_id']}/release", {"reason": long}, "reason"),
        (f"/console/retention/schedules/{world['schedule_id']}/reapply", {"reason": long, "intent": "apply"}, "reason"),
    ]:
        response = console.post(url, form)
        assert_handled(response, url)
        assert response.status_code == 422 and "at most" in response.text, (url, response.status_code)


@pytest.mark.parametrize("base", ["/console/static", "/schema/assets"])
def test_static_files_named_with_what_no_file_has_are_not_found(client, base: str):
    for name in ("%00", "a%00.css", "a" * 300, "a/" * 600 + "x", "%2e%2e/app.py", "..%2f..%2fsettings.py", "", "nope.js"):
        for method in ("GET", "HEAD"):
            response = client.request(method, f"{base}/{name}", follow_redirects=False)
            assert response.status_code == 404, (method, base, name[:40], response.status_code)


def test_a_console_address_no_page_has_is_an_html_page_the_api_keeps_its_problems(client):
    for method, path, code in [("GET", "/console/no-such-page", "not_found"), ("GET", "/console/static/nope.js", "not_found"),
                               ("PUT", "/console/records/", "method_not_allowed"), ("DELETE", "/console/sign-in", "method_not_allowed")]:
        response = client.request(method, path, headers={"accept-language": "zh-CN"}, follow_redirects=False)
        assert response.headers["content-type"].startswith("text/html") and f"<code>{code}</code>" in response.text, path
        assert '<html lang="zh-Hans"' in response.text or 'lang="zh' in response.text
    api = client.put("/api/v1/records")
    assert api.status_code == 405 and api.json()["code"] == "method_not_allowed" and "POST" in api.headers["allow"]
    assert client.get("/api/v1/no-such-route").headers["content-type"] == "application/problem+json"


def test_no_navigation_entry_leads_a_role_to_a_page_that_refuses_it(app: Litestar):
    from records.console.nav import NAVIGATION

    pages = {path.rstrip("/") or "/": handler for method, path, handler in console_routes(app) if method == "GET"}
    for entry in NAVIGATION:
        handler = pages[entry.path.rstrip("/")]
        admitted = roles_of(handler) or frozenset(Role)
        assert entry.roles <= admitted, f"{entry.path} is shown to {sorted(entry.roles - admitted)}, which it refuses"


def test_a_review_refused_in_one_batch_decides_nothing_in_the_others(console_as, admin):
    first, second = sorted((review_item(admin), review_item(admin)), key=lambda i: f"{i['batch_id']}:{i['record_id']}")
    assert first["batch_id"] != second["batch_id"]
    console = console_as(Role.archivist, "ada-two-batches")
    refused = console.post("/console/retention/reviews/decisions", {
        "decision": "approve", "reason": "due", "item": [f"{first['batch_id']}:{first['record_id']}",
                                                         f"{second['batch_id']}:not-in-that-batch"]})
    assert refused.status_code == 422 and "is not in batch" in refused.text
    for item in (first, second):
        [state] = [i for i in admin.get(f"{RETENTION}/batches/{item['batch_id']}").json()["items"]
                   if i["record_id"] == item["record_id"]]
        assert state["decision"] == "pending" and not state["reviews"], item  # the first batch is not half-decided
    both = console.post("/console/retention/reviews/decisions", {
        "decision": "approve", "reason": "due", "item": [f"{i['batch_id']}:{i['record_id']}" for i in (first, second)]})
    assert both.status_code == 303


def test_personal_data_typed_into_free_text_is_masked_on_the_page_as_the_api_masks_it(console_as, agent, archivist):
    filed = agent.post("/api/v1/records", json=record_body(subject="张三 13812345678",
                                                           description="Call back on 13812345678, account ACC-1001"))
    assert filed.status_code == 201, filed.text
    record_id = filed.json()["id"]
    assert agent.post(f"/api/v1/records/{record_id}/notes", json={"text": "spoke to 张三 at 13812345678",
                                                                   "type": "note"}).status_code == 201
    console = console_as(archivist)
    for path in (f"/console/records/{record_id}", "/console/records/", f"/console/records/?reference={filed.json()['reference']}"):
        page = console.get(path)
        assert page.status_code == 200
        assert not any(value in page.text for value in CUSTOMER), path
    assert "138****5678" in console.get(f"/console/records/{record_id}").text  # masked, as the API shows it
