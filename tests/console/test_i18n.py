"""Two languages from the first page: every message extracted from the console's code and
templates has a Chinese translation, the viewer's language follows Accept-Language and the
switch, and times show in the installation's time zone with UTC on hover."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.pofile import read_po

from records.console import i18n
from records.roles import Role
from tests.console.conftest import ConsoleClient

PACKAGE = Path(i18n.__file__).parent


def _pybabel() -> list[str]:
    found = Path(sys.executable).with_name("pybabel")
    return [str(found)] if found.exists() else [shutil.which("pybabel") or "pybabel"]


def test_every_extracted_message_has_a_chinese_translation(tmp_path):
    template = tmp_path / "messages.pot"
    subprocess.run([*_pybabel(), "-q", "extract", "-F", str(PACKAGE / "babel.cfg"), "-o", str(template), str(PACKAGE)],
                   check=True, capture_output=True, timeout=120)
    with template.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    assert len(wanted) > 30  # the extraction saw the templates, not only the Python modules
    translated: set[str] = set()
    seen: dict[str, str] = {}
    for po in i18n.catalog_files("zh_CN"):
        with po.open("rb") as f:
            for m in read_po(f):
                if not m.id:
                    continue
                assert m.id not in seen, f"{m.id!r} is in both {seen[m.id]} and {po.name}"
                seen[m.id] = po.name
                if m.string and not m.fuzzy:
                    translated.add(m.id)
    missing = sorted(str(m) for m in wanted - translated)
    assert not missing, "zh_CN lacks translations for:\n" + "\n".join(missing)
    english = PACKAGE / "locales" / "en" / "LC_MESSAGES" / "messages.po"
    assert english.is_file()


def test_the_language_follows_accept_language_then_the_switch(client):
    assert '<html lang="zh-CN">' in client.get("/console/sign-in", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    page = client.get("/console/sign-in", headers={"accept-language": "en-GB,en;q=0.8"}).text
    assert '<html lang="en">' in page and "API token" in page
    assert '<html lang="zh-CN">' in client.get("/console/sign-in", headers={"accept-language": "fr"}).text  # no French
    switched = client.get("/console/language", params={"lang": "en", "next": "/console/sign-in"}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/console/sign-in"
    page = client.get("/console/sign-in", headers={"accept-language": "zh-CN"}).text
    assert '<html lang="en">' in page  # the switch wins over the browser's preference
    client.get("/console/language", params={"lang": "zh_CN", "next": "/console/sign-in"})
    assert "API 令牌" in client.get("/console/sign-in", headers={"accept-language": "en"}).text


def test_signed_in_pages_are_in_chinese_for_chinese_browsers(console_as):
    console: ConsoleClient = console_as(Role.supervisor, "sam")
    console.headers["accept-language"] = "zh-CN"
    page = console.get("/console/").text
    assert "退出登录" in page and "主管" in page


def test_times_are_local_with_utc_on_hover():
    shown = i18n.local_time(datetime(2026, 12, 3, 16, 30, tzinfo=UTC), "Asia/Shanghai")
    assert shown == '<time datetime="2026-12-03T16:30:00Z" title="2026-12-03 16:30:00 UTC">2026-12-04 00:30</time>'
    assert "2026-12-03 11:30" in i18n.local_time(datetime(2026, 12, 3, 16, 30, tzinfo=UTC), "America/New_York")
