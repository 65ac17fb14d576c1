"""The audit's bulk paths: cheap key checks, cached small thumbnails, per-person status reuse."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa
import sqlalchemy.orm as so
from PIL import Image

from consentcam.domain.audit import Quarter
from consentcam.models import (
    ConsentChannel,
    ConsentPhoto,
    ConsentRecord,
    Face,
    Person,
    Photo,
    Publication,
    PublicationFace,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import audit as audits


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (343, 480)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


def test_safe_key_refuses_keys_that_leave_the_media_folder() -> None:
    assert audits._safe_key("thumbs/ab/cd/abcd.jpg")
    for bad in ("", None, "/etc/passwd", "../x.jpg", "thumbs/../../x", "a\\b", "a\x00b"):
        assert not audits._safe_key(bad), bad


def test_mini_thumbnails_are_made_on_threads_cached_and_reused(runtime: Runtime) -> None:
    photos = []
    for i in range(24):  # more than the sequential cut-off, so the thread pool is used
        key, _ = runtime.storage.put("thumbs", _jpeg((10 * i, 80, 120)), "jpg")
        photos.append(SimpleNamespace(id=i + 1, sha256=f"{i + 1:064x}", thumbnail_key=key))
    broken_key, _ = runtime.storage.put("thumbs", b"not a jpeg at all", "jpg")
    photos.append(SimpleNamespace(id=99, sha256="f" * 64, thumbnail_key=broken_key))
    photos.append(SimpleNamespace(id=100, sha256="e" * 64, thumbnail_key="../outside.jpg"))

    first = audits.mini_thumbnails(runtime, photos)
    assert sorted(first) == list(range(1, 25))  # the unreadable and the unsafe one are left out
    with Image.open(io.BytesIO(runtime.storage.read(f"thumbs/mini/{photos[3].sha256}.jpg"))) as im:
        assert max(im.size) == audits.MINI_THUMB_SIDE
        assert im.size == (69, 96)  # the photo's aspect is kept
    assert first[4].startswith("data:image/jpeg;base64,")

    # A second audit reads the cache: it no longer needs the stored thumbnails.
    for p in photos[:24]:
        runtime.storage.delete(p.thumbnail_key)
    again = audits.mini_thumbnails(runtime, photos)
    assert again == first
    assert not list(runtime.storage.root.rglob(".tmp-*"))


def test_listed_consent_is_judged_per_photo_not_once_per_person(
    session: so.Session, runtime: Runtime
) -> None:
    """A consent that lists photos covers the listed post only, although the person is the same."""
    now = utcnow()
    quarter = Quarter.current(now)
    thumb, _ = runtime.storage.put("thumbs", _jpeg((200, 200, 200)), "jpg")
    person = Person(name="Lisa Listed")
    session.add(person)
    session.flush()
    photos = [
        Photo(
            sha256=f"{n:064x}",
            original_key=thumb,
            original_name=f"IMG_{n}.jpg",
            format="JPEG",
            size_bytes=1,
            width=343,
            height=480,
            thumbnail_key=thumb,
            scan_state="done",
        )
        for n in (1, 2)
    ]
    session.add_all(photos)
    session.flush()
    consent = ConsentRecord(
        person_id=person.id,
        scope="listed",
        given_at=quarter.start - timedelta(days=5),
        signer_name="Lisa Listed",
    )
    session.add(consent)
    session.flush()
    session.add(ConsentChannel(consent_id=consent.id, channel="instagram"))
    session.add(ConsentPhoto(consent_id=consent.id, photo_id=photos[0].id))
    pubs = []
    for photo in photos:
        face = Face(
            photo_id=photo.id,
            number=1,
            left=10,
            top=10,
            right=60,
            bottom=60,
            state="confirmed",
            person_id=person.id,
        )
        session.add(face)
        session.flush()
        pub = Publication(
            photo_id=photo.id,
            channel="instagram",
            publisher="manual",
            published_at=max(quarter.start, now - timedelta(minutes=5)),
            cleared_copy_key=thumb,
            live=True,
        )
        session.add(pub)
        session.flush()
        session.add(
            PublicationFace(
                publication_id=pub.id,
                face_id=face.id,
                person_id=person.id,
                how="consent",
                consent_id=consent.id,
            )
        )
        pubs.append(pub)
    session.flush()

    snap = audits.build_snapshot(session, runtime, quarter, at=now)
    now_by_pub = {p["id"]: p["faces"][0]["now"] for p in snap["publications"]}
    assert now_by_pub[pubs[0].id] == "active"
    assert now_by_pub[pubs[1].id] == "outside_scope"
    flagged = {f["publication_id"] for f in snap["findings"] if f["kind"] == "no_consent_online"}
    assert flagged == {pubs[1].id}
    assert session.scalar(sa.select(sa.func.count(Publication.id))) == 2
