"""The record of processing activities (GDPR Art. 30), generated from the instance's settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consentcam.domain.retention import parse_period


def record_of_processing(
    settings: dict[str, Any],
    gettext: Callable[..., str] | None = None,
    language: str = "en",
) -> dict[str, Any]:
    """Build the record as sections of (heading, list of lines), in the language of ``gettext``
    (English without it)."""
    from consentcam.services.people import retention_in_words

    def tr(text: str, **params: Any) -> str:
        if gettext is not None:
            return str(gettext(text, **params))
        return text % params if params else text

    business = settings.get("BUSINESS_NAME") or tr("(business name not set: see Settings)")
    responsible = settings.get("RESPONSIBLE_PERSON") or tr("(responsible person not set)")
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
    due = int(settings.get("REMOVAL_DUE_DAYS") or 7)
    database = str(settings.get("DATABASE_URL") or "")
    engine = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
    return {
        "language": language,
        "title": tr("Record of processing activities: %(business)s", business=business),
        "controller": business,
        "responsible": responsible,
        "sections": [
            (
                tr("Controller and responsible person"),
                [
                    tr("Controller: %(business)s.", business=business),
                    tr(
                        "Responsible person (signs the quarterly audit): %(name)s.",
                        name=responsible,
                    ),
                ],
            ),
            (
                tr("Purposes of the processing"),
                [
                    tr(
                        "Publishing photos of customers and staff on the business's own channels "
                        "(Instagram, Facebook, the website, print) only with their signed consent "
                        "(GDPR Art. 6(1)(a))."
                    ),
                    tr(
                        "Automatic face recognition to suggest who is in a photo, only for people "
                        "who gave separate, explicit biometric consent (GDPR Art. 9(2)(a))."
                    ),
                    tr(
                        "Proving consent: keeping the signed forms, the quarterly audit and a "
                        "tamper-evident log of every change (GDPR Art. 5(2), 7(1))."
                    ),
                    tr("Honouring withdrawal of consent: taking down posts within the deadline."),
                    tr(
                        "Letting customers give, see and withdraw their consent themselves through "
                        "one-time consent links and a personal link, and sending them receipts, "
                        "one-time codes and links by e-mail (GDPR Art. 7(3), 12, 15)."
                    ),
                ],
            ),
            (
                tr("Categories of data subjects"),
                [
                    tr("Customers and clients who appear in photos."),
                    tr("Staff and the owner who appear in photos."),
                    tr("Guardians who sign for minors."),
                    tr(
                        "People in photos provided by suppliers (covered by the supplier's "
                        "written permission)."
                    ),
                    tr("Users of the app (owner and staff accounts)."),
                ],
            ),
            (
                tr("Categories of personal data"),
                [
                    tr(
                        "Identity and contact: name, e-mail, phone, a free-text note, whether the "
                        "person is a minor."
                    ),
                    tr(
                        "E-mail addresses a customer gives for their receipt, or the owner gives "
                        "to send a consent link to; e-mails waiting to be sent (stored encrypted, "
                        "the text dropped once sent) and failed sends with their error."
                    ),
                    tr(
                        "Link events: consent links made, used and expired, personal links "
                        "issued, replaced and stopped, one-time codes asked for and tried (only "
                        "hashes of tokens and codes are stored), customers' requests for erasure, "
                        "and the user agent of the phone a consent was signed on (no IP address "
                        "is kept)."
                    ),
                    tr(
                        "Photos (originals, thumbnails and the published copies with chosen faces "
                        "blurred) and the position of each face in them."
                    ),
                    tr(
                        "Consent records: channels, scope, dates, expiry, withdrawal, the signer's "
                        "name, the signed form's text and the evidence (signature or scanned "
                        "form, stored encrypted)."
                    ),
                    tr(
                        "Biometric data (special category, Art. 9): face templates (128 numbers "
                        "per face) and reference photos, stored encrypted, only under biometric "
                        "consent; templates of faces that match nobody are deleted when the photo "
                        "is reviewed."
                    ),
                    tr("Publications (channel, link, date) and removal tasks."),
                    tr("The event log (who changed what, when)."),
                ],
            ),
            (
                tr("Recipients"),
                [
                    tr(
                        "Meta Platforms Ireland Ltd. (Instagram, Facebook) receives the published "
                        "copies of photos and captions. Meta may transfer data to the USA under "
                        "the EU-US Data Privacy Framework."
                    ),
                    tr(
                        "Visitors of the business's website and readers of its printed material "
                        "see photos published there."
                    ),
                    tr(
                        "The business's own mail server (SMTP_URL), when set, receives the e-mails "
                        "to customers and the owner on their way."
                    ),
                    tr("No other recipients: the app is self-hosted and sends nothing elsewhere."),
                ],
            ),
            (
                tr("Retention periods"),
                [
                    tr(
                        "People with no activity for %(period)s are erased by the retention "
                        "purge, unless a live post still shows them (they are flagged instead "
                        "until it is taken down).",
                        period=kept,
                    ),
                    tr(
                        "After consent is withdrawn, posts are taken down within %(days)s days.",
                        days=due,
                    ),
                    tr(
                        "Consent links: valid %(minutes)s minutes, used once; one-time e-mail "
                        "codes: 15 minutes. Personal links: until replaced, stopped by the owner, "
                        "or the person is erased. E-mail addresses go with the person's erasure; "
                        "the record of a sent e-mail (address, subject, time) is deleted 30 days "
                        "after it was sent.",
                        minutes=int(settings.get("CONSENT_LINK_MINUTES") or 30),
                    ),
                    tr("Face templates of unmatched faces: until the photo's review is done."),
                    tr(
                        "Biometric templates and reference photos: until biometric consent is "
                        "withdrawn or the person is erased."
                    ),
                    tr(
                        "Audit reports and the event log: kept as proof of consent; an erased "
                        "person appears in them only by number."
                    ),
                ],
            ),
            (
                tr("Technical and organisational security measures"),
                [
                    tr(
                        "Evidence files, reference photos, face templates and access tokens are "
                        "encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256)."
                    ),
                    tr(
                        "Originals and evidence are never reachable by a public URL; downloads "
                        "are for signed-in users and sent as attachments."
                    ),
                    tr(
                        "Only the owner may change consent, erase people, export data or sign "
                        "audits; staff accounts have fewer rights. Passwords are hashed."
                    ),
                    tr(
                        "Every change goes into a hash-chained event log that can be verified "
                        "(%(command)s); audit reports are kept with their SHA-256.",
                        command="consentcam log verify",
                    ),
                    tr("Published copies are re-encoded without metadata (EXIF, GPS)."),
                    tr(
                        "Database: %(engine)s; files are written atomically; back-ups are the "
                        "business's responsibility.",
                        engine=engine,
                    ),
                ],
            ),
            (
                tr("Rights of the data subject"),
                [
                    tr(
                        "Access (Art. 15): the owner downloads everything about a person as one "
                        "ZIP; the person can download it from their own page after a one-time "
                        "e-mail code."
                    ),
                    tr(
                        "Erasure (Art. 17): the owner erases a person once no live post shows "
                        "them; the person can ask for it on their own page, and the owner sees "
                        "the request."
                    ),
                    tr(
                        "Withdrawal of consent: one form or one API call, effective at once; the "
                        "person can withdraw on their own page in one tap and one confirmation."
                    ),
                ],
            ),
        ],
    }


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
