"""The record of processing activities (GDPR Art. 30), generated from the instance's settings."""

from __future__ import annotations

from html import escape
from typing import Any

from consentcam.domain.retention import parse_period


def _retention_words(text: str) -> str:
    try:
        days = parse_period(text).days
    except ValueError:
        return text
    return f"{text} ({days} days) without activity"


def record_of_processing(settings: dict[str, Any]) -> dict[str, Any]:
    """Build the record as sections of (heading, list of lines)."""
    business = settings.get("BUSINESS_NAME") or "(business name not set: see Settings)"
    responsible = settings.get("RESPONSIBLE_PERSON") or "(responsible person not set)"
    retention = str(settings.get("RETENTION") or "2y")
    due = int(settings.get("REMOVAL_DUE_DAYS") or 7)
    database = str(settings.get("DATABASE_URL") or "")
    engine = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
    return {
        "title": f"Record of processing activities: {business}",
        "controller": business,
        "responsible": responsible,
        "sections": [
            (
                "Controller and responsible person",
                [
                    f"Controller: {business}.",
                    f"Responsible person (signs the quarterly audit): {responsible}.",
                ],
            ),
            (
                "Purposes of the processing",
                [
                    "Publishing photos of customers and staff on the business's own channels "
                    "(Instagram, Facebook, the website, print) only with their signed consent "
                    "(GDPR Art. 6(1)(a)).",
                    "Automatic face recognition to suggest who is in a photo, only for people who "
                    "gave separate, explicit biometric consent (GDPR Art. 9(2)(a)).",
                    "Proving consent: keeping the signed forms, the quarterly audit and a "
                    "tamper-evident log of every change (GDPR Art. 5(2), 7(1)).",
                    "Honouring withdrawal of consent: taking down posts within the deadline.",
                    "Letting customers give, see and withdraw their consent themselves through "
                    "one-time consent links and a personal link, and sending them receipts, "
                    "one-time codes and links by e-mail (GDPR Art. 7(3), 12, 15).",
                ],
            ),
            (
                "Categories of data subjects",
                [
                    "Customers and clients who appear in photos.",
                    "Staff and the owner who appear in photos.",
                    "Guardians who sign for minors.",
                    "People in photos provided by suppliers (covered by the supplier's written "
                    "permission).",
                    "Users of the app (owner and staff accounts).",
                ],
            ),
            (
                "Categories of personal data",
                [
                    "Identity and contact: name, e-mail, phone, a free-text note, whether the "
                    "person is a minor.",
                    "E-mail addresses a customer gives for their receipt, or the owner gives to "
                    "send a consent link to; e-mails waiting to be sent (stored encrypted, the "
                    "text dropped once sent) and failed sends with their error.",
                    "Link events: consent links made, used and expired, personal links issued, "
                    "replaced and stopped, one-time codes asked for and tried (only hashes of "
                    "tokens and codes are stored), customers' requests for erasure, and the user "
                    "agent of the phone a consent was signed on (no IP address is kept).",
                    "Photos (originals, thumbnails and the published copies with chosen faces "
                    "blurred) and the position of each face in them.",
                    "Consent records: channels, scope, dates, expiry, withdrawal, the signer's "
                    "name, the signed form's text and the evidence (signature or scanned form, "
                    "stored encrypted).",
                    "Biometric data (special category, Art. 9): face templates (128 numbers per "
                    "face) and reference photos, stored encrypted, only under biometric consent; "
                    "templates of faces that match nobody are deleted when the photo is reviewed.",
                    "Publications (channel, link, date) and removal tasks.",
                    "The event log (who changed what, when).",
                ],
            ),
            (
                "Recipients",
                [
                    "Meta Platforms Ireland Ltd. (Instagram, Facebook) receives the published "
                    "copies of photos and captions. Meta may transfer data to the USA under the "
                    "EU-US Data Privacy Framework.",
                    "Visitors of the business's website and readers of its printed material see "
                    "photos published there.",
                    "The business's own mail server (SMTP_URL), when set, receives the e-mails "
                    "to customers and the owner on their way.",
                    "No other recipients: the app is self-hosted and sends nothing elsewhere.",
                ],
            ),
            (
                "Retention periods",
                [
                    f"People with no activity for {_retention_words(retention)} are erased by the "
                    "retention purge, unless a live post still shows them (they are flagged "
                    "instead until it is taken down).",
                    f"After consent is withdrawn, posts are taken down within {due} days.",
                    f"Consent links: valid {int(settings.get('CONSENT_LINK_MINUTES') or 30)} "
                    "minutes, used once; one-time e-mail codes: 15 minutes. Personal links: until "
                    "replaced, stopped by the owner, or the person is erased. E-mail addresses "
                    "go with the person's erasure; the record of a sent e-mail (address, subject, "
                    "time) is deleted 30 days after it was sent.",
                    "Face templates of unmatched faces: until the photo's review is done.",
                    "Biometric templates and reference photos: until biometric consent is "
                    "withdrawn or the person is erased.",
                    "Audit reports and the event log: kept as proof of consent; an erased "
                    "person appears in them only by number.",
                ],
            ),
            (
                "Technical and organisational security measures",
                [
                    "Evidence files, reference photos, face templates and access tokens are "
                    "encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256).",
                    "Originals and evidence are never reachable by a public URL; downloads are "
                    "for signed-in users and sent as attachments.",
                    "Only the owner may change consent, erase people, export data or sign "
                    "audits; staff accounts have fewer rights. Passwords are hashed.",
                    "Every change goes into a hash-chained event log that can be verified "
                    "(`consentcam log verify`); audit reports are kept with their SHA-256.",
                    "Published copies are re-encoded without metadata (EXIF, GPS).",
                    f"Database: {engine}; files are written atomically; back-ups are the "
                    "business's responsibility.",
                ],
            ),
            (
                "Rights of the data subject",
                [
                    "Access (Art. 15): the owner downloads everything about a person as one ZIP; "
                    "the person can download it from their own page after a one-time e-mail code.",
                    "Erasure (Art. 17): the owner erases a person once no live post shows them; "
                    "the person can ask for it on their own page, and the owner sees the request.",
                    "Withdrawal of consent: one form or one API call, effective at once; the "
                    "person can withdraw on their own page in one tap and one confirmation.",
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


def to_html(record: dict[str, Any], *, standalone: bool = True) -> str:
    body = [f"<h1>{escape(record['title'])}</h1>"]
    for heading, items in record["sections"]:
        body.append(f"<h2>{escape(heading)}</h2><ul>")
        body += [f"<li>{escape(item)}</li>" for item in items]
        body.append("</ul>")
    inner = "".join(body)
    if not standalone:
        return inner
    return (
        '<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width, initial-scale=1">'
        f"<title>{escape(record['title'])}</title><style>body{{font:15px/1.5 system-ui,sans-serif;"
        "max-width:900px;margin:auto;padding:1rem;color:#1d2327}</style></head><body>"
        f"{inner}</body></html>"
    )
