"""The metrics dashboard in Chromium (issue 16): a supervisor sees each evaluation metric against
its target with a chart that reads (rates on an axis from 0 to 100 %, the target as a line, the
legend whole), in English and in Chinese, and the page passes axe."""

from __future__ import annotations

import re

from tests.conftest import record_body
from tests.console.conftest import assert_accessible, screenshot, sign_in


def test_a_supervisor_reads_the_metrics_against_their_targets(page, console_server):
    with console_server.api("agent") as agent:
        assert agent.post("/api/v1/records", json=record_body()).status_code == 201  # something to count
    sign_in(page, console_server, "supervisor")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Metrics").click()
    page.wait_for_url(re.compile(r".*/console/metrics/?$"))
    rows = page.locator("table tbody tr")
    assert rows.count() >= 3
    assert page.get_by_role("rowheader", name=re.compile("[Ss]atisfaction")).count() >= 1
    chart = page.locator("img[src*='chart.svg']").first
    chart.scroll_into_view_if_needed()
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", chart.element_handle())
    assert_accessible(page)
    screenshot(page, "metrics")
    page.get_by_role("link", name="中文").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("rowheader", name=re.compile("满意")).count() >= 1
    assert_accessible(page)
