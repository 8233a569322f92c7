"""A plugin manager's journey in Chromium: upload a wheel with its signature file through the
form, see it active with its publisher and hooks, disable it, and uninstall it (the shared
server is left as it was found); an unsigned upload is refused with a message on the page. axe
checks the page and the screenshot for the README is taken on the way."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from records.plugins.signing import public_pem
from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.plugin_wheels import build_wheel

NAME = "records-example-escalation"
PUBLISHER = "journey-publisher"


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
