"""The console's two languages: message catalogs, the viewer's language, and times in the
installation's time zone.

Catalogs are the Babel ``.po`` files under ``locales/``, read with Babel and compiled in memory
the first time a language is used: ``pip install .`` needs no build step and the repository
holds no compiled ``.mo`` that could drift from its source. Babel is a dependency anyway.

After changing a label: ``pybabel extract -F records/console/babel.cfg -o /tmp/messages.pot
records/console`` then ``pybabel update -i /tmp/messages.pot -d records/console/locales``, and
translate the new ``zh_CN`` entries (``tests/console/test_i18n.py`` fails until every one is).
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGE_COOKIE = "records_lang"
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}
# <html lang> values (BCP 47).
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}


def N_(message: str) -> str:
    """Marks a message for extraction where it is translated later (in a template)."""
    return message


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    if language not in LANGUAGES or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


def gettext_for(language: str) -> Callable[[str], str]:
    return translations(language).gettext


def _accepted(header: str) -> list[tuple[float, str]]:
    ranked = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag:
            ranked.append((-quality, position, tag.strip().lower()))
    return [(q, t) for q, _, t in sorted(ranked)]


def negotiate(accept_language: str | None, chosen: str | None) -> str:
    """The language a page is shown in: the switch's choice (a cookie), else the browser's most
    preferred language we have, else Chinese."""
    if chosen in LANGUAGES:
        return chosen
    for _, tag in _accepted(accept_language or ""):
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


def local_time(moment: datetime | None, zone: str) -> Markup:
    """A ``<time>`` in the installation's zone with the UTC time in its title (shown on hover)."""
    if moment is None:
        return Markup("")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    local = moment.astimezone(ZoneInfo(zone))
    return Markup('<time datetime="{iso}" title="{utc}">{local}</time>').format(
        iso=utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        utc=utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
        local=escape(local.strftime("%Y-%m-%d %H:%M")),
    )
