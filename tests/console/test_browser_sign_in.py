"""Signing in and out of the console in Chromium, keyboard only, with axe checking the pages."""

from __future__ import annotations

import re

from tests.console.conftest import assert_accessible, home_url, screenshot, sign_in


def test_sign_in_with_the_keyboard_then_sign_out(page, console_server):
    page.goto(f"{console_server.base_url}/")
    page.wait_for_url(re.compile(r".*/console/sign-in.*"))
    assert_accessible(page)
    screenshot(page, "sign-in")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    token = page.locator("input[name=token]")
    while not token.evaluate("el => el === document.activeElement"):
        page.keyboard.press("Tab")
    page.keyboard.type(console_server.tokens["agent"])
    page.keyboard.press("Enter")
    page.wait_for_url(home_url(console_server))
    assert page.locator("h1").inner_text().startswith("Welcome")
    assert page.evaluate("() => typeof htmx") == "object"  # htmx loaded from the package, under the CSP
    assert_accessible(page)
    screenshot(page, "home")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*reason=signed_out"))
    page.goto(f"{console_server.base_url}/console/")
    assert "/console/sign-in" in page.url


def test_a_wrong_token_says_so_and_the_page_is_in_chinese(page, console_server):
    page.goto(f"{console_server.base_url}/console/sign-in")
    page.get_by_role("link", name="中文").click()  # the switch, in an English browser
    page.wait_for_url(re.compile(r".*/console/sign-in$"))
    page.get_by_label("API 令牌").fill("rec_wrong")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").inner_text() == "该令牌不存在或已被吊销。"
    assert_accessible(page)
    sign_in(page, console_server, "supervisor")
    assert "主管" in page.locator(".who").inner_text()
