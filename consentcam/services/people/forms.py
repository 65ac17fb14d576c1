"""The consent form: its text with the business's details filled in, and its stored versions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import ConsentFormVersion
from consentcam.runtime import Runtime
from consentcam.services.people.errors import ConsentError, FormDetailsMissing
from consentcam.wording import N_

LANGUAGES = ("en", "sv")

# Settings a consent form names; without them the form would print placeholders.
FORM_DETAILS = ("BUSINESS_NAME", "RESPONSIBLE_PERSON")


def form_template(language: str) -> str:
    if language not in LANGUAGES:
        raise ConsentError(
            N_("no consent form in language %(language)r (have: %(have)s)"),
            language=language,
            have=", ".join(LANGUAGES),
        )
    return (
        resources.files("consentcam")
        .joinpath("forms", f"consent_{language}.txt")
        .read_text("utf-8")
    )


def missing_form_details(settings: Mapping[str, object]) -> list[str]:
    """The settings the consent form needs that are still empty (none: the form can be signed)."""
    return [name for name in FORM_DETAILS if not str(settings.get(name) or "").strip()]


def retention_in_words(period: str, language: str) -> str:
    """A retention period as the form says it: "2y" is "2 år" in Swedish, "2 years" in English."""
    from babel.units import format_unit

    match = re.fullmatch(r"\s*(\d+)\s*([ymdYMD])\s*", str(period))
    if match is None:
        return str(period)
    unit = {"y": "duration-year", "m": "duration-month", "d": "duration-day"}
    return format_unit(
        int(match.group(1)), unit[match.group(2).lower()], length="long", locale=language
    )


def form_text(rt: Runtime, language: str) -> str:
    """The consent form exactly as the business prints it, with its own details filled in.

    The one place the form's text is made: the owner's form, its printed PDF and the customer's
    own consent page all show this text. Refused while the business name or the responsible
    person is not set, so nobody signs a form with a blank where the business should be.
    """
    s = rt.settings
    missing = missing_form_details(s)
    if missing:
        raise FormDetailsMissing(missing)
    return form_template(language).format(
        business=str(s["BUSINESS_NAME"]).strip(),
        removal_days=s["REMOVAL_DUE_DAYS"],
        retention=retention_in_words(str(s["RETENTION"]), language),
        responsible=str(s["RESPONSIBLE_PERSON"]).strip(),
    )


@dataclass(frozen=True)
class FormShown:
    """Today's form text as a page or the printed form shows it, without writing anything.

    ``version`` is the stored version with this text, or the number the text gets when the
    first consent on it is recorded.
    """

    language: str
    version: int
    title: str
    body: str
    sha256: str
    stored: bool


def _latest_version(session: so.Session, language: str) -> ConsentFormVersion | None:
    return session.scalar(
        sa.select(ConsentFormVersion)
        .where(ConsentFormVersion.language == language)
        .order_by(ConsentFormVersion.version.desc())
        .limit(1)
    )


def _todays_form(session: so.Session, rt: Runtime, language: str) -> ConsentFormVersion:
    """Today's form text as its version row: the stored one, or a new one not yet added.

    The one numbering rule: a changed text gets the number after the latest stored version.
    """
    text = form_text(rt, language)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    latest = _latest_version(session, language)
    if latest is not None and latest.sha256 == digest:
        return latest
    return ConsentFormVersion(
        language=language,
        version=(latest.version + 1) if latest else 1,
        title=text.splitlines()[0],
        body=text,
        sha256=digest,
    )


def form_to_show(session: so.Session, rt: Runtime, language: str) -> FormShown:
    """Today's form in `language`, read only (a GET shows it; recording a consent stores it)."""
    form = _todays_form(session, rt, language)
    return FormShown(
        form.language, form.version, form.title, form.body, form.sha256, form.id is not None
    )


def current_form(session: so.Session, rt: Runtime, language: str) -> ConsentFormVersion:
    """Return the stored version of today's form text, adding a new version when the text changed."""
    form = _todays_form(session, rt, language)
    if form.id is None:
        session.add(form)
        session.flush()
    return form


def store_current_forms(session: so.Session, rt: Runtime) -> list[ConsentFormVersion]:
    """Store today's form text in every language (after the settings it names changed).

    Nothing is stored while the business's details are missing: the form cannot be signed then.
    """
    if missing_form_details(rt.settings):
        return []
    return [current_form(session, rt, language) for language in LANGUAGES]


def shown_form(session: so.Session, language: str, sha256: str) -> ConsentFormVersion:
    """The stored form version whose text has this SHA-256 (the one a person was shown)."""
    version = session.scalar(
        sa.select(ConsentFormVersion)
        .where(ConsentFormVersion.language == language, ConsentFormVersion.sha256 == sha256)
        .limit(1)
    )
    if version is None:
        raise ConsentError(
            N_("The form text shown is not on record: show the form again and sign.")
        )
    return version


def check_form_unchanged(version: ConsentFormVersion, shown_sha256: str | None) -> None:
    """Refuse a signature given on a form text other than today's (the settings changed since)."""
    if shown_sha256 and shown_sha256 != version.sha256:
        raise ConsentError(
            N_("The form text changed while you were filling it in: read it again and sign.")
        )
