"""The Swedish catalogues agree with each other and the compiled .mo files match their .po.

Flask-Babel merges every blueprint's catalogue into one, so a msgid translated two ways in two
catalogues gets whichever the merge order favours; words meant differently need a msgctxt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import force_locale, gettext, pgettext

WEB = Path(__file__).resolve().parents[2] / "consentcam" / "web"
PO_FILES = sorted(WEB.glob("*/translations/sv/LC_MESSAGES/messages.po"))

Key = tuple[str | None, str]


def _read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale="sv") if path.suffix == ".po" else read_mo(f)


def _msgid(message_id: str | Sequence[str]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def _translations(catalog: Catalog, *, skip_fuzzy: bool) -> dict[Key, tuple[str, ...]]:
    """(msgctxt, msgid) -> the non-empty translation(s), as gettext would use them."""
    out: dict[Key, tuple[str, ...]] = {}
    for message in catalog:
        if not message.id or (skip_fuzzy and message.fuzzy):
            continue
        assert message.string is not None
        strings = (message.string,) if isinstance(message.string, str) else tuple(message.string)
        if any(strings):
            context = message.context
            if isinstance(context, bytes):  # read_mo leaves msgctxt undecoded
                context = context.decode(catalog.charset or "utf-8")
            out[(context, _msgid(message.id))] = strings
    return out


def test_every_blueprint_catalogue_is_found() -> None:
    names = {p.parts[-5] for p in PO_FILES}
    assert {"words", "photos", "people", "queue", "removals"} <= names, names


def test_one_msgid_has_one_swedish_translation_across_catalogues() -> None:
    seen: dict[Key, dict[tuple[str, ...], list[str]]] = defaultdict(lambda: defaultdict(list))
    for po in PO_FILES:
        for key, strings in _translations(_read(po), skip_fuzzy=False).items():
            seen[key][strings].append(po.parts[-5])
    conflicts = [
        f"{'[' + ctx + '] ' if ctx else ''}{msgid!r}: "
        + "; ".join(f"{' / '.join(s)!r} in {', '.join(where)}" for s, where in variants.items())
        for (ctx, msgid), variants in sorted(
            seen.items(), key=lambda kv: (kv[0][1], kv[0][0] or "")
        )
        if len(variants) > 1
    ]
    assert not conflicts, "Translated differently in different catalogues:\n" + "\n".join(conflicts)


@pytest.mark.parametrize("po", PO_FILES, ids=lambda p: p.parts[-5])
def test_compiled_catalogue_matches_its_po(po: Path) -> None:
    mo = po.with_suffix(".mo")
    assert mo.is_file(), f"{mo} is missing: run pybabel compile"
    want = _translations(_read(po), skip_fuzzy=True)
    have = _translations(_read(mo), skip_fuzzy=True)
    stale = sorted(str(key) for key in want.keys() | have.keys() if want.get(key) != have.get(key))
    assert not stale, f"{mo} is out of date with its .po (pybabel compile -d ...): {stale[:20]}"


@pytest.mark.parametrize(
    ("context", "msgid", "swedish"),
    [
        ("removal status", "Open", "Öppen"),
        ("queue status", "Blocked", "Stoppad"),
        ("published face", "blurred", "suddat"),
        (None, "Blocked", "Stoppat"),
        (None, "blurred", "suddas"),
        (None, "Photos", "Foton"),
    ],
)
def test_merged_catalogue_gives_each_meaning_its_word(
    app: Flask, context: str | None, msgid: str, swedish: str
) -> None:
    """What the app serves after merging every catalogue, whatever the merge order."""
    with app.test_request_context(), force_locale("sv"):
        got = pgettext(context, msgid) if context else gettext(msgid)
    assert got == swedish
