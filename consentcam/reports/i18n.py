"""Documents made outside a web request (audit reports, a customer's export) in a chosen language.

The same Swedish catalogues the web pages use (every blueprint's, merged as Flask-Babel merges
them), loaded with Babel alone, and a Jinja environment with gettext and Babel's date and number
formats for the templates under ``consentcam/reports/templates``.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from babel import dates, numbers
from babel.support import NullTranslations, Translations

WEB = Path(__file__).resolve().parent.parent / "web"
TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("en", "sv")
DEFAULT_ZONE = "Europe/Stockholm"


@functools.cache
def translations(language: str) -> NullTranslations:
    """Every blueprint's catalogue for ``language``, merged (English: the texts as written)."""
    merged: NullTranslations = NullTranslations()
    if language == "en":
        return merged
    first: Translations | None = None
    for folder in sorted(WEB.glob("*/translations")):
        loaded = Translations.load(str(folder), [language])
        if not isinstance(loaded, Translations):
            continue
        if first is None:
            first = loaded
        else:
            first.merge(loaded)
    return first or merged


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


@functools.cache
def environment(language: str, time_zone: str = DEFAULT_ZONE) -> jinja2.Environment:
    """A Jinja environment for documents in ``language``, with times in ``time_zone``."""
    language = language if language in LANGUAGES else "en"
    tz = zone(time_zone)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tr = translations(language)
    env.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]

    def day(value: Any, form: str = "medium") -> str:
        if value in (None, ""):
            return "–"
        if isinstance(value, str):
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            value = _moment(value).astimezone(tz).date()  # type: ignore[union-attr]
        return dates.format_date(value, form, locale=language)

    def moment(value: Any, form: str = "short") -> str:
        at = _moment(value)
        if at is None:
            return "–"
        return dates.format_datetime(at, form, tzinfo=tz, locale=language)

    def number(value: Any, digits: int | None = None) -> str:
        if value is None:
            return "–"
        if digits is not None:
            return numbers.format_decimal(
                value, format="0." + "0" * digits if digits else "0", locale=language
            )
        return numbers.format_decimal(value, locale=language)

    env.filters.update(day=day, moment=moment, number=number)
    env.globals.update(language=language, time_zone=str(tz.key))
    return env


def gettext(language: str, text: str, **params: Any) -> str:
    """``text`` in ``language``, filled in with ``params``."""
    translated = translations(language).ugettext(text)
    return translated % params if params else translated


def quarter_label(language: str, quarter: Any) -> str:
    """A quarter as people read it: "kvartal 4 2026" / "Q4 2026"."""
    text = str(quarter)
    if len(text) == 6 and text[4] == "Q":
        return gettext(language, "Q%(number)s %(year)s", number=text[5], year=text[:4])
    return text
