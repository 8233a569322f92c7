"""A plugin manager's journey in Chromium: upload a wheel with its signature file through the
form, see it active with its publisher and hooks, disable it, and uninstall it (the shared
server is left as it was found); an unsigned upload is refused with a message on the page. And
the administrator's side: issue a token (its secret shown once, and working), trust and
distrust a publisher key, revoke the token. axe checks the pages and the screenshots for the
README are taken on the way."""

from __future__ import annotations

import base64

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from records.plugins.signing import public_pem
from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.plugin_wheels import build_wheel

NAME = "records-example-escalation"
PUBLISHER = "journey-publisher"


def httpx_client(server, token: str) -> httpx.Client:  # type: ignore[no-untyped-def]
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def api_plugin(server) -> dict | None:  # type: ignore[no-untyped-def]
    with server.api("admin") as admin:
        return next((p for p in admin.get("/api/v1/plugins").json()["items"] if p["name"] == NAME), None)


def test_plugin_manager_uploads_a_signed_wheel_and_disables_it(page, console_server):
    key = Ed25519PrivateKey.generate()
    with console_server.api("admin") as admin:
        trusted = admin.post("/api/v1/plugins/trusted-keys", json={"name": PUBLISHER, "public_key": public_pem(key.public_key())})
        assert trusted.status_code == 201, trusted.text
    filename, wheel = build_wheel(version="2.0.0")
    try:
        sign_in(page, console_server, "plugin_manager")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Plugins").click()
        page.wait_for_selector("table.plugins")

        # Without a signature: refused, and said so beside the form.
        page.get_by_label("Wheel (.whl)").set_input_files(files=[{"name": filename, "mimeType": "application/zip", "buffer": wheel}])
        page.get_by_role("button", name="Install", exact=True).click()
        page.wait_for_load_state()
        alert = page.locator("#install-error")
        assert "The plugin was not installed." in alert.inner_text() and ".sig file" in alert.inner_text()
        assert api_plugin(console_server) is None
        assert_accessible(page)

        signature = base64.b64encode(key.sign(wheel)).decode() + "\n"
        page.get_by_label("Wheel (.whl)").set_input_files(files=[{"name": filename, "mimeType": "application/zip", "buffer": wheel}])
        page.get_by_label("Signature file (.sig)").set_input_files(
            files=[{"name": filename + ".sig", "mimeType": "text/plain", "buffer": signature.encode()}])
        page.get_by_role("button", name="Install", exact=True).click()
        page.wait_for_url(f"**/console/plugins/?done=installed&name={NAME}#plugin-{NAME}")
        assert page.get_by_role("status").first.inner_text() == f"Installed {NAME}."
        row = page.locator(f"tr[id='plugin-{NAME}']")
        text = row.inner_text()
        assert "2.0.0" in text and PUBLISHER in text and "active" in text and "records_register_metrics" in text
        assert_accessible(page)
        screenshot(page, "plugins")

        row.get_by_role("button", name=f"Disable {NAME}").click()
        page.wait_for_url(f"**/console/plugins/?done=disabled&name={NAME}#plugin-{NAME}")
        assert "disabled" in page.locator(f"tr[id='plugin-{NAME}']").inner_text()
        assert api_plugin(console_server)["status"] == "disabled"

        # Uninstalling sits behind a disclosure, keyboard included.
        row = page.locator(f"tr[id='plugin-{NAME}']")
        row.locator("summary").focus()
        page.keyboard.press("Enter")
        row.get_by_role("button", name=f"Uninstall {NAME}").click()
        page.wait_for_url(f"**/console/plugins/?done=uninstalled&name={NAME}")
        assert page.locator(f"tr[id='plugin-{NAME}']").count() == 0
        assert api_plugin(console_server) is None
    finally:
        with console_server.api("plugin_manager") as manager:
            manager.delete(f"/api/v1/plugins/{NAME}")
        with console_server.api("admin") as admin:
            admin.delete(f"/api/v1/plugins/trusted-keys/{PUBLISHER}")


def test_admin_issues_a_token_and_trusts_a_publisher_key(page, console_server):
    sign_in(page, console_server, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Administration").click()
    page.wait_for_selector("table.tokens")
    page.get_by_label("Name (a person or a script)").fill("release-bot")
    page.get_by_label("Role").select_option("plugin_manager")
    page.get_by_role("button", name="Issue the token").click()
    page.wait_for_selector("#issued-secret")
    secret = page.locator("#issued-secret").input_value()
    with httpx_client(console_server, secret) as bot:
        assert bot.get("/api/v1/me").json() == {"name": "release-bot", "role": "plugin_manager"}
    assert_accessible(page)
    screenshot(page, "admin-tokens")

    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Trusted publisher keys").click()
    page.wait_for_selector("h1:has-text('Trusted publisher keys')")
    page.get_by_label("Name", exact=True).fill("release-team")
    page.get_by_label("Public key (PEM)").fill(public_pem(Ed25519PrivateKey.generate().public_key()))
    page.get_by_role("button", name="Trust this key").click()
    page.wait_for_url("**/console/admin/publishers/?done=trusted&name=release-team")
    assert page.locator("tr[id='key-release-team']").count() == 1
    assert_accessible(page)
    page.get_by_role("button", name="Stop trusting release-team").click()
    page.wait_for_url("**/console/admin/publishers/?done=distrusted&name=release-team")
    assert page.locator("tr[id='key-release-team']").count() == 0

    page.get_by_role("link", name="API tokens").click()
    page.get_by_role("button", name="Revoke release-bot").click()
    page.wait_for_url("**/console/admin/tokens/?done=revoked&name=release-bot")
    with httpx_client(console_server, secret) as bot:
        assert bot.get("/api/v1/me").status_code == 401
