"""The record of processing activities (GDPR Art. 30), generated from the instance's settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consentcam.domain.retention import parse_period
from consentcam.wording import N_

#: The record, section by section: a heading and its lines, in English (translated as the record
#: is built). A line names the instance's facts it shows, filled in by name (see ``_facts``).
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        N_("Controller and responsible person"),
        (
            N_("Controller: %(business)s."),
            N_("Responsible person (signs the quarterly audit): %(name)s."),
        ),
    ),
    (
        N_("Purposes of the processing"),
        (
            N_(
                "Publishing photos of customers and staff on the business's own channels "
                "(Instagram, Facebook, the website, print) only with their signed consent "
                "(GDPR Art. 6(1)(a))."
            ),
            N_(
                "Automatic face recognition to suggest who is in a photo, only for people who "
                "gave separate, explicit biometric consent (GDPR Art. 9(2)(a))."
            ),
            N_(
                "Proving consent: keeping the signed forms, the quarterly audit and a "
                "tamper-evident log of every change (GDPR Art. 5(2), 7(1))."
            ),
            N_("Honouring withdrawal of consent: taking down posts within the deadline."),
            N_(
                "Letting customers give, see and withdraw their consent themselves through "
                "one-time consent links and a personal link, and sending them receipts, "
                "one-time codes and links by e-mail (GDPR Art. 7(3), 12, 15)."
            ),
        ),
    ),
    (
        N_("Categories of data subjects"),
        (
            N_("Customers and clients who appear in photos."),
            N_("Staff and the owner who appear in photos."),
            N_("Guardians who sign for minors."),
            N_(
                "People in photos provided by suppliers (covered by the supplier's written "
                "permission)."
            ),
            N_("Users of the app (owner and staff accounts)."),
        ),
    ),
    (
        N_("Categories of personal data"),
        (
            N_(
                "Identity and contact: name, e-mail, phone, a free-text note, whether the "
                "person is a minor."
            ),
            N_(
                "E-mail addresses a customer gives for their receipt, or the owner gives to "
                "send a consent link to; e-mails waiting to be sent (stored encrypted, the "
                "text dropped once sent) and failed sends with their error."
            ),
            N_(
                "Link events: consent links made, used and expired, personal links issued, "
                "replaced and stopped, one-time codes asked for and tried (only hashes of "
                "tokens and codes are stored), customers' requests for erasure, and the user "
                "agent of the phone a consent was signed on (no IP address is kept)."
            ),
            N_(
                "Photos (originals, thumbnails and the published copies with chosen faces "
                "blurred) and the position of each face in them."
            ),
            N_(
                "Consent records: channels, scope, dates, expiry, withdrawal, the signer's "
                "name, the signed form's text and the evidence (signature or scanned form, "
                "stored encrypted)."
            ),
            N_(
                "Biometric data (special category, Art. 9): face templates (128 numbers per "
                "face) and reference photos, stored encrypted, only under biometric consent; "
                "templates of faces that match nobody are deleted when the photo is reviewed."
            ),
            N_("Publications (channel, link, date) and removal tasks."),
            N_("The event log (who changed what, when)."),
        ),
    ),
    (
        N_("Recipients"),
        (
            N_(
                "Meta Platforms Ireland Ltd. (Instagram, Facebook) receives the published "
                "copies of photos and captions. Meta may transfer data to the USA under the "
                "EU-US Data Privacy Framework."
            ),
            N_(
                "Visitors of the business's website and readers of its printed material see "
                "photos published there."
            ),
            N_(
                "The business's own mail server (SMTP_URL), when set, receives the e-mails to "
                "customers and the owner on their way."
            ),
            N_("No other recipients: the app is self-hosted and sends nothing elsewhere."),
        ),
    ),
    (
        N_("Retention periods"),
        (
            N_(
                "People with no activity for %(period)s are erased by the retention purge, "
                "unless a live post still shows them (they are flagged instead until it is "
                "taken down)."
            ),
            N_("After consent is withdrawn, posts are taken down within %(days)s days."),
            N_(
                "Consent links: valid %(minutes)s minutes, used once; one-time e-mail codes: "
                "15 minutes. Personal links: until replaced, stopped by the owner, or the "
                "person is erased. E-mail addresses go with the person's erasure; the record "
                "of a sent e-mail (address, subject, time) is deleted 30 days after it was "
                "sent."
            ),
            N_("Face templates of unmatched faces: until the photo's review is done."),
            N_(
                "Biometric templates and reference photos: until biometric consent is "
                "withdrawn or the person is erased."
            ),
            N_(
                "Audit reports and the event log: kept as proof of consent; an erased person "
                "appears in them only by number."
            ),
        ),
    ),
    (
        N_("Technical and organisational security measures"),
        (
            N_(
                "Evidence files, reference photos, face templates and access tokens are "
                "encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256)."
            ),
            N_(
                "Originals and evidence are never reachable by a public URL; downloads are for "
                "signed-in users and sent as attachments."
            ),
            N_(
                "Only the owner may change consent, erase people, export data or sign audits; "
                "staff accounts have fewer rights. Passwords are hashed."
            ),
            N_(
                "Every change goes into a hash-chained event log that can be verified "
                "(%(command)s); audit reports are kept with their SHA-256."
            ),
            N_("Published copies are re-encoded without metadata (EXIF, GPS)."),
            N_(
                "Database: %(engine)s; files are written atomically; back-ups are the "
                "business's responsibility."
            ),
        ),
    ),
    (
        N_("Rights of the data subject"),
        (
            N_(
                "Access (Art. 15): the owner downloads everything about a person as one ZIP; "
                "the person can download it from their own page after a one-time e-mail code."
            ),
            N_(
                "Erasure (Art. 17): the owner erases a person once no live post shows them; "
                "the person can ask for it on their own page, and the owner sees the request."
            ),
            N_(
                "Withdrawal of consent: one form or one API call, effective at once; the "
                "person can withdraw on their own page in one tap and one confirmation."
            ),
        ),
    ),
)


def record_of_processing(
    settings: dict[str, Any],
    gettext: Callable[..., str] | None = None,
    language: str = "en",
) -> dict[str, Any]:
    """Build the record as sections of (heading, list of lines), in the language of ``gettext``
    (English without it)."""

    def tr(text: str, **params: Any) -> str:
        if gettext is not None:
            return str(gettext(text, **params))
        return text % params if params else text

    facts = _facts(settings, tr, language)
    return {
        "language": language,
        "title": tr("Record of processing activities: %(business)s", business=facts["business"]),
        "controller": facts["business"],
        "responsible": facts["name"],
        "sections": [
            (tr(heading), [tr(line, **_named_in(line, facts)) for line in lines])
            for heading, lines in SECTIONS
        ],
    }


def _facts(settings: dict[str, Any], tr: Callable[..., str], language: str) -> dict[str, Any]:
    """The instance's facts the record's lines name, from its settings."""
    from consentcam.services.people import retention_in_words

    retention = str(settings.get("RETENTION") or "2y")
    try:
        days = parse_period(retention).days
        kept = tr(
            "%(period)s (%(days)s days)",
            period=retention_in_words(retention, language),
            days=days,
        )
    except ValueError:
        kept = retention
    database = str(settings.get("DATABASE_URL") or "")
    return {
        "business": settings.get("BUSINESS_NAME") or tr("(business name not set: see Settings)"),
        "name": settings.get("RESPONSIBLE_PERSON") or tr("(responsible person not set)"),
        "period": kept,
        "days": int(settings.get("REMOVAL_DUE_DAYS") or 7),
        "minutes": int(settings.get("CONSENT_LINK_MINUTES") or 30),
        "command": "consentcam log verify",
        "engine": "PostgreSQL" if database.startswith("postgresql") else "SQLite",
    }


def _named_in(text: str, facts: dict[str, Any]) -> dict[str, Any]:
    """The facts ``text`` names (%(name)s), and no others."""
    return {name: value for name, value in facts.items() if f"%({name})" in text}


def to_markdown(record: dict[str, Any]) -> str:
    lines = [f"# {record['title']}", ""]
    for heading, items in record["sections"]:
        lines += [f"## {heading}", ""]
        lines += [f"- {item}" for item in items]
        lines.append("")
    return "\n".join(lines)


def to_html(record: dict[str, Any]) -> str:
    """The record as one HTML document (from a Jinja template), in the record's language."""
    from consentcam.reports import i18n

    env = i18n.environment(str(record.get("language") or "en"))
    return env.get_template("records.html").render(record=record)
