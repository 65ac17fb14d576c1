"""End to end with the real engine: enrol, consent, scan, confirm, queue, publish through Meta."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask
from PIL import Image

from consentcam.domain.types import FaceState
from consentcam.models import Event, Publication, utcnow
from consentcam.runtime import Runtime
from consentcam.services import confirmation, people, photos, publishing, scanning
from consentcam.services import users as users_service
from tests.conftest import FACES
from tests.fakegraph.server import FakeGraph
from tests.publishing.conftest import SIGNATURE, connect_meta


@pytest.mark.slow
def test_real_photo_from_enrolment_to_instagram_and_facebook(
    live_app: Flask, app_session: so.Session, app_rt: Runtime, graph: FakeGraph
) -> None:
    s, rt = app_session, app_rt
    given = utcnow() - timedelta(days=1)
    enrolled = {}
    for name, folder in (("Barack", "obama"), ("Joe", "biden")):
        person = people.add_person(s, name)
        consent = people.give_consent(
            s,
            rt,
            person,
            channels=["instagram", "facebook"],
            evidence=SIGNATURE,
            evidence_mime="image/png",
            evidence_kind="signature",
            biometric=True,
            given_at=given,
        )
        ref = FACES / "known" / folder / f"{folder}1.jpg"
        people.enrol_reference(s, rt, person, ref.read_bytes(), ref.name)
        enrolled[folder] = (person, consent)
    photo = photos.ingest(
        s, rt, (FACES / "unknown" / "two_people.jpg").read_bytes(), "two_people.jpg"
    ).photo
    s.commit()
    scanning.scan_photo(s, rt, photo.id)
    s.refresh(photo)
    assert photo.scan_state == "done" and len(photo.faces) == 2
    # The engine suggests each enrolled person; the owner confirms (a suggestion alone never clears).
    by_person = {}
    for face in photo.faces:
        assert face.suggested_person_id is not None
        face.state = FaceState.CONFIRMED
        face.person_id = face.suggested_person_id
        by_person[face.person_id] = face
    assert set(by_person) == {enrolled["obama"][0].id, enrolled["biden"][0].id}
    # And confirms that everyone in the photo is marked: nothing is cleared before that.
    owner = users_service.create_user(
        s, "owner@example.com", "Ann-Christin", "owner-password-123", role="owner"
    )
    confirmation.confirm_photo(s, rt, photo, user=owner)

    connect_meta(s, rt, "instagram", graph)
    connect_meta(s, rt, "facebook", graph)
    item = publishing.queue_photo(
        s, rt, photo.id, ["instagram", "facebook"], caption="Två gäster", fit="crop"
    )
    s.commit()
    assert item.status == "ready", publishing.blockers_of(item)
    live_app.extensions["jobs"].enqueue("publish_queue_item", item.id)
    s.expire_all()
    assert item.status == "published", publishing.blockers_of(item)

    pubs = s.scalars(sa.select(Publication).order_by(Publication.channel)).all()
    assert [p.channel for p in pubs] == ["facebook", "instagram"]
    for pub in pubs:
        snapshot = {f.person_id: (f.how, f.consent_id) for f in pub.faces}
        assert snapshot == {
            enrolled["obama"][0].id: ("consent", enrolled["obama"][1].id),
            enrolled["biden"][0].id: ("consent", enrolled["biden"][1].id),
        }
        assert pub.external_id in graph.state.objects
    assert graph.calls_to("POST", "/media_publish") and graph.calls_to("POST", "/photos")
    assert len(graph.fetches) == 2
    for fetched in graph.fetches:
        assert fetched.status == 200 and fetched.content_type == "image/jpeg"
        im = Image.open(io.BytesIO(fetched.body))
        assert im.getexif() == {} and "exif" not in im.info and "icc_profile" not in im.info
        assert b"Exif" not in fetched.body
        assert 320 <= im.width <= 1440 and 0.8 <= im.width / im.height <= 1.91
        assert hashlib.sha256(fetched.body).hexdigest() == pubs[0].cleared_copy_sha256
    created = s.scalars(sa.select(Event.kind).where(Event.kind == "publication.created")).all()
    assert len(created) == 2
