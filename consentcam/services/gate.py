"""Load what the gate needs from the database and ask it: may this photo go out on this channel now?"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.gate import GateDecision, evaluate_gate
from consentcam.domain.types import (
    Channel,
    Consent,
    FaceState,
    FaceView,
    PhotoView,
    ScanState,
    Scope,
    SupplierPermission,
)
from consentcam.models import (
    ConsentChannel,
    ConsentPhoto,
    ConsentRecord,
    Face,
    Person,
    Photo,
    utcnow,
)
from consentcam.models import SupplierPermission as SupplierPermissionRow


def photo_view(photo: Photo) -> PhotoView:
    return PhotoView(
        id=photo.id,
        scan_state=ScanState(photo.scan_state),
        supplier_id=photo.supplier_id,
        faces=tuple(face_view(f) for f in photo.faces),
        faces_confirmed=photo.faces_confirmed_at is not None,
    )


def face_view(face: Face) -> FaceView:
    return FaceView(
        id=face.id,
        number=face.number,
        state=FaceState(face.state),
        person_id=face.person_id,
        blur=face.blur,
        not_identifiable_reason=face.not_identifiable_reason,
        suggested_person_id=face.suggested_person_id,
        distance=face.distance,
    )


def consent_view(record: ConsentRecord, photo_ids: Iterable[int]) -> Consent:
    return Consent(
        id=record.id,
        person_id=record.person_id,
        channels={Channel(c.channel): c.withdrawn_at for c in record.channels},
        scope=Scope(record.scope),
        photo_ids=frozenset(photo_ids),
        given_at=record.given_at,
        expires_at=record.expires_at,
        biometric=record.biometric,
        biometric_withdrawn_at=record.biometric_withdrawn_at,
    )


def supplier_permission_view(row: SupplierPermissionRow) -> SupplierPermission:
    return SupplierPermission(
        id=row.id,
        supplier_id=row.supplier_id,
        channels=frozenset(Channel(c) for c in row.channel_list),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        revoked_at=row.revoked_at,
    )


def consents_for(session: so.Session, person_ids: Iterable[int]) -> dict[int, list[Consent]]:
    """Every consent of the given people, as the domain sees them, in two queries.

    Plain rows, not ORM objects: a photo page asks for the consents of up to a hundred people,
    and building (and tracking) an object per consent and channel cost more than the queries.
    """
    ids = sorted(set(person_ids))
    out: dict[int, list[Consent]] = defaultdict(list)
    if not ids:
        return out
    rows = session.execute(
        sa.select(
            ConsentRecord.id,
            ConsentRecord.person_id,
            ConsentRecord.scope,
            ConsentRecord.given_at,
            ConsentRecord.expires_at,
            ConsentRecord.biometric,
            ConsentRecord.biometric_withdrawn_at,
            ConsentChannel.channel,
            ConsentChannel.withdrawn_at,
        )
        .outerjoin(ConsentChannel, ConsentChannel.consent_id == ConsentRecord.id)
        .where(ConsentRecord.person_id.in_(ids))
        .order_by(ConsentRecord.id, ConsentChannel.channel)
    ).all()
    records: dict[int, Any] = {}
    channels: dict[int, dict[Channel, datetime | None]] = defaultdict(dict)
    for row in rows:
        records.setdefault(row[0], row)
        if row[7] is not None:
            channels[row[0]][Channel(row[7])] = row[8]
    listed: dict[int, list[int]] = defaultdict(list)
    listed_ids = [rid for rid, r in records.items() if r[2] == Scope.LISTED.value]
    if listed_ids:
        for consent_id, photo_id in session.execute(
            sa.select(ConsentPhoto.consent_id, ConsentPhoto.photo_id).where(
                ConsentPhoto.consent_id.in_(listed_ids)
            )
        ):
            listed[consent_id].append(photo_id)
    for rid, r in records.items():
        out[r[1]].append(
            Consent(
                id=rid,
                person_id=r[1],
                channels=channels.get(rid, {}),
                scope=Scope(r[2]),
                photo_ids=frozenset(listed.get(rid, ())),
                given_at=r[3],
                expires_at=r[4],
                biometric=r[5],
                biometric_withdrawn_at=r[6],
            )
        )
    return out


def supplier_permissions_for(
    session: so.Session, supplier_ids: Iterable[int | None]
) -> list[SupplierPermission]:
    ids = sorted({s for s in supplier_ids if s is not None})
    if not ids:
        return []
    rows = session.scalars(
        sa.select(SupplierPermissionRow).where(SupplierPermissionRow.supplier_id.in_(ids))
    )
    return [supplier_permission_view(r) for r in rows]


def decide(
    session: so.Session,
    photo: Photo,
    channels: Sequence[Channel | str],
    at: datetime | None = None,
) -> dict[Channel, GateDecision]:
    """The gate's verdict for one photo on each channel, at `at` (now by default)."""
    return decide_many(session, [photo], channels, at)[photo.id]


def decide_many(
    session: so.Session,
    photos: Sequence[Photo],
    channels: Sequence[Channel | str],
    at: datetime | None = None,
) -> dict[int, dict[Channel, GateDecision]]:
    """Verdicts for many photos with a fixed number of queries (no query per photo or face)."""
    at = at or utcnow()
    person_ids = {f.person_id for p in photos for f in p.faces if f.person_id is not None}
    consents = consents_for(session, person_ids)
    permissions = supplier_permissions_for(session, (p.supplier_id for p in photos))
    # Suggested people too: a reason then says "looks like Anna Berg", not a number.
    suggested = {
        f.suggested_person_id for p in photos for f in p.faces if f.suggested_person_id is not None
    }
    names = person_names(session, person_ids | suggested)
    result: dict[int, dict[Channel, GateDecision]] = {}
    for photo in photos:
        view = photo_view(photo)
        result[photo.id] = {
            Channel(c): evaluate_gate(view, Channel(c), at, consents, permissions, names=names)
            for c in channels
        }
    return result


def person_names(session: so.Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return dict(
        session.execute(sa.select(Person.id, Person.name).where(Person.id.in_(wanted))).all()
    )
