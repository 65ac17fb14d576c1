"""The photo counters kept on write (services.photo_tally) stay equal to a count of the rows:
after a photo is deleted, when a change is rolled back (whole or to a savepoint), inside the
unit of work that moved them, and after photos inserted without the ORM are counted again; and
the counts the photo list and the start page show for photos in every state."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from consentcam.domain.types import Channel, GateState, ReviewState, ScanState
from consentcam.models import (
    ConsentRecord,
    Face,
    Person,
    Photo,
    PhotoChannelState,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import (
    people,
    photo_list,
    photo_state,
    photo_tally,
    photos,
    review,
    withdrawal,
)
from tests.conftest import FACES
from tests.web.photo_helpers import person_with_consent, photo_with_faces
from tests.web.photo_state_helpers import assert_in_step, assert_tally_in_step, stored_tally


def test_a_photo_deleted_leaves_its_review_state_and_verdicts(
    runtime: Runtime, session: Session, owner: User
) -> None:
    kept = photo_with_faces(runtime, session, 0)  # cleared on every channel
    gone = photo_with_faces(runtime, session, 0, rel="unknown/obama1.jpg")
    assert assert_tally_in_step(session)["verdict:instagram:cleared"] == 2
    session.rollback()
    session.delete(session.get(Photo, gone.id))
    session.commit()
    counters = assert_tally_in_step(session)
    assert counters["review:reviewed"] == 1
    assert counters["verdict:instagram:cleared"] == counters["verdict:print:cleared"] == 1
    assert session.get(Photo, kept.id) is not None


def test_a_rolled_back_change_leaves_the_counters_as_they_were(
    runtime: Runtime, session: Session, owner: User
) -> None:
    photo = photo_with_faces(runtime, session, 1)
    before = stored_tally(session)
    face = session.get(Face, photo.faces[0].id)
    assert face is not None
    review.set_blur(session, runtime, face, True, user=owner)
    photo_state.settle(session)
    # The unit of work that made the change reads it before its commit...
    assert photo_tally.pending(session) == {
        "review:needs_review": -1,
        "review:reviewed": 1,
        **{f"verdict:{c.value}:cleared": 1 for c in Channel},
    }
    assert photo_list.count_states(session)["needs_review"] == 0
    assert photo_list.count_states(session)["cleared"] == 1
    session.rollback()
    # ...and a rollback takes it back with the rows.
    assert photo_tally.pending(session) == {}
    assert stored_tally(session) == before
    assert photo_list.count_states(session)["needs_review"] == 1
    session.rollback()
    assert_in_step(runtime)


def test_a_savepoint_rolled_back_takes_its_counts_with_it(
    runtime: Runtime, session: Session
) -> None:
    data = (FACES / "unknown/obama1.jpg").read_bytes()
    photos.ingest(session, runtime, data, "obama1.jpg")  # counted: waits for its scan
    # Its row was added in a savepoint of its own: written only at the commit, all at once.
    assert photo_tally.pending(session) == {"review:scanning": 1}
    assert stored_tally(session)["review:scanning"] == 0
    with pytest.raises(RuntimeError), session.begin_nested():
        photos.ingest(session, runtime, (FACES / "unknown/obama3.jpg").read_bytes(), "b.jpg")
        session.flush()
        assert photo_tally.pending(session) == {"review:scanning": 2}
        raise RuntimeError("the savepoint rolls back")
    assert photo_tally.pending(session) == {"review:scanning": 1}
    session.commit()
    assert session.scalar(sa.select(sa.func.count(Photo.id))) == 1
    assert assert_tally_in_step(session)["review:scanning"] == 1


def test_verdict_rows_a_session_still_holds_are_read_afresh_before_they_move(
    runtime: Runtime, session: Session, owner: User
) -> None:
    photo = photo_with_faces(runtime, session, 1)
    anna = person_with_consent(runtime, session, "Anna", "instagram")
    review.assign_face(session, runtime, photo.faces[0], anna, user=owner)
    session.commit()
    held = session.scalars(sa.select(PhotoChannelState)).all()  # as this session saw them
    assert {r.channel: r.state for r in held}[Channel.INSTAGRAM] is GateState.CLEARED
    session.commit()
    with runtime.sessions() as other:
        person = other.get(Person, anna.id)
        assert person is not None
        withdrawal.withdraw_consent(
            other,
            runtime,
            person,
            ["instagram"],
            False,
            other.get(User, owner.id),
        )
        other.commit()
    # The photo worked out again in the first session moves from what the rows hold now.
    assert photo_state.refresh(session, [photo.id]) == 1
    session.commit()
    assert {r.channel: r.state for r in held}[Channel.INSTAGRAM] is GateState.BLOCKED
    counters = assert_tally_in_step(session)
    assert (counters["verdict:instagram:cleared"], counters["verdict:instagram:blocked"]) == (0, 1)


def test_photos_inserted_without_the_orm_are_counted_by_a_recount(
    runtime: Runtime, session: Session
) -> None:
    template = photo_with_faces(runtime, session, 0)
    rows = [
        {
            "sha256": f"{n:064x}",
            "original_key": template.original_key,
            "original_name": f"IMG_{n}.jpg",
            "format": "JPEG",
            "size_bytes": 1,
            "width": 1,
            "height": 1,
            "uploaded_at": utcnow(),
        }
        for n in range(3)
    ]
    session.execute(sa.insert(Photo), rows)
    session.commit()
    assert stored_tally(session)["review:scanning"] == 0  # no write of the app saw them
    assert photo_tally.counted(session)["review:scanning"] == 3
    counts = photo_tally.recount(session)
    session.commit()
    assert counts["review:scanning"] == 3 and counts["review:reviewed"] == 1
    assert assert_tally_in_step(session) == counts


def test_the_hourly_check_counts_again_after_a_write_around_the_orm(
    runtime: Runtime, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    photo_with_faces(runtime, session, 1)
    photo_with_faces(runtime, session, 0, "unknown/obama1.jpg")
    session.commit()
    assert photo_state.check_counts(runtime) == {}  # in step: nothing is rewritten
    session.execute(sa.update(Photo).values(review_state=ReviewState.SCANNING.value))
    session.commit()
    assert stored_tally(session)["review:scanning"] == 0
    session.rollback()  # every SQLite transaction here holds the write lock
    found = photo_state.check_counts(runtime)
    assert found["review:scanning"] == 2 and sum(found.values()) == 0
    assert "counted again" in caplog.text
    assert stored_tally(session)["review:scanning"] == 2
    assert assert_tally_in_step(session)["review:scanning"] == 2
    session.rollback()
    assert photo_state.check_counts(runtime) == {}


def test_the_counts_check_is_a_periodic_job_of_the_worker(runtime: Runtime) -> None:
    from consentcam.jobs import start

    jobs = start(runtime)
    assert "check_photo_counts" in jobs.tasks


def _tile_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<a href="/photos/(\d+)" class="photo-tile">', page)]


def _walk(session: Session, state: str) -> tuple[list[int], list[int]]:
    """Every photo of a filter a page of one at a time, Older to the end; then Newer back."""
    listed = photo_list.photo_list(session, state=state, per_page=1)
    older = [p.id for p in listed.photos]
    while listed.older is not None:
        listed = photo_list.photo_list(
            session, state=state, per_page=1, after=listed.older, number=listed.number + 1
        )
        older += [p.id for p in listed.photos]
    newer = [p.id for p in listed.photos]
    while listed.newer is not None:
        listed = photo_list.photo_list(session, state=state, per_page=1, before=listed.newer)
        newer += [p.id for p in listed.photos]
    return older, newer


def test_a_verdict_filter_pages_on_alike_with_and_without_a_photo_overdue(
    runtime: Runtime, session: Session
) -> None:
    for rel in ("obama1.jpg", "obama3.jpg", "two_people.jpg", "kit_with_rose.jpg"):
        photo_with_faces(runtime, session, 0, rel=f"unknown/{rel}")  # cleared everywhere
    newest_first = list(
        session.scalars(sa.select(Photo.id).order_by(Photo.uploaded_at.desc(), Photo.id.desc()))
    )
    session.commit()
    assert _walk(session, "cleared") == (newest_first, newest_first[::-1])
    assert _walk(session, "blocked") == ([], [])
    # Its stored verdict ran out (still cleared now): the filter names the photos instead.
    session.execute(
        sa.update(Photo)
        .where(Photo.id == newest_first[1])
        .values(gate_due_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    assert photo_list.Overdue.load(session, Channel.INSTAGRAM, utcnow()).standings
    assert _walk(session, "cleared") == (newest_first, newest_first[::-1])
    session.rollback()


def _count_on(html: str, pattern: str) -> int:
    found = re.search(r'<span class="num">(\d+)</span>\s*' + pattern, html)
    assert found, pattern
    return int(found.group(1))


def _filter_counts(html: str) -> dict[str, int]:
    pattern = r'class="state-([a-z_]+)(?: active)?"[^>]*>[^<]*<span class="count">(\d+)</span>'
    return {key: int(n) for key, n in re.findall(pattern, html)}


def _photos_in_every_state(runtime: Runtime, session: Session, owner: User) -> dict[str, int]:
    """Waiting for a scan, failed, to review, cleared, blocked, and one whose stored verdict the
    clock has overtaken (stored cleared on Instagram, blocked now)."""
    photos.ingest(session, runtime, (FACES / "unknown/obama1.jpg").read_bytes(), "a.jpg")
    failed = photos.ingest(session, runtime, (FACES / "unknown/obama3.jpg").read_bytes(), "b.jpg")
    failed.photo.scan_state = ScanState.FAILED
    session.commit()
    photo_with_faces(runtime, session, 1, rel="unknown/two_people.jpg")  # a face to decide
    cleared = photo_with_faces(runtime, session, 1, rel="unknown/kit_with_rose.jpg")
    blocked = photo_with_faces(runtime, session, 1, rel="unknown/obama_and_biden.jpg")
    overtaken = photo_with_faces(runtime, session, 1, rel="unknown/johnsnow_test1.jpg")
    anna = person_with_consent(runtime, session, "Anna", "instagram")
    review.assign_face(session, runtime, cleared.faces[0], anna, user=owner)
    bo = people.add_person(session, "Bo")
    review.assign_face(session, runtime, blocked.faces[0], bo, user=owner)
    cy = person_with_consent(runtime, session, "Cy", "instagram")
    review.assign_face(session, runtime, overtaken.faces[0], cy, user=owner)
    session.commit()
    # Cy's consent ended a moment ago and the worker has not run yet (no write saw it).
    past = utcnow() - timedelta(minutes=1)
    session.execute(
        sa.update(ConsentRecord)
        .where(ConsentRecord.person_id == cy.id)
        .values(given_at=past - timedelta(days=1), expires_at=past)
    )
    session.execute(sa.update(Photo).where(Photo.id == overtaken.id).values(gate_due_at=past))
    session.commit()
    return {"cleared": cleared.id, "blocked": blocked.id, "overtaken": overtaken.id}


def test_the_photo_list_and_start_page_show_the_counts_of_photos_in_every_state(
    runtime: Runtime, session: Session, owner_client: FlaskClient, users: dict[str, int]
) -> None:
    owner = session.get(User, users["owner"])
    assert owner is not None
    ids = _photos_in_every_state(runtime, session, owner)
    counters = assert_tally_in_step(session)
    assert counters["verdict:instagram:cleared"] == 2  # as stored: one no longer holds
    instagram = _filter_counts(owner_client.get("/photos/").get_data(as_text=True))
    assert instagram == {
        "needs_review": 1,
        "cleared": 1,
        "blocked": 2,
        "scanning": 1,
        "failed": 1,
    }
    facebook = _filter_counts(
        owner_client.get("/photos/?state=blocked&channel=facebook").get_data(as_text=True)
    )
    assert facebook == {"needs_review": 1, "cleared": 0, "blocked": 3, "scanning": 1, "failed": 1}
    assert photo_list.count_states(session, Channel.INSTAGRAM)["all"] == 6
    # The tiles of the verdict filters, with the overtaken photo where it stands now.
    blocked = owner_client.get("/photos/?state=blocked").get_data(as_text=True)
    assert _tile_ids(blocked) == [ids["overtaken"], ids["blocked"]]
    assert blocked.count('<span class="badge bad">Blocked</span>') == 2
    cleared = owner_client.get("/photos/?state=cleared").get_data(as_text=True)
    assert _tile_ids(cleared) == [ids["cleared"]]
    start = owner_client.get("/").get_data(as_text=True)
    assert _count_on(start, "photos? to review") == 1
    assert _count_on(start, "photos? waiting for a scan") == 1
    assert _count_on(start, "photos? could not be scanned") == 1
    assert photo_list.review_counts(session) == {
        ReviewState.SCANNING: 1,
        ReviewState.FAILED: 1,
        ReviewState.NEEDS_REVIEW: 1,
        ReviewState.REVIEWED: 3,
    }
