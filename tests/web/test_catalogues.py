"""Every string marked for translation has Swedish, and the catalogue command keeps references."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from consentcam import catalogues


def test_every_translatable_string_has_swedish() -> None:
    report = catalogues.update(write=False)
    missing = {name: ids[:10] for name, ids in report.untranslated.items()}
    assert not missing, f"run ./run catalogues and write the Swedish for: {missing}"


def test_extraction_finds_strings_of_code_templates_and_settings() -> None:
    found = catalogues.extract()
    ids = {key[1] for key in found}
    # Python (_ and N_), a Jinja template, a service refusal and a setting's help text.
    assert "Skip to the content" in ids and "Sign in" in ids
    assert "a person needs a name" in ids
    assert "Largest image accepted, in pixels." in ids
    where = {path for item in found.values() for path, _line in item.locations}
    assert any(p.startswith("consentcam/web/templates/") for p in where)
    assert any(p.startswith("consentcam/services/") for p in where)


def test_new_strings_go_to_their_blueprint_and_shared_code_to_words() -> None:
    names = catalogues.catalogue_names()
    assert "auth" in names
    assert catalogues.owner_of("consentcam/web/templates/auth/login.html", names) == "auth"
    assert catalogues.owner_of("consentcam/web/templates/publications/index.html", names) == "queue"
    assert catalogues.owner_of("consentcam/web/people/__init__.py", names) == "people"
    assert catalogues.owner_of("consentcam/services/people.py", names) == "words"
    assert catalogues.owner_of("consentcam/web/templates/base.html", names) == "words"


def test_catalogues_keep_source_references() -> None:
    for name in catalogues.catalogue_names():
        with Path(catalogues.po_path(name)).open("rb") as fh:
            catalog = read_po(fh, locale="sv")
        located = [m for m in catalog if m.id and m.locations]
        assert located, f"{name}: no source references"
