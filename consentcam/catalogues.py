"""The Swedish catalogues: extract every translatable string, update each blueprint's .po, compile.

One command does all three, from the root ``babel.cfg``:

    ./run catalogues              # extract, update, compile; lists what still needs Swedish
    ./run catalogues --check      # change nothing; exit 1 if a string has no Swedish yet

Each blueprint keeps its own catalogue (``consentcam/web/<name>/translations/sv/LC_MESSAGES``):
Flask-Babel merges them. A string already in a catalogue stays there; a new one goes to the
catalogue of the first file it is used in (a blueprint's package or its templates folder), and
strings of shared code (services, domain, page frame, reports) go to ``words``. Source references
(``#: path:line``) are rewritten on every run. A string no longer found in the code is kept, and
listed, since some are looked up by value (a stored code's label); ``--prune`` drops them.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "consentcam" / "web"
LOCALE = "sv"
SHARED = "words"
# Template folders whose strings belong to another blueprint's catalogue.
TEMPLATE_OWNERS = {"publications": "queue", "errors": SHARED}
# Beyond Babel's defaults (_, gettext, ngettext, pgettext, N_ ...): the reports' tr() and a
# setting's help text.
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "tr": None, "Setting": (3,)}
WIDTH = 76

Key = tuple[str | None, str]


@dataclass
class Found:
    """One translatable string as the code uses it."""

    id: str | tuple[str, str]
    context: str | None
    locations: list[tuple[str, int]] = field(default_factory=list)
    python_format: bool = False

    @property
    def key(self) -> Key:
        return (self.context, self.id if isinstance(self.id, str) else self.id[0])


def po_path(name: str) -> Path:
    return WEB / name / "translations" / LOCALE / "LC_MESSAGES" / "messages.po"


def catalogue_names() -> list[str]:
    return sorted(p.parts[-5] for p in WEB.glob(f"*/translations/{LOCALE}/LC_MESSAGES/messages.po"))


def owner_of(path: str, names: Iterable[str]) -> str:
    """The catalogue a string first used in ``path`` (relative to the project) belongs to."""
    known = set(names)
    parts = Path(path).parts
    if parts[:2] == ("consentcam", "reports"):
        return "audits" if "audits" in known else SHARED
    if parts[:2] == ("consentcam", "web") and len(parts) > 3:
        name = parts[2]
        if name == "templates" and len(parts) > 4:
            folder = parts[3]
            name = TEMPLATE_OWNERS.get(folder, folder)
        if name in known:
            return name
    return SHARED


def extract(root: Path = ROOT) -> dict[Key, Found]:
    """Every translatable string in the code and templates, by (context, msgid)."""
    with (root / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)  # type: ignore[no-untyped-call]
    found: dict[Key, Found] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS
    ):
        msgid: str | tuple[str, str]
        if isinstance(message, tuple):
            if not message[0]:
                continue
            msgid = (message[0], message[1]) if len(message) > 1 and message[1] else message[0]
        else:
            msgid = message
        if not msgid:
            continue
        item = Found(msgid, context)
        entry = found.setdefault(item.key, item)
        entry.locations.append((filename.replace("\\", "/"), lineno))
        text = msgid if isinstance(msgid, str) else " ".join(msgid)
        entry.python_format = entry.python_format or "%(" in text or "%s" in text
    return found


def _read(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=LOCALE)


def _key(message: Message) -> Key:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    context = message.context
    if isinstance(context, bytes):
        context = context.decode("utf-8")
    return (context, msgid)


def _new_catalogue() -> Catalog:
    catalog = Catalog(locale=LOCALE, project="consentcam", charset="utf-8")
    return catalog


@dataclass
class Report:
    untranslated: dict[str, list[str]] = field(default_factory=dict)
    unused: dict[str, list[str]] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)


def update(*, write: bool = True, prune: bool = False, root: Path = ROOT) -> Report:
    """Extract, update every catalogue's .po and compile its .mo (unless ``write`` is false)."""
    found = extract(root)
    names = catalogue_names()
    catalogues = {
        name: (_read(po_path(name)) if po_path(name).exists() else _new_catalogue())
        for name in names
    }
    report = Report()
    _add_found(found, catalogues, names, report)
    for name, catalog in catalogues.items():
        _review(name, catalog, found, prune, report)
        _save(name, catalog, write, report)
    return report


def _add_found(
    found: dict[Key, Found], catalogues: dict[str, Catalog], names: list[str], report: Report
) -> None:
    """Put every extracted string in the catalogue that holds it, else its blueprint's."""
    holders: dict[Key, list[str]] = {}
    for name, catalog in catalogues.items():
        for message in catalog:
            if message.id:
                holders.setdefault(_key(message), []).append(name)
    for key, item in found.items():
        where = holders.get(key) or [owner_of(item.locations[0][0], names)]
        for name in where:
            catalog = catalogues[name]
            found_message = catalog.get(
                item.id if isinstance(item.id, str) else item.id[0], item.context
            )
            if found_message is None:
                message = catalog.add(
                    item.id, "" if isinstance(item.id, str) else ("", ""), context=item.context
                )
                report.added[name] = report.added.get(name, 0) + 1
            else:
                message = found_message
            message.locations = sorted(set(item.locations))
            if item.python_format:
                message.flags.add("python-format")


def _review(
    name: str, catalog: Catalog, found: dict[Key, Found], prune: bool, report: Report
) -> None:
    """Note the strings no longer in the code (dropped with ``prune``) and those without Swedish."""
    for message in list(catalog):
        if not message.id:
            continue
        key = _key(message)
        if key not in found:
            report.unused.setdefault(name, []).append(key[1])
            message.locations = []
            if prune:
                catalog.delete(
                    message.id if isinstance(message.id, str) else message.id[0],
                    message.context,
                )
            continue
        strings = (
            (message.string,) if isinstance(message.string, str) else tuple(message.string or ())
        )
        if not all(strings) or message.fuzzy:
            report.untranslated.setdefault(name, []).append(key[1])


def _save(name: str, catalog: Catalog, write: bool, report: Report) -> None:
    """Write the .po when it changed and compile the .mo (only with ``write``)."""
    before = po_path(name).read_bytes() if po_path(name).exists() else b""
    out = io.BytesIO()
    write_po(out, catalog, width=WIDTH, omit_header=False, sort_output=False)
    if out.getvalue() != before:
        report.changed.append(name)
        if write:
            po_path(name).parent.mkdir(parents=True, exist_ok=True)
            po_path(name).write_bytes(out.getvalue())
    if write:
        compiled = io.BytesIO()
        write_mo(compiled, catalog, use_fuzzy=False)
        mo = po_path(name).with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != compiled.getvalue():
            mo.write_bytes(compiled.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="catalogues", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a string has no Swedish"
    )
    parser.add_argument("--prune", action="store_true", help="drop strings no longer in the code")
    args = parser.parse_args(argv)
    report = update(write=not args.check, prune=args.prune)
    for name, count in sorted(report.added.items()):
        print(f"{name}: {count} new string(s) to translate")
    for name, ids in sorted(report.unused.items()):
        verb = "dropped" if args.prune else "kept, no longer found in the code (--prune drops them)"
        print(f"{name}: {len(ids)} string(s) {verb}: " + "; ".join(repr(i) for i in ids[:5]))
    missing = sum(len(v) for v in report.untranslated.values())
    for name, ids in sorted(report.untranslated.items()):
        print(f"{name}: no Swedish yet for {len(ids)}: " + "; ".join(repr(i) for i in ids[:10]))
    if args.check:
        if report.changed:
            print("catalogues out of date with the code: " + ", ".join(report.changed))
        return 1 if missing else 0
    print(
        f"catalogues updated and compiled ({len(report.changed)} changed); {missing} without Swedish"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
