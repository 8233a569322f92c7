"""The console's two languages: message catalogs, the viewer's language, and times in the
installation's time zone.

Catalogs are the Babel ``.po`` files under ``locales/``, read with Babel and compiled in memory
the first time a language is used: ``pip install .`` needs no build step and the repository
holds no compiled ``.mo`` that could drift from its source. Babel is a dependency anyway.

A language's catalog is every ``.po`` file in its ``LC_MESSAGES``: ``messages.po`` holds the
shared labels and each console area may keep its own (``holds.po``, ``plugins.po``…), so that
people working on different areas do not edit one file. A msgid belongs to one file only.

After changing a label: ``pybabel extract -F records/console/babel.cfg -o /tmp/messages.pot
records/console`` to see what is wanted, add the new entries to the area's ``.po`` in both
languages, and translate the ``zh_CN`` ones (``tests/console/test_i18n.py`` fails until every
one is, or when a msgid is in two files).
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


def catalog_files(language: str) -> list[Path]:
    """The ``.po`` files of a language: ``messages.po`` first, then the areas' in name order."""
    folder = LOCALES_DIR / language / "LC_MESSAGES"
    return sorted(folder.glob("*.po"), key=lambda po: (po.name != "messages.po", po.name))


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    if language not in LANGUAGES:
        return gettext.NullTranslations()
    catalog = None
    for po in catalog_files(language):
        with po.open("rb") as f:
            part = read_po(f, locale=language)
        if catalog is None:
            catalog = part
            continue
        for message in part:
            if message.id:
                catalog[message.id] = message
    if catalog is None:
        return gettext.NullTranslations()
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
