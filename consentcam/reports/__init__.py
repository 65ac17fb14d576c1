"""Report renderers: the audit as HTML (the signed original), CSV and PDF with its chart; the consent receipt."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from consentcam.domain.types import Channel
from consentcam.wording import N_

STATUS_ORDER = ("ok", "findings", "taken_down")
STATUS_LABELS = {"ok": N_("OK"), "findings": N_("With findings"), "taken_down": N_("Taken down")}
# Calm green, a warning red and a neutral grey: the eye goes to the red first.
STATUS_COLOURS = {"ok": (30, 123, 52), "findings": (179, 38, 30), "taken_down": (150, 158, 165)}

FINDING_LABELS = {
    "consent_withdrawn_online": N_("Withdrawn consent still online"),
    "consent_expired_online": N_("Expired consent still online"),
    "no_consent_online": N_("No consent covers a face online"),
    "removal_open": N_("Removal task open"),
    "removal_overdue": N_("Removal task overdue"),
    "face_not_confirmed": N_("Face never confirmed"),
    "supplier_permission_lapsed": N_("Supplier permission lapsed"),
    "cleared_copy_missing": N_("Published copy missing"),
    "unaccounted_face": N_("Face nobody accounts for (re-scan)"),
    "published_unconfirmed": N_("Went out before everyone in it was confirmed marked"),
}

STATUS_WORDS = {
    "active": N_("active"),
    "withdrawn": N_("withdrawn"),
    "expired": N_("expired"),
    "not_yet_given": N_("not yet given"),
    "outside_scope": N_("photo not listed"),
    "channel_not_covered": N_("channel not covered"),
    "no_consent": N_("no consent"),
    "no_person": N_("no person"),
    "not_reviewed": N_("not reviewed"),
    "not reviewed": N_("not reviewed"),
    "not_confirmed": N_("not confirmed"),
    "blur": N_("blurred"),
    "not_identifiable": N_("not identifiable"),
    "supplier": N_("supplier permission"),
    "lapsed": N_("lapsed"),
    "missing": N_("missing"),
}


CHANNEL_NAMES = {
    "instagram": "Instagram",
    "facebook": "Facebook",
    "website": N_("Website"),
    "print": N_("Print"),
}


def channel_label(code: str) -> str:
    try:
        return Channel(code).heading
    except ValueError:
        return code


def words(status: str | None) -> str:
    if status is None:
        return "-"
    return STATUS_WORDS.get(status, status.replace("_", " "))


def face_person(face: dict[str, object], gettext: Callable[[str], str] = str) -> str:
    person = face.get("person")
    return str(person) if person else gettext(N_("nobody named"))


# Each finding's text with the facts it names; "face_not_confirmed" has two (see _template).
FINDING_TEXTS = {
    "removal_overdue": N_("Removal task %(task)s was due on %(due)s and is still open."),
    "removal_open": N_("Removal task %(task)s is open; it is due on %(due)s."),
    "cleared_copy_missing": N_(
        "Post %(publication)s on %(channel)s: the published copy is missing from storage."
    ),
    "unaccounted_face": N_(
        "Post %(publication)s on %(channel)s: a new scan found faces nobody has "
        "reviewed (%(count)s)."
    ),
    "supplier_permission_lapsed": N_(
        "Post %(publication)s on %(channel)s: the supplier's permission it was "
        "published under no longer covers it."
    ),
    "face_not_confirmed": N_(
        "Post %(publication)s on %(channel)s, face %(face)s: nobody has confirmed who this is."
    ),
    "consent_withdrawn_online": N_(
        "Post %(publication)s on %(channel)s, face %(face)s (%(person)s): consent "
        "was withdrawn on %(date)s and the post is still online."
    ),
    "consent_expired_online": N_(
        "Post %(publication)s on %(channel)s, face %(face)s (%(person)s): consent "
        "expired on %(date)s and the post is still online."
    ),
    "no_consent_online": N_(
        "Post %(publication)s on %(channel)s, face %(face)s (%(person)s): no consent "
        "covers this post (%(status)s)."
    ),
}
NOT_IDENTIFIABLE_TEXT = N_(
    "Post %(publication)s on %(channel)s, face %(face)s: marked as not "
    "identifiable without a reason."
)
REMOVAL_UNDER_WAY = N_("A removal task is under way.")


def finding_text(
    finding: Mapping[str, Any],
    gettext: Callable[..., str],
    day: Callable[[str], str],
) -> str:
    """An audit finding in the reader's language, from its kind and facts (stored English
    message as the fallback, for reports made before the facts were kept)."""
    p = {k: str(v) for k, v in (finding.get("params") or {}).items()}
    kind = finding.get("kind")
    message = str(finding.get("message") or "")
    if not p:
        return message
    if "due" in p:
        p["due"] = day(p["due"])
    if "date" in p:
        p["date"] = day(p["date"])
    if "channel_code" in p:
        p["channel"] = gettext(CHANNEL_NAMES.get(p["channel_code"], p["channel_code"]))
    template = _template(kind, message)
    if template is None:
        return message
    try:
        if kind == "no_consent_online":
            p["status"] = gettext(STATUS_WORDS.get(p.get("status", ""), p.get("status", "")))
        text = gettext(template, **p)
        if kind == "consent_withdrawn_online" and finding.get("severity") == "medium":
            text += " " + gettext(REMOVAL_UNDER_WAY)
        return text
    except (KeyError, ValueError, TypeError):
        return message


def _template(kind: object, message: str) -> str | None:
    """The text of a finding of this kind (None for a kind without one)."""
    if kind == "face_not_confirmed" and "not identifiable" in message:
        return NOT_IDENTIFIABLE_TEXT
    return FINDING_TEXTS.get(kind) if isinstance(kind, str) else None
