"""Report renderers: the audit as HTML (the signed original), CSV and PDF with its chart; the consent receipt."""

from __future__ import annotations

from consentcam.domain.types import Channel

STATUS_ORDER = ("ok", "findings", "taken_down")
STATUS_LABELS = {"ok": "OK", "findings": "With findings", "taken_down": "Taken down"}
# Calm green, a warning red and a neutral grey: the eye goes to the red first.
STATUS_COLOURS = {"ok": (30, 123, 52), "findings": (179, 38, 30), "taken_down": (150, 158, 165)}

FINDING_LABELS = {
    "consent_withdrawn_online": "Withdrawn consent still online",
    "consent_expired_online": "Expired consent still online",
    "no_consent_online": "No consent covers a face online",
    "removal_open": "Removal task open",
    "removal_overdue": "Removal task overdue",
    "face_not_confirmed": "Face never confirmed",
    "supplier_permission_lapsed": "Supplier permission lapsed",
    "cleared_copy_missing": "Published copy missing",
    "unaccounted_face": "Face nobody accounts for (re-scan)",
    "published_unconfirmed": "Went out before everyone in it was confirmed marked",
}

STATUS_WORDS = {
    "active": "active",
    "withdrawn": "withdrawn",
    "expired": "expired",
    "not_yet_given": "not yet given",
    "outside_scope": "photo not listed",
    "channel_not_covered": "channel not covered",
    "no_consent": "no consent",
    "no_person": "no person",
    "not_reviewed": "not reviewed",
    "not reviewed": "not reviewed",
    "not_confirmed": "not confirmed",
    "blur": "blurred",
    "not_identifiable": "not identifiable",
    "supplier": "supplier permission",
    "lapsed": "lapsed",
    "missing": "missing",
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


def face_person(face: dict[str, object]) -> str:
    person = face.get("person")
    return str(person) if person else "nobody named"
