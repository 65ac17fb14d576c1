"""Concurrent writers on PostgreSQL: the event chain stays whole and one of two reviewers wins."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from consentcam.models import Event, Face, User
from consentcam.services import events, photos, review, scanning
from tests.conftest import FACES
from tests.withdrawal.helpers import enrolled_person

from .conftest import PgApp, signature_png

pytestmark = [pytest.mark.postgres]

PER_THREAD = 50


def _run_together(workers: list[Callable[[], None]]) -> list[BaseException]:
    """Start the workers at the same moment; return what they raised."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def wrapped(work: Callable[[], None]) -> None:
        try:
            barrier.wait(10)
            work()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a writer hung (deadlock?)"
    return errors


def test_two_writers_append_one_verifiable_chain(pg_app: PgApp) -> None:
    rt = pg_app.runtime
    with rt.sessions() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(Event))
        assert before is not None

    def writer(name: str) -> Callable[[], None]:
        def work() -> None:
            # One session per thread and one transaction per event, as two web workers would.
            with rt.sessions() as s:
                for i in range(PER_THREAD):
                    events.record(s, "test.tick", f"writer:{name}", {"i": i}, actor=name)
                    s.commit()

        return work

    errors = _run_together([writer("a"), writer("b")])
    assert errors == []
    with rt.sessions() as s:
        seqs = list(s.scalars(sa.select(Event.seq).order_by(Event.seq)))
        assert len(seqs) == before + 2 * PER_THREAD
        assert seqs == list(range(1, len(seqs) + 1))
        checked, problem = events.verify(s)
        assert problem is None and checked == len(seqs)
        by_writer = dict(
            s.execute(
                sa.select(Event.actor, sa.func.count())
                .where(Event.kind == "test.tick")
                .group_by(Event.actor)
            ).all()
        )
        assert by_writer == {"a": PER_THREAD, "b": PER_THREAD}


def _suggested_face(pg_app: PgApp) -> int:
    """A real photo scanned by the real engine, its face suggested as an enrolled person."""
    rt = pg_app.runtime
    with rt.sessions() as s:
        owner = s.get(User, pg_app.users["owner"])
        assert owner is not None
        lena = enrolled_person(s, rt, owner, ("instagram",), evidence=signature_png())
        data = (FACES / "unknown" / "obama1.jpg").read_bytes()
        photo = photos.ingest(s, rt, data, "obama1.jpg", user=owner).photo
        s.commit()
        scanning.scan_photo(s, rt, photo.id)
        (face,) = photo.faces
        assert face.state == "suggested" and face.suggested_person_id == lena.id
        return face.id


def test_two_reviewers_confirm_the_same_face_one_wins(pg_app: PgApp) -> None:
    rt = pg_app.runtime
    face_id = _suggested_face(pg_app)
    with rt.sessions() as s:
        events_before = s.scalar(sa.select(sa.func.count()).select_from(Event))
        assert events_before is not None

    # Both reviewers load the face before either acts, as two open review pages would.
    sessions = [rt.sessions(), rt.sessions()]
    faces: list[Face] = []
    for opened in sessions:
        loaded = opened.get(Face, face_id)
        assert loaded is not None
        faces.append(loaded)
    versions = [review.face_version(f) for f in faces]
    assert versions[0] == versions[1]
    for f in faces:
        f.photo.faces  # noqa: B018 - loaded now, as the page had them
    outcomes: list[str] = []
    lock = threading.Lock()

    def reviewer(i: int) -> Callable[[], None]:
        def work() -> None:
            s = sessions[i]
            user = s.get(User, pg_app.users["owner" if i == 0 else "staff"])
            try:
                review.confirm_face(s, rt, faces[i], version=versions[i], user=user)
                s.commit()
                result = "confirmed"
            except review.StaleFace as exc:
                s.rollback()
                result = f"stale: {exc}"
            with lock:
                outcomes.append(result)

        return work

    try:
        errors = _run_together([reviewer(0), reviewer(1)])
    finally:
        for s in sessions:
            s.close()
    assert errors == []
    assert sorted(o.split(":")[0] for o in outcomes) == ["confirmed", "stale"], outcomes
    (stale,) = [o for o in outcomes if o.startswith("stale")]
    assert "someone else changed face" in stale
    with rt.sessions() as s:
        face = s.get(Face, face_id)
        assert face is not None
        assert face.state == "confirmed"
        confirmed_events = s.scalars(
            sa.select(Event).where(
                Event.kind == "face.confirmed", Event.subject == f"face:{face_id}"
            )
        ).all()
        assert len(confirmed_events) == 1
        events_after = s.scalar(sa.select(sa.func.count()).select_from(Event))
        assert events_after is not None
        assert events_after > events_before
        assert events.verify(s)[1] is None
