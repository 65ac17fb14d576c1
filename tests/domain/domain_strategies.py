"""Hypothesis strategies and a few builders shared by the domain tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from consentcam.domain import (
    Channel,
    Consent,
    FaceState,
    FaceView,
    PhotoView,
    ScanState,
    Scope,
    SupplierPermission,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PERSON_IDS = (1, 2, 3)
SUPPLIER_IDS = (10, 11)
PHOTO_IDS = (100, 101)

# Few distinct instants, so that equal timestamps (the edges of every rule) come up often.
moments = st.integers(min_value=0, max_value=12).map(lambda h: T0 + timedelta(hours=h))
optional_moments = st.none() | moments
channels = st.sampled_from(list(Channel))
channel_sets = st.frozensets(channels)


def at(hours: float) -> datetime:
    """Give the moment ``hours`` after T0."""
    return T0 + timedelta(hours=hours)


@st.composite
def consent_bodies(draw: st.DrawFn, person_id: int | None = None) -> dict[str, Any]:
    """Draw the fields of a consent record, without its id."""
    given = draw(moments)
    expires = draw(st.none() | st.integers(1, 8).map(lambda h: given + timedelta(hours=h)))
    return {
        "person_id": person_id if person_id is not None else draw(st.sampled_from(PERSON_IDS)),
        "channels": draw(st.dictionaries(channels, optional_moments, max_size=4)),
        "scope": draw(st.sampled_from(list(Scope))),
        "photo_ids": draw(st.frozensets(st.sampled_from(PHOTO_IDS))),
        "given_at": given,
        "expires_at": expires,
        "biometric": draw(st.booleans()),
        "biometric_withdrawn_at": draw(optional_moments),
    }


@st.composite
def consent_lists(draw: st.DrawFn, max_size: int = 6) -> list[Consent]:
    """Draw consent records with distinct ids for a few people."""
    bodies = draw(st.lists(consent_bodies(), max_size=max_size))
    return [Consent(id=i + 1, **body) for i, body in enumerate(bodies)]


def by_person(consents: Sequence[Consent]) -> dict[int, list[Consent]]:
    """Group consent records by person, as the service layer hands them to the rules."""
    out: dict[int, list[Consent]] = {}
    for c in consents:
        out.setdefault(c.person_id, []).append(c)
    return out


@st.composite
def supplier_permission_lists(draw: st.DrawFn) -> list[SupplierPermission]:
    """Draw supplier permissions with distinct ids."""
    count = draw(st.integers(0, 3))
    out = []
    for i in range(count):
        start = draw(moments)
        length = draw(st.none() | st.integers(1, 8))
        until = None if length is None else start + timedelta(hours=length)
        out.append(
            SupplierPermission(
                id=i + 1,
                supplier_id=draw(st.sampled_from(SUPPLIER_IDS)),
                channels=draw(channel_sets),
                valid_from=start,
                valid_until=until,
                revoked_at=draw(optional_moments),
            )
        )
    return out


@st.composite
def faces(draw: st.DrawFn, face_id: int, number: int) -> FaceView:
    """Draw one face in any review state, consistent with FaceView's own checks."""
    state = draw(st.sampled_from(list(FaceState)))
    person = draw(st.sampled_from(PERSON_IDS)) if state is FaceState.CONFIRMED else None
    suggested = draw(st.none() | st.sampled_from(PERSON_IDS))
    return FaceView(
        id=face_id,
        number=number,
        state=state,
        person_id=person,
        blur=draw(st.booleans()),
        not_identifiable_reason=draw(st.sampled_from([None, "", "  ", "back of head"])),
        suggested_person_id=suggested if state is FaceState.SUGGESTED else None,
        distance=draw(st.none() | st.floats(0, 1)) if suggested is not None else None,
    )


@st.composite
def photos(draw: st.DrawFn, done_weight: int = 4) -> PhotoView:
    """Draw a photo; most are fully scanned, since that is where the face rules apply.

    Three in four are confirmed by a person as fully marked, so the face rules get most cases.
    """
    states = [ScanState.DONE] * done_weight + [s for s in ScanState if s is not ScanState.DONE]
    count = draw(st.integers(0, 5))
    return PhotoView(
        id=draw(st.sampled_from(PHOTO_IDS)),
        scan_state=draw(st.sampled_from(states)),
        faces=tuple(draw(faces(face_id=1000 + n, number=n)) for n in range(1, count + 1)),
        supplier_id=draw(st.none() | st.sampled_from(SUPPLIER_IDS)),
        faces_confirmed=draw(st.sampled_from([True, True, True, False])),
    )


# Independent restatements of the rules, written from the specification rather than from the
# code, so the property tests compare two readings of the same rule.


def consent_allows(c: Consent, channel: Channel, t: datetime, photo_id: int) -> bool:
    """Restate when one consent record allows a use."""
    if channel not in c.channels:
        return False
    withdrawn = c.channels[channel]
    return (
        (withdrawn is None or t < withdrawn)
        and c.given_at <= t
        and (c.expires_at is None or t < c.expires_at)
        and (c.scope == Scope.ALL or photo_id in c.photo_ids)
    )


def permission_allows(p: SupplierPermission, channel: Channel, t: datetime) -> bool:
    """Restate when one supplier permission covers a channel."""
    return (
        channel in p.channels
        and p.valid_from <= t
        and (p.valid_until is None or t < p.valid_until)
        and (p.revoked_at is None or t < p.revoked_at)
    )


def face_covered(
    face: FaceView,
    photo: PhotoView,
    channel: Channel,
    t: datetime,
    consents: Mapping[int, Sequence[Consent]],
    permissions: Sequence[SupplierPermission],
) -> bool:
    """Restate whether one face of a scanned photo may be published."""
    if face.blur:
        return True
    if face.state == FaceState.NOT_IDENTIFIABLE and (face.not_identifiable_reason or "").strip():
        return True
    if face.state == FaceState.CONFIRMED and face.person_id is not None:
        own = [c for c in consents.get(face.person_id, []) if c.person_id == face.person_id]
        if any(consent_allows(c, channel, t, photo.id) for c in own):
            return True
    return photo.supplier_id is not None and any(
        p.supplier_id == photo.supplier_id and permission_allows(p, channel, t) for p in permissions
    )
