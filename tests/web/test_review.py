"""The review service: each action changes the face, records an event and moves the gate."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from consentcam.domain.types import Channel, FaceState
from consentcam.models import Event, Face, Person, ReferenceFace
from consentcam.runtime import Runtime
from consentcam.services import gate, review
from tests.web.photo_helpers import person_with_consent, photo_with_faces


def _events(session: Session, kind: str) -> int:
    count = session.scalar(sa.select(sa.func.count(Event.seq)).where(Event.kind == kind))
    assert count is not None
    return count


def test_confirming_every_face_clears_the_consented_channel_only(
    runtime: Runtime, session: Session
) -> None:
    photo = photo_with_faces(runtime, session, 2)
    anna = person_with_consent(runtime, session, "Anna", "instagram", biometric=True)
    bo = person_with_consent(runtime, session, "Bo", "instagram,facebook")
    first, second = photo.faces
    assert not gate.decide(session, photo, ["instagram"])[Channel.INSTAGRAM].cleared
    review.assign_face(session, runtime, first, anna)
    session.commit()
    verdict = gate.decide(session, photo, ["instagram"])[Channel.INSTAGRAM]
    assert not verdict.cleared
    assert [b.face_number for b in verdict.blockers] == [2]
    assert photo.reviewed_at is None
    second.suggested_person_id = bo.id
    second.state = FaceState.SUGGESTED
    session.commit()
    review.confirm_face(session, runtime, second)
    session.commit()
    verdicts = gate.decide(session, photo, ["instagram", "facebook"])
    assert verdicts[Channel.INSTAGRAM].cleared
    assert not verdicts[Channel.FACEBOOK].cleared
    assert verdicts[Channel.FACEBOOK].blockers[0].code.value == "channel_not_covered"
    assert photo.reviewed_at is not None
    assert _events(session, "face.assigned") == 1
    assert _events(session, "face.confirmed") == 1
    # Review complete: templates are gone, except one kept as a reference for Anna (biometric).
    session.expire_all()
    assert all(f.template is None for f in session.scalars(sa.select(Face)))
    refs = session.scalars(sa.select(ReferenceFace)).all()
    assert [(r.person_id, r.face_id) for r in refs] == [(anna.id, first.id)]


def test_not_identifiable_needs_a_reason_and_then_clears(
    runtime: Runtime, session: Session
) -> None:
    photo = photo_with_faces(runtime, session, 1)
    face = photo.faces[0]
    with pytest.raises(review.ReviewError, match="say why"):
        review.mark_not_identifiable(session, runtime, face, "   ")
    session.rollback()
    review.mark_not_identifiable(session, runtime, face, "seen from behind")
    session.commit()
    assert face.state == "not_identifiable"
    assert gate.decide(session, photo, ["print"])[Channel.PRINT].cleared
    assert _events(session, "face.not_identifiable") == 1


def test_blur_clears_and_unblur_reopens(runtime: Runtime, session: Session) -> None:
    photo = photo_with_faces(runtime, session, 1)
    face = photo.faces[0]
    review.set_blur(session, runtime, face, True)
    session.commit()
    assert gate.decide(session, photo, ["website"])[Channel.WEBSITE].cleared
    assert photo.reviewed_at is not None
    review.set_blur(session, runtime, face, False)
    session.commit()
    assert not gate.decide(session, photo, ["website"])[Channel.WEBSITE].cleared
    assert photo.reviewed_at is None
    assert _events(session, "face.blur_set") == 2


def test_a_stale_version_is_refused(runtime: Runtime, session: Session) -> None:
    photo = photo_with_faces(runtime, session, 1)
    face = photo.faces[0]
    seen = review.face_version(face)
    anna = person_with_consent(runtime, session, "Anna")
    review.assign_face(session, runtime, face, anna, version=seen)
    session.commit()
    bo = person_with_consent(runtime, session, "Bo")
    with pytest.raises(review.StaleFace):
        review.assign_face(session, runtime, face, bo, version=seen)
    session.rollback()
    stored = session.get(Face, face.id)
    assert stored is not None
    assert stored.person_id == anna.id


def test_two_sessions_racing_on_one_face_leave_one_consistent_row(runtime: Runtime) -> None:
    with runtime.sessions() as s:
        photo = photo_with_faces(runtime, s, 1)
        face_id = photo.faces[0].id
        anna = person_with_consent(runtime, s, "Anna").id
    a, b = runtime.sessions(), runtime.sessions()
    try:
        fb = b.get(Face, face_id)
        assert fb is not None
        fb.photo  # noqa: B018  (loaded now, as a page would have shown it)
        b.commit()  # SQLite serialises writers: b only holds what it read, like a web page
        fa = a.get(Face, face_id)
        assert fa is not None
        assert fa.reviewed_at is None and fb.reviewed_at is None
        review.mark_not_identifiable(a, runtime, fa, "far away")
        a.commit()
        # b read the face before a's change and passes no version: the update itself refuses.
        person = b.get(_person(), anna)
        assert person is not None
        with pytest.raises(review.StaleFace):
            review.assign_face(b, runtime, fb, person)
    finally:
        a.close()
        b.close()
    with runtime.sessions() as s:
        face = s.get(Face, face_id)
        assert face is not None
        assert (face.state, face.person_id, face.not_identifiable_reason) == (
            "not_identifiable",
            None,
            "far away",
        )


def _person() -> type[Person]:
    from consentcam.models import Person

    return Person


def test_create_person_for_face(runtime: Runtime, session: Session) -> None:
    photo = photo_with_faces(runtime, session, 1)
    person = review.create_person_for_face(session, runtime, photo.faces[0], "  Cecilia ")
    session.commit()
    assert person.name == "Cecilia"
    assert photo.faces[0].person_id == person.id
    with pytest.raises(review.ReviewError):
        review.create_person_for_face(session, runtime, photo.faces[0], "   ")


def test_state_filters_agree_with_the_gate(runtime: Runtime, session: Session) -> None:
    open_photo = photo_with_faces(runtime, session, 1, "unknown/obama1.jpg")
    cleared = photo_with_faces(runtime, session, 1, "unknown/obama3.jpg")
    blocked = photo_with_faces(runtime, session, 1, "unknown/two_people.jpg")
    with_consent = person_with_consent(runtime, session, "Anna", "instagram")
    without = person_with_consent(runtime, session, "Bo", "print")
    review.assign_face(session, runtime, cleared.faces[0], with_consent)
    review.assign_face(session, runtime, blocked.faces[0], without)
    session.commit()
    ids = {
        state: {p.id for p in review.photo_page(session, state=state).photos}
        for state in review.PHOTO_STATES
    }
    assert ids["needs_review"] == {open_photo.id}
    assert ids["cleared"] == {cleared.id}
    assert ids["blocked"] == {blocked.id}
    verdicts = gate.decide_many(session, [open_photo, cleared, blocked], ["instagram"])
    assert {pid for pid, v in verdicts.items() if v[Channel.INSTAGRAM].cleared} == ids["cleared"]
    # For print, Bo's consent clears his photo and Anna's does not.
    printed = {p.id for p in review.photo_page(session, state="cleared", channel="print").photos}
    assert printed == {blocked.id}
    assert review.count_states(session)["needs_review"] == 1


def test_review_words_a_confirmed_face_and_the_distance_in_swedish(
    owner_client: FlaskClient, app: Flask
) -> None:
    """A confirmed face no longer says "possible, check carefully"; the distance is in Swedish
    number form behind a detail; a blocking reason names the suggested person."""
    import sqlalchemy as sa

    from consentcam.models import Face
    from consentcam.services.gate import decide
    from tests.publishing.conftest import add_photo
    from tests.web.people_helpers import add_person

    rt = app.extensions["runtime"]
    pid = add_person(app, "Anna Berg")
    with rt.sessions() as s:
        photo = add_photo(s, rt, [(100, 100, 220, 220), (400, 100, 520, 220)])
        first, second = photo.faces
        first.state, first.suggested_person_id, first.distance = FaceState.SUGGESTED, pid, 0.41
        second.state, second.person_id = FaceState.CONFIRMED, pid
        second.suggested_person_id, second.distance = pid, 0.55
        s.commit()
        photo_id = photo.id
        verdict = decide(s, photo, ["instagram"])
        reasons = [b.message for d in verdict.values() for b in d.blockers]
        assert any("looks like Anna Berg" in r for r in reasons), reasons
        assert not any("person #" in r for r in reasons), reasons
        s.execute(sa.select(Face.id)).all()
    owner_client.post("/language/sv", data={"next": "/"})
    html = owner_client.get(f"/photos/{photo_id}").get_data(as_text=True)
    assert "0,41" in html and "0.41" not in html
    assert "kontrollera noga" not in html.split("Anna Berg</a>")[-1].split("</p>")[0]
    assert "(bekräftad)" in html


def test_face_boxes_are_named_links(owner_client: FlaskClient, app: Flask) -> None:
    import re

    from tests.publishing.conftest import add_photo

    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = add_photo(s, rt, [(100, 100, 220, 220), (400, 100, 520, 220)])
        s.commit()
        photo_id = photo.id
    owner_client.post("/language/sv", data={"next": "/"})
    html = owner_client.get(f"/photos/{photo_id}").get_data(as_text=True)
    svg = html[html.index('<svg class="face-boxes"') : html.index("</svg>")]
    assert 'aria-hidden="true"' not in svg
    assert re.findall(r'aria-label="(Ansikte \d)"', svg) == ["Ansikte 1", "Ansikte 2"]
