"""The check every photo-state test ends with: what each photo stores is where it stands now.

Shared by the SQLite tests (tests/web/test_photo_state.py) and the PostgreSQL ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consentcam.domain.types import Channel, GateState, ReviewState
from consentcam.models import Face, Photo, PhotoChannelState, PhotoTally, utcnow
from consentcam.runtime import Runtime
from consentcam.services import gate, photo_state, photo_tally


def stored(session: Session, photo_id: int) -> dict[str, Any]:
    """What photo ``photo_id`` stores about where it stands."""
    photo = session.get(Photo, photo_id, populate_existing=True)
    assert photo is not None
    rows = session.execute(
        sa.select(PhotoChannelState.channel, PhotoChannelState.state).where(
            PhotoChannelState.photo_id == photo_id
        )
    ).all()
    return {
        "review": photo.review_state,
        "faces": photo.face_count,
        "undecided": photo.undecided_faces,
        "channels": {Channel(c): GateState(s) for c, s in rows},
        "due": photo.gate_due_at,
    }


def assert_in_step(runtime: Runtime, at: datetime | None = None) -> dict[int, dict[str, Any]]:
    """Every photo's stored standing equals the one worked out afresh, its stored verdicts
    are the gate's own, and the photo counters equal a recount; returns what each photo
    stores (in a session of its own)."""
    at = at or utcnow()
    out = {}
    with runtime.sessions() as s:
        photos = list(
            s.scalars(sa.select(Photo).order_by(Photo.id).options(sa.orm.selectinload(Photo.faces)))
        )
        fresh = photo_state.standings(s, photos, at)
        verdicts = gate.decide_many(s, photos, list(Channel), at) if photos else {}
        for photo in photos:
            have = stored(s, photo.id)
            want = fresh[photo.id]
            assert (have["review"], have["faces"], have["undecided"]) == (
                want.review,
                want.faces,
                want.undecided,
            ), (photo.id, have, want)
            assert have["channels"] == dict(want.channels), (photo.id, have, want)
            assert have["due"] == want.due, (photo.id, have, want)
            cleared = {c for c, s_ in have["channels"].items() if s_ is GateState.CLEARED}
            assert cleared == {c for c, v in verdicts[photo.id].items() if v.cleared}, photo.id
            faces = s.scalar(sa.select(sa.func.count(Face.id)).where(Face.photo_id == photo.id))
            assert have["faces"] == faces
            out[photo.id] = have
        assert_tally_in_step(s)
    return out


def stored_tally(session: Session) -> dict[str, int]:
    """The photo_tally table as it is stored (keys without a row left out)."""
    return {k: n for k, n in session.execute(sa.select(PhotoTally.key, PhotoTally.n))}


def assert_tally_in_step(session: Session) -> dict[str, int]:
    """The counters kept on write equal a fresh count of the rows, every key; returns them."""
    kept = dict.fromkeys(photo_tally.KEYS, 0) | stored_tally(session)
    assert kept == photo_tally.counted(session)
    assert photo_tally.read(session) == kept  # nothing waits for a commit here
    return kept


def review_of(runtime: Runtime, photo_id: int) -> ReviewState:
    with runtime.sessions() as s:
        return ReviewState(stored(s, photo_id)["review"])
