"""Where each photo stands stays right on PostgreSQL: after each kind of write through the app,
and when two transactions change what one photo depends on at the same time."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine.interfaces import DBAPICursor

from consentcam.domain.types import Channel, GateState, ReviewState
from consentcam.models import ConsentChannel, ConsentRecord, Face, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import people, photo_list, photo_state, review
from tests.waits import wait_until
from tests.web.photo_helpers import photo_with_faces
from tests.web.photo_state_helpers import assert_in_step, assert_tally_in_step, stored_tally

from .conftest import PgApp
from .test_postgres_concurrency import _suggested_face

pytestmark = [pytest.mark.postgres]


def test_each_write_through_the_app_keeps_the_photo_in_step(pg_app: PgApp) -> None:
    rt, client, headers = pg_app.runtime, pg_app.client, pg_app.headers
    face_id = _suggested_face(pg_app)  # uploaded and scanned: waits for review
    with rt.sessions() as s:
        face = s.get(Face, face_id)
        assert face is not None
        photo_id = face.photo_id
    assert assert_in_step(rt)[photo_id]["review"] == ReviewState.NEEDS_REVIEW
    with rt.sessions() as s:
        face = s.get(Face, face_id)
        assert face is not None
        review.confirm_face(s, rt, face, user=s.get(User, pg_app.users["owner"]))
        s.commit()
    assert assert_in_step(rt)[photo_id]["undecided"] == 0
    confirmed = client.post(f"/api/v1/photos/{photo_id}/confirmation", json={}, headers=headers)
    assert confirmed.status_code == 200, confirmed.get_json()
    state = assert_in_step(rt)[photo_id]
    assert state["channels"][Channel.INSTAGRAM] is GateState.CLEARED
    page = client.get("/photos/?state=cleared").get_data(as_text=True)
    assert f'href="/photos/{photo_id}"' in page
    with rt.sessions() as s:
        face = s.get(Face, face_id)
        assert face is not None
        person_id = face.person_id
    withdrawn = client.post(
        f"/api/v1/people/{person_id}/withdrawals", json={"channels": ["instagram"]}, headers=headers
    )
    assert withdrawn.status_code == 200, withdrawn.get_json()
    assert assert_in_step(rt)[photo_id]["channels"][Channel.INSTAGRAM] is GateState.BLOCKED
    page = client.get("/photos/?state=blocked").get_data(as_text=True)
    assert f'href="/photos/{photo_id}"' in page
    with rt.sessions() as s:
        counts = photo_list.count_states(s, Channel.INSTAGRAM)
    assert (counts["cleared"], counts["blocked"], counts["all"]) == (0, 1, 1)


def _waiting_for_a_lock(rt: Runtime) -> bool:
    with rt.engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar()
        )


def test_two_transactions_on_one_photo_work_it_out_one_after_the_other(pg_app: PgApp) -> None:
    """A reviewer blurs the last open face while a withdrawal ends the consent of the other face's
    person: whichever commits second works the photo out with the first one's change."""
    rt = pg_app.runtime
    with rt.sessions() as s:
        owner = s.get(User, pg_app.users["owner"])
        photo = photo_with_faces(rt, s, 2)
        anna = people.add_person(s, "Anna")
        s.flush()
        people.give_consent(
            s,
            rt,
            anna,
            channels=["instagram"],
            evidence=b"%PDF-1.4 signed form",
            evidence_mime="application/pdf",
            evidence_kind="scan",
        )
        review.assign_face(s, rt, photo.faces[0], anna, user=owner)
        s.commit()
        photo_id, open_face, anna_id = photo.id, photo.faces[1].id, anna.id
    assert assert_in_step(rt)[photo_id]["channels"] == {}  # a face still to decide

    reviewer = rt.sessions()
    try:
        user = reviewer.get(User, pg_app.users["owner"])
        face = reviewer.get(Face, open_face)
        assert face is not None
        review.set_blur(reviewer, rt, face, True, user=user)
        photo_state.settle(reviewer)  # worked out now: the photo is locked until the commit
        errors: list[BaseException] = []

        def withdraw() -> None:
            try:
                with rt.sessions() as s:
                    for channel in s.scalars(
                        sa.select(ConsentChannel)
                        .join(ConsentChannel.consent)
                        .where(ConsentRecord.person_id == anna_id)
                    ):
                        channel.withdrawn_at = utcnow()
                    s.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        other = threading.Thread(target=withdraw)
        other.start()
        wait_until(lambda: _waiting_for_a_lock(rt), timeout=30, message="no writer waits")
        reviewer.commit()
        other.join(60)
        assert not other.is_alive() and errors == []
    finally:
        reviewer.close()
    state = assert_in_step(rt)[photo_id]
    # Both changes count: every face decided, and Anna's consent for Instagram is gone.
    assert state["review"] == ReviewState.REVIEWED
    assert state["channels"] == dict.fromkeys(Channel, GateState.BLOCKED)


def _photo_of_one_face(pg_app: PgApp, rel: str, blurred: bool) -> tuple[int, int]:
    """A confirmed photo with one face: blurred (reviewed, cleared) or not (to review)."""
    rt = pg_app.runtime
    with rt.sessions() as s:
        photo = photo_with_faces(rt, s, 1, rel=rel)
        if blurred:
            user = s.get(User, pg_app.users["owner"])
            review.set_blur(s, rt, photo.faces[0], True, user=user)
            s.commit()
        return photo.id, photo.faces[0].id


def test_two_transactions_on_different_photos_move_the_counters_without_deadlock(
    pg_app: PgApp,
) -> None:
    """One photo leaves "to review" for "reviewed" while another goes the other way, at the same
    moment: each takes the counters' row locks in one order (sorted keys), so the second waits
    for the first and both count. Noted in the order of their moves, the first would lock
    ``review:needs_review`` and the second ``review:reviewed``, and each then wait for the other.
    """
    rt = pg_app.runtime
    _a_photo, a_face = _photo_of_one_face(pg_app, "unknown/obama1.jpg", blurred=False)
    _b_photo, b_face = _photo_of_one_face(pg_app, "unknown/obama3.jpg", blurred=True)
    with rt.sessions() as s:
        before = assert_tally_in_step(s)
    assert (before["review:needs_review"], before["review:reviewed"]) == (1, 1)
    holding, go = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def change(face_id: int, blur: bool, pause: bool) -> None:
        try:
            with rt.sessions() as s:
                # Straight on the row: a service would record an event, and the event log's
                # lock would make the two wait for each other before any counter.
                face = s.get(Face, face_id)
                assert face is not None
                face.blur = blur
                photo_state.settle(s)
                if pause:  # hold the first counter's lock until the other waits for one
                    conn = s.connection()

                    def after(
                        _c: sa.Connection, _cur: DBAPICursor, statement: str, *_a: Any
                    ) -> None:
                        if "photo_tally" in statement and not holding.is_set():
                            holding.set()
                            go.wait(30)

                    sa.event.listen(conn, "after_cursor_execute", after)
                s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    first = threading.Thread(target=change, args=(a_face, True, True))
    first.start()
    wait_until(holding.is_set, timeout=30, message="the first never wrote a counter")
    second = threading.Thread(target=change, args=(b_face, False, False))
    second.start()
    wait_until(lambda: _waiting_for_a_lock(rt), timeout=30, message="the second never waited")
    go.set()
    for thread in (first, second):
        thread.join(60)
    assert not first.is_alive() and not second.is_alive(), "a writer hung"
    assert errors == []
    with rt.sessions() as s:
        after = assert_tally_in_step(s)
    assert (after["review:needs_review"], after["review:reviewed"]) == (1, 1)
    assert after["verdict:instagram:cleared"] == before["verdict:instagram:cleared"] == 1
    assert_in_step(rt)


def test_the_counts_check_counts_again_on_postgresql_after_a_write_around_the_orm(
    pg_app: PgApp,
) -> None:
    from consentcam.models import Photo

    rt = pg_app.runtime
    with rt.sessions() as s:
        photo_with_faces(rt, s, 1)
        s.commit()
    assert photo_state.check_counts(rt) == {}
    with rt.sessions() as s:
        s.execute(sa.update(Photo).values(review_state=ReviewState.SCANNING.value))
        s.commit()
    found = photo_state.check_counts(rt)
    assert found["review:scanning"] == 1 and sum(found.values()) == 0
    with rt.sessions() as s:
        assert stored_tally(s)["review:scanning"] == 1
        assert assert_tally_in_step(s)["review:scanning"] == 1
    assert photo_state.check_counts(rt) == {}
