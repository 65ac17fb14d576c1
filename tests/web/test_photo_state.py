"""Where each photo stands stays right after every kind of write, in the same unit of work.

Each test makes one kind of change through its service and commits, then checks that every
photo's stored review state, face counts and per-channel verdicts equal what the domain works
out afresh (and the gate's own verdicts): uploads and scans, face decisions, drawn faces and
re-scans, confirmation, consent given, withdrawn, expiring and listed, supplier permissions,
erasure; and that a rolled-back change leaves nothing behind.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from consentcam.domain.types import Channel, FaceState, GateState, ReviewState
from consentcam.models import ConsentRecord, Face, Person, Photo, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import (
    confirmation,
    marking,
    people,
    photo_list,
    photo_state,
    photos,
    privacy,
    review,
    scanning,
    suppliers,
    withdrawal,
)
from tests.conftest import FACES
from tests.web.photo_helpers import person_with_consent, photo_with_faces
from tests.web.photo_state_helpers import assert_in_step, stored

IG, FB, WEB, PRINT = Channel.INSTAGRAM, Channel.FACEBOOK, Channel.WEBSITE, Channel.PRINT
CLEARED, BLOCKED = GateState.CLEARED, GateState.BLOCKED


def _consent(
    rt: Runtime, session: Session, person: Person, channels: list[str], **kw: Any
) -> ConsentRecord:
    record = people.give_consent(
        session,
        rt,
        person,
        channels=channels,
        evidence=b"%PDF-1.4 signed form",
        evidence_mime="application/pdf",
        evidence_kind="scan",
        **kw,
    )
    session.commit()
    return record


def test_an_upload_waits_for_its_scan_and_a_scan_opens_its_review(
    runtime: Runtime, session: Session
) -> None:
    data = (FACES / "unknown/obama1.jpg").read_bytes()
    photo = photos.ingest(session, runtime, data, "obama1.jpg").photo
    session.commit()
    state = assert_in_step(runtime)[photo.id]
    assert (state["review"], state["faces"], state["channels"]) == ("scanning", 0, {})
    scanning.scan_photo(session, runtime, photo.id)
    state = assert_in_step(runtime)[photo.id]
    assert state["review"] == ReviewState.NEEDS_REVIEW  # nobody has confirmed it yet
    assert state["faces"] == state["undecided"] == 1


def test_a_scan_that_fails_files_the_photo_under_failed(runtime: Runtime, session: Session) -> None:
    data = (FACES / "unknown/obama1.jpg").read_bytes()
    photo = photos.ingest(session, runtime, data, "obama1.jpg").photo
    session.commit()
    runtime.storage.path(photo.original_key).write_bytes(b"not an image any more")
    scanning.scan_photo(session, runtime, photo.id)
    assert assert_in_step(runtime)[photo.id]["review"] == ReviewState.FAILED
    assert photo_list.count_states(session)["failed"] == 1


def test_each_face_decision_moves_the_photo(
    runtime: Runtime, session: Session, owner: User
) -> None:
    photo = photo_with_faces(runtime, session, 3)
    anna = person_with_consent(runtime, session, "Anna", "instagram")
    first, second, third = photo.faces
    assert assert_in_step(runtime)[photo.id]["undecided"] == 3
    review.assign_face(session, runtime, first, anna, user=owner)
    session.commit()
    assert assert_in_step(runtime)[photo.id]["undecided"] == 2
    review.mark_not_identifiable(session, runtime, second, "seen from behind", user=owner)
    session.commit()
    state = assert_in_step(runtime)[photo.id]
    assert state["undecided"] == 1 and state["channels"] == {}  # a face still to decide
    review.set_blur(session, runtime, third, True, user=owner)
    session.commit()
    state = assert_in_step(runtime)[photo.id]
    assert state["review"] == ReviewState.REVIEWED
    assert state["channels"] == {IG: CLEARED, FB: BLOCKED, WEB: BLOCKED, PRINT: BLOCKED}
    # Taking the blur back opens the face again.
    review.set_blur(session, runtime, third, False, user=owner)
    session.commit()
    assert assert_in_step(runtime)[photo.id]["review"] == ReviewState.NEEDS_REVIEW


def test_confirming_a_suggestion_and_naming_a_new_person(
    runtime: Runtime, session: Session, owner: User
) -> None:
    photo = photo_with_faces(runtime, session, 2)
    anna = person_with_consent(runtime, session, "Anna", "facebook")
    first, second = photo.faces
    first.suggested_person_id, first.state = anna.id, FaceState.SUGGESTED
    session.commit()
    assert assert_in_step(runtime)[photo.id]["undecided"] == 2  # a suggestion decides nothing
    review.confirm_face(session, runtime, first, user=owner)
    review.create_person_for_face(session, runtime, second, "Bo", user=owner)
    session.commit()
    state = assert_in_step(runtime)[photo.id]
    assert state["undecided"] == 0
    assert set(state["channels"].values()) == {BLOCKED}  # Bo has no consent yet


def test_confirmation_given_and_undone_by_a_drawn_face(
    runtime: Runtime, session: Session, owner: User
) -> None:
    photo = photo_with_faces(runtime, session, 1, confirmed=False)
    review.mark_not_identifiable(session, runtime, photo.faces[0], "far away", user=owner)
    session.commit()
    state = assert_in_step(runtime)[photo.id]
    assert state["review"] == ReviewState.NEEDS_REVIEW and state["channels"] == {}
    confirmation.confirm_photo(session, runtime, photo, user=owner)
    session.commit()
    state = assert_in_step(runtime)[photo.id]
    assert state["review"] == ReviewState.REVIEWED
    assert state["channels"] == dict.fromkeys(Channel, CLEARED)
    marking.add_drawn_face(session, runtime, photo, [300, 300, 400, 400], user=owner)
    session.commit()
    state = assert_in_step(runtime)[photo.id]
    assert (state["review"], state["faces"], state["undecided"]) == ("needs_review", 2, 1)
    assert state["channels"] == {}


def test_a_rescan_that_finds_a_new_face_opens_the_review(
    runtime: Runtime, session: Session, owner: User
) -> None:
    photo = photo_with_faces(runtime, session, 0)
    session.commit()
    assert assert_in_step(runtime)[photo.id]["channels"] == dict.fromkeys(Channel, CLEARED)
    found = SimpleNamespace(
        box=(500, 500, 600, 600), encoding=[0.0] * 128, sharpness=100.0, blurry=False
    )
    added = marking.merge_rescan(session, runtime, photo, SimpleNamespace(faces=[found]))
    session.commit()
    assert len(added) == 1
    state = assert_in_step(runtime)[photo.id]
    assert (state["review"], state["undecided"], state["channels"]) == ("needs_review", 1, {})


def test_consent_given_withdrawn_and_erased_moves_every_photo_of_the_person(
    runtime: Runtime, session: Session, owner: User
) -> None:
    anna = people.add_person(session, "Anna")
    session.commit()
    shown = [
        photo_with_faces(runtime, session, 1, rel=r)
        for r in ("unknown/obama1.jpg", "unknown/obama3.jpg")
    ]
    for photo in shown:
        review.assign_face(session, runtime, photo.faces[0], anna, user=owner)
    session.commit()
    assert all(not s["channels"].get(IG) == CLEARED for s in assert_in_step(runtime).values())
    _consent(runtime, session, anna, ["instagram", "facebook"])
    states = assert_in_step(runtime)
    assert all(states[p.id]["channels"][IG] == CLEARED for p in shown)
    withdrawal.withdraw_consent(session, runtime, anna, ["instagram"], False, owner)
    session.commit()
    states = assert_in_step(runtime)
    assert all(
        states[p.id]["channels"] == {IG: BLOCKED, FB: CLEARED, WEB: BLOCKED, PRINT: BLOCKED}
        for p in shown
    )
    privacy.erase_person(session, runtime, anna, owner)
    session.commit()
    states = assert_in_step(runtime)
    # Erased: the faces are unlinked and wait for a decision again.
    assert all(states[p.id]["review"] == ReviewState.NEEDS_REVIEW for p in shown)
    assert all(states[p.id]["channels"] == {} for p in shown)


def test_a_listed_consent_clears_only_the_photos_it_lists(
    runtime: Runtime, session: Session, owner: User
) -> None:
    anna = people.add_person(session, "Anna")
    session.commit()
    listed = photo_with_faces(runtime, session, 1, rel="unknown/obama1.jpg")
    other = photo_with_faces(runtime, session, 1, rel="unknown/obama3.jpg")
    for photo in (listed, other):
        review.assign_face(session, runtime, photo.faces[0], anna, user=owner)
    session.commit()
    _consent(runtime, session, anna, ["instagram"], scope="listed", photo_ids=[listed.id])
    states = assert_in_step(runtime)
    assert states[listed.id]["channels"][IG] == CLEARED
    assert states[other.id]["channels"][IG] == BLOCKED


def test_a_consent_that_expires_is_due_then_and_is_read_right_before_the_job_runs(
    runtime: Runtime, session: Session, owner: User
) -> None:
    anna = people.add_person(session, "Anna")
    session.commit()
    photo = photo_with_faces(runtime, session, 1)
    review.assign_face(session, runtime, photo.faces[0], anna, user=owner)
    session.commit()
    ends = utcnow() + timedelta(days=30)
    _consent(runtime, session, anna, ["instagram"], expires_at=ends)
    state = assert_in_step(runtime)[photo.id]
    assert state["channels"][IG] == CLEARED and state["due"] == ends
    later = ends + timedelta(minutes=1)
    # The clock passed the time: the stored verdict no longer holds, and readers know it.
    assert photo_list.count_states(session, IG, now=later)["cleared"] == 0
    assert photo_list.count_states(session, IG, now=later)["blocked"] == 1
    assert photo_list.count_states(session, IG)["cleared"] == 1  # still cleared now
    assert [p.id for p in photo_state.due_photos(session, later)] == [photo.id]
    assert (
        photo_state.refresh(session, [p.id for p in photo_state.due_photos(session, later)], later)
        == 1
    )
    session.commit()
    state = assert_in_step(runtime, later)[photo.id]
    assert state["channels"][IG] == BLOCKED and state["due"] is None


def test_the_periodic_job_works_out_the_photos_whose_time_has_come(
    runtime: Runtime, session: Session, owner: User
) -> None:
    anna = people.add_person(session, "Anna")
    session.commit()
    photo = photo_with_faces(runtime, session, 1)
    review.assign_face(session, runtime, photo.faces[0], anna, user=owner)
    session.commit()
    _consent(runtime, session, anna, ["instagram"], expires_at=utcnow() + timedelta(days=1))
    session.execute(sa.update(Photo).values(gate_due_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert photo_state.refresh_due(runtime) == 1
    assert photo_state.refresh_due(runtime) == 0
    assert assert_in_step(runtime)[photo.id]["due"] is not None


def test_supplier_permissions_and_a_photo_s_supplier(
    runtime: Runtime, session: Session, owner: User
) -> None:
    supplier = suppliers.add_supplier(session, "Studio Foto", actor=owner)
    session.commit()
    photo = photo_with_faces(runtime, session, 1)  # its face has no decision
    suppliers.set_photo_supplier(session, photo, supplier.id, owner)
    session.commit()
    assert assert_in_step(runtime)[photo.id]["channels"] == {}
    permission = suppliers.add_permission(
        session,
        runtime,
        supplier,
        channels=["instagram", "print"],
        valid_from=utcnow() - timedelta(days=1),
        actor=owner,
    )
    session.commit()
    state = assert_in_step(runtime)[photo.id]
    # The supplier's permission covers the face still to decide: cleared, and still to review.
    assert state["review"] == ReviewState.NEEDS_REVIEW
    assert state["channels"] == {IG: CLEARED, PRINT: CLEARED}
    suppliers.revoke_permission(session, permission, actor=owner)
    session.commit()
    assert assert_in_step(runtime)[photo.id]["channels"] == {}
    suppliers.set_photo_supplier(session, photo, None, owner)
    session.commit()
    assert_in_step(runtime)


def test_a_change_rolled_back_leaves_no_mark_behind(runtime: Runtime, session: Session) -> None:
    photo = photo_with_faces(runtime, session, 1)
    face = session.get(Face, photo.faces[0].id)
    assert face is not None
    face.blur = True
    session.flush()
    assert session.info.get(photo_state.MARKS)
    session.rollback()
    assert not session.info.get(photo_state.MARKS)
    assert stored(session, photo.id)["undecided"] == 1
    session.rollback()  # ends the read, so the check's own session may begin
    assert_in_step(runtime)


def test_the_worker_works_out_overdue_photos_every_minute(app: Flask) -> None:
    assert "refresh_due_photos" in app.extensions["jobs"].tasks
