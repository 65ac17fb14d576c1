"""Photos in: one row per distinct file, clear errors with nothing stored, and real scans."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from PIL import Image

from consentcam.faces.decode import ImageRejected
from consentcam.models import Event, Face, Person, Photo, ReferenceFace
from consentcam.runtime import Runtime
from consentcam.services import people, photos, scanning
from tests.conftest import FACES


def _stored_files(rt: Runtime) -> list[str]:
    return [p.name for p in Path(rt.storage.root).rglob("*") if p.is_file()]


def test_the_same_bytes_twice_give_one_photo(runtime: Runtime, session: so.Session) -> None:
    data = (FACES / "unknown/obama1.jpg").read_bytes()
    first = photos.ingest(session, runtime, data, "a.jpg")
    session.commit()
    second = photos.ingest(session, runtime, data, "renamed.jpg")
    session.commit()
    assert first.created and not second.created
    assert first.photo.id == second.photo.id
    assert session.scalar(sa.select(sa.func.count(Photo.id))) == 1
    assert len([k for k in runtime.storage.keys("originals")]) == 1
    photo = first.photo
    assert (photo.width, photo.height) == Image.open(io.BytesIO(data)).size
    # What is stored is a clean re-encode of the upload: same pixel size, no metadata at all.
    stored = runtime.storage.read(photo.original_key)
    assert stored != data
    with Image.open(io.BytesIO(stored)) as clean:
        assert clean.size == (photo.width, photo.height)
        assert not clean.getexif()
        assert "icc_profile" not in clean.info and "exif" not in clean.info
    assert runtime.storage.exists(photo.thumbnail_key)


def _truncated() -> bytes:
    data = (FACES / "unknown/obama1.jpg").read_bytes()
    return data[: len(data) // 2]


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("half.jpg", _truncated, "truncated"),
        ("bomb.png", _bomb, "pixel"),
        ("notes.jpg", lambda: b"these are my notes, not a photo\n" * 20, "not a supported image"),
    ],
)
def test_bad_files_are_refused_with_nothing_stored(
    runtime: Runtime, session: so.Session, name: str, make: Callable[[], bytes], words: str
) -> None:
    with pytest.raises(ImageRejected) as info:
        photos.ingest(session, runtime, make(), name)
    session.rollback()
    assert name in str(info.value)
    assert words in str(info.value)
    assert session.scalar(sa.select(sa.func.count(Photo.id))) == 0
    assert session.scalar(sa.select(sa.func.count(Event.seq))) == 0
    assert _stored_files(runtime) == []


def _signed(
    runtime: Runtime,
    session: so.Session,
    name: str,
    biometric: bool,
    channels: str = "instagram,facebook",
) -> Person:
    person = people.add_person(session, name)
    people.give_consent(
        session,
        runtime,
        person,
        channels=[channels],
        evidence=b"%PDF-1.4 signed form",
        evidence_mime="application/pdf",
        evidence_kind="scan",
        biometric=biometric,
    )
    return person


def test_scan_suggests_enrolled_people_only(runtime: Runtime, session: so.Session) -> None:
    obama = _signed(runtime, session, "Barack", biometric=True)
    people.enrol_reference(
        session, runtime, obama, (FACES / "known/obama/obama1.jpg").read_bytes(), "obama1.jpg"
    )
    biden = _signed(runtime, session, "Joe", biometric=False)
    with pytest.raises(people.ConsentError, match="biometric consent"):
        people.enrol_reference(
            session, runtime, biden, (FACES / "known/biden/biden1.jpg").read_bytes(), "b.jpg"
        )
    session.commit()
    photo = photos.ingest(
        session, runtime, (FACES / "unknown/two_people.jpg").read_bytes(), "two.jpg"
    ).photo
    session.commit()
    scanning.scan_photo(session, runtime, photo.id)
    faces = session.scalars(
        sa.select(Face).where(Face.photo_id == photo.id).order_by(Face.number)
    ).all()
    assert len(faces) == 2
    by_state = {f.suggested_person_id: f for f in faces}
    assert obama.id in by_state and by_state[obama.id].state == "suggested"
    distance = by_state[obama.id].distance
    assert distance is not None and distance < 0.5
    # Joe gave no biometric consent: nobody suggests him, and no reference of his is stored.
    assert biden.id not in by_state
    assert (
        session.scalar(sa.select(sa.func.count()).where(ReferenceFace.person_id == biden.id)) == 0
    )
    # A suggestion is never a confirmation.
    assert all(f.person_id is None for f in faces)
    # Scanning again is a no-op: exactly one set of faces.
    scanning.scan_photo(session, runtime, photo.id)
    assert session.scalar(sa.select(sa.func.count(Face.id))) == 2
    assert scanning.forget_unmatched_templates(session, photo) == 2
    assert all(f.template is None for f in photo.faces)


def test_a_corrupt_stored_original_fails_the_scan_clearly(
    runtime: Runtime, session: so.Session
) -> None:
    photo = photos.ingest(
        session, runtime, (FACES / "unknown/obama1.jpg").read_bytes(), "o.jpg"
    ).photo
    session.commit()
    path = runtime.storage.path(photo.original_key)
    path.write_bytes(path.read_bytes()[:2000])
    scanning.scan_photo(session, runtime, photo.id)
    assert photo.scan_state == "failed"
    assert "o.jpg" in (photo.scan_error or "")
