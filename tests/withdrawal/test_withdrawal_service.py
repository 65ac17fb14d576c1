"""Tests of withdraw_consent and removal tasks against a real database (no face engine)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, TypedDict

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import FaceState
from consentcam.models import (
    ChannelConnection,
    ConsentChannel,
    ConsentRecord,
    Event,
    Face,
    Person,
    Publication,
    QueueItem,
    ReferenceFace,
    RemovalTask,
    User,
)
from consentcam.publishers.base import DeleteResult, PublisherError
from consentcam.runtime import Runtime
from consentcam.services import events, removals
from consentcam.services.withdrawal import WithdrawalError, withdraw_consent

from .helpers import (
    FakePublisher,
    at,
    consenting_person,
    photo_with,
    publish,
    queue,
    reference,
    stored,
)

T = at("2026-11-25T10:00:00+00:00")


class Scene(TypedDict):
    """The rows the ``scene`` fixture makes."""

    lena: Person
    omar: Person
    both: QueueItem
    fb_only: QueueItem
    omar_item: QueueItem
    ig: Publication
    fb: Publication
    omar_pub: Publication


@pytest.fixture
def owner(session: so.Session) -> User:
    user = User(email="owner@example.com", name="Ann-Christin", password_hash="x", role="owner")
    session.add(user)
    session.commit()
    return user


def event_kinds(session: so.Session) -> list[str]:
    return list(session.scalars(sa.select(Event.kind).order_by(Event.seq)))


def channel_state(session: so.Session, person_id: int) -> dict[str, datetime | None]:
    rows = session.execute(
        sa.select(ConsentChannel.channel, ConsentChannel.withdrawn_at)
        .join(ConsentRecord)
        .where(ConsentRecord.person_id == person_id)
    ).all()
    return {r.channel: r.withdrawn_at for r in rows}


@pytest.fixture
def scene(session: so.Session, runtime: Runtime) -> Scene:
    """Lena on two photos: one queued for both channels, one queued for Facebook only, and
    posted on Instagram and Facebook; Omar on a post of his own."""
    lena = consenting_person(session, runtime, "Lena Berg")
    omar = consenting_person(session, runtime, "Omar Said")
    p1 = photo_with(session, lena)
    p2 = photo_with(session, lena)
    p3 = photo_with(session, omar)
    both = queue(session, p1, "instagram facebook")
    fb_only = queue(session, p2, "facebook")
    omar_item = queue(session, p3, "instagram")
    ig = publish(session, p1, "instagram", person=lena)
    fb = publish(session, p1, "facebook", person=lena)
    omar_pub = publish(session, p3, "instagram", person=omar)
    session.commit()
    return {
        "lena": lena,
        "omar": omar,
        "both": both,
        "fb_only": fb_only,
        "omar_item": omar_item,
        "ig": ig,
        "fb": fb,
        "omar_pub": omar_pub,
    }


def test_withdrawing_one_channel_ends_it_blocks_the_queue_and_opens_one_task(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    fake = FakePublisher(deletable=frozenset({"facebook"}))
    result = withdraw_consent(
        session,
        runtime,
        scene["lena"],
        ["instagram"],
        False,
        owner,
        at=T,
        publisher_lookup=fake.lookup,
        enqueue=False,
    )
    session.expire_all()
    state = channel_state(session, scene["lena"].id)
    assert state["instagram"] == T and state["facebook"] is None
    assert channel_state(session, scene["omar"].id)["instagram"] is None

    both = stored(session, QueueItem, scene["both"].id)
    assert both.status == "blocked" and both.blockers is not None
    blockers = json.loads(both.blockers)
    assert blockers[-1]["code"] == "consent_withdrawn"
    assert blockers[-1]["person_id"] == scene["lena"].id
    # The same shape the gate gives: which face, which channel, who and when, so pages word it.
    face = session.scalars(sa.select(Face).where(Face.photo_id == both.photo_id)).one()
    assert [(b["face"], b["face_id"], b["channel"]) for b in blockers] == [
        (face.number, face.id, "instagram")
    ]
    assert blockers[-1]["params"] == {
        "person": "Lena Berg",
        "date": "2026-11-25",
        "at": T.isoformat(),
    }
    assert blockers[-1]["message"] == (
        "Face 1 (Lena Berg): consent for Instagram was withdrawn on 2026-11-25."
    )
    # A Facebook-only item does not need the Instagram consent.
    assert stored(session, QueueItem, scene["fb_only"].id).status == "ready"
    assert stored(session, QueueItem, scene["omar_item"].id).status == "ready"

    tasks = session.scalars(sa.select(RemovalTask)).all()
    assert [(t.publication_id, t.method, t.status) for t in tasks] == [
        (scene["ig"].id, "manual", "open")
    ]
    assert tasks[0].due_at == T + timedelta(days=7)
    assert tasks[0].person_id == scene["lena"].id
    assert result.blocked_queue_item_ids == (scene["both"].id,)
    assert [t.method for t in result.tasks] == ["manual"]
    kinds = event_kinds(session)
    assert kinds[-3:] == ["consent.withdrawn", "queue.blocked", "removal.opened"]
    assert events.verify(session)[1] is None


def test_withdrawing_every_channel_takes_down_every_post_by_the_method_each_allows(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    fake = FakePublisher(deletable=frozenset({"facebook"}))
    result = withdraw_consent(
        session,
        runtime,
        scene["lena"],
        "all",
        False,
        owner,
        at=T,
        publisher_lookup=fake.lookup,
        enqueue=False,
    )
    state = channel_state(session, scene["lena"].id)
    assert set(state.values()) == {T}
    methods = {t.channel: t.method for t in result.tasks}
    assert methods == {"instagram": "manual", "facebook": "api"}
    assert stored(session, QueueItem, scene["fb_only"].id).status == "blocked"
    # Omar's post is not Lena's business.
    assert (
        session.scalar(
            sa.select(RemovalTask).where(RemovalTask.publication_id == scene["omar_pub"].id)
        )
        is None
    )


def test_withdrawing_twice_changes_nothing_and_opens_nothing_new(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    fake = FakePublisher()
    first = withdraw_consent(
        session,
        runtime,
        scene["lena"],
        "all",
        True,
        owner,
        at=T,
        publisher_lookup=fake.lookup,
        enqueue=False,
    )
    assert first.changed
    tasks_before = session.scalar(sa.select(sa.func.count()).select_from(RemovalTask))
    events_before = event_kinds(session)
    second = withdraw_consent(
        session,
        runtime,
        scene["lena"],
        "all",
        True,
        owner,
        at=T + timedelta(hours=1),
        publisher_lookup=fake.lookup,
        enqueue=False,
    )
    assert not second.changed
    assert second.tasks == () and second.blocked_queue_item_ids == () and second.withdrawn == ()
    assert session.scalar(sa.select(sa.func.count()).select_from(RemovalTask)) == tasks_before == 2
    assert event_kinds(session) == events_before
    # The withdrawal moment stays the first one.
    assert set(channel_state(session, scene["lena"].id).values()) == {T}


def test_a_failure_midway_leaves_nothing_half_applied(
    session: so.Session,
    runtime: Runtime,
    owner: User,
    scene: Scene,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = events.record
    before = event_kinds(session)
    lena_id, item_id, owner_id = scene["lena"].id, scene["both"].id, owner.id

    def flaky(s: so.Session, kind: str, *args: Any, **kwargs: Any) -> Event:
        if kind == "removal.opened":
            raise RuntimeError("disk full")
        return real(s, kind, *args, **kwargs)

    monkeypatch.setattr(events, "record", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        withdraw_consent(
            session,
            runtime,
            scene["lena"],
            "all",
            False,
            owner,
            at=T,
            publisher_lookup=FakePublisher().lookup,
            enqueue=False,
        )
    monkeypatch.setattr(events, "record", real)
    # A fresh session sees what was committed: nothing. (Close ours first: on SQLite every
    # transaction takes the write lock.)
    session.close()
    with runtime.sessions() as fresh:
        assert set(channel_state(fresh, lena_id).values()) == {None}
        assert stored(fresh, QueueItem, item_id).status == "ready"
        assert fresh.scalar(sa.select(sa.func.count()).select_from(RemovalTask)) == 0
        assert event_kinds(fresh) == before
    # And it can be done properly afterwards.
    owner = stored(session, User, owner_id)
    result = withdraw_consent(
        session,
        runtime,
        stored(session, Person, lena_id),
        "all",
        False,
        owner,
        at=T,
        publisher_lookup=FakePublisher().lookup,
        enqueue=False,
    )
    assert len(result.tasks) == 2


def test_biometric_withdrawal_deletes_references_their_files_and_face_templates(
    session: so.Session, runtime: Runtime, owner: User
) -> None:
    lena = consenting_person(session, runtime, "Lena Berg", biometric=True)
    omar = consenting_person(session, runtime, "Omar Said", biometric=True)
    refs = [reference(session, runtime, lena, b"one"), reference(session, runtime, lena, b"two")]
    omars = reference(session, runtime, omar, b"three")
    photo = photo_with(session, lena, template=b"lena-template")
    other = photo_with(session, omar, template=b"omar-template")
    # A face only suggested as Lena carries a template made from her references.
    suggested = photo_with(session, None, template=b"suggested")
    suggested.faces[0].state = FaceState.SUGGESTED
    suggested.faces[0].suggested_person_id = lena.id
    session.commit()
    keys = [r.source_key for r in refs]
    assert all(runtime.storage.exists(k) for k in keys)

    result = withdraw_consent(session, runtime, lena, [], True, owner, at=T, enqueue=False)
    assert result.references_deleted == 2 and result.face_templates_deleted == 2
    assert session.scalars(sa.select(ReferenceFace.person_id)).all() == [omar.id]
    # The files go only once the rows that point to them are committed away.
    assert all(runtime.storage.exists(k) for k in keys)
    session.commit()
    assert not any(runtime.storage.exists(k) for k in keys)
    assert runtime.storage.exists(omars.source_key)
    assert stored(session, Face, photo.faces[0].id).template is None
    assert stored(session, Face, suggested.faces[0].id).template is None
    assert stored(session, Face, other.faces[0].id).template == b"omar-template"
    record = session.scalar(sa.select(ConsentRecord).where(ConsentRecord.person_id == lena.id))
    assert record is not None and record.biometric_withdrawn_at == T
    # Biometrics alone: channel consent still stands.
    assert set(channel_state(session, lena.id).values()) == {None}
    assert "templates.deleted" in event_kinds(session)
    again = withdraw_consent(session, runtime, lena, [], True, owner, enqueue=False)
    assert not again.changed


def test_files_and_api_deletions_wait_for_the_commit(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    """A withdrawal rolled back deletes no file and queues no deletion; committed, it does both."""
    from consentcam.uow import pending

    lena = consenting_person(session, runtime, "Lena Berg", biometric=True)
    key = reference(session, runtime, lena, b"one").source_key
    session.commit()
    fake = FakePublisher(deletable=frozenset({"facebook"}))
    result = withdraw_consent(
        session, runtime, scene["lena"], "all", False, owner, at=T, publisher_lookup=fake.lookup
    )
    assert pending(session) == [("delete_publication", (t.id,)) for t in result.api_tasks] != []
    withdraw_consent(session, runtime, lena, [], True, owner, at=T)
    session.rollback()
    session.commit()
    assert runtime.storage.exists(key)
    assert session.scalar(sa.select(sa.func.count()).select_from(RemovalTask)) == 0
    withdraw_consent(session, runtime, stored(session, Person, lena.id), [], True, owner, at=T)
    assert runtime.storage.exists(key)
    session.commit()
    assert not runtime.storage.exists(key)


def test_nothing_to_withdraw_is_refused(session: so.Session, runtime: Runtime, owner: User) -> None:
    lena = consenting_person(session, runtime)
    with pytest.raises(WithdrawalError):
        withdraw_consent(session, runtime, lena, [], False, owner)
    with pytest.raises(WithdrawalError, match="unknown channel"):
        withdraw_consent(session, runtime, lena, ["myspace"], False, owner)


def test_who_a_post_shows_comes_from_the_record_and_from_the_photo(
    session: so.Session, runtime: Runtime, owner: User
) -> None:
    lena = consenting_person(session, runtime, "Lena Berg")
    omar = consenting_person(session, runtime, "Omar Said")
    tagged_later = photo_with(session, lena)
    # Posted before the face was recorded on the post: the photo says Lena is on it.
    by_photo = publish(session, tagged_later, "instagram", person=lena, record_face=False)
    # Recorded as Lena when published, though the face has since been reassigned to Omar.
    reassigned = photo_with(session, lena)
    by_record = publish(session, reassigned, "instagram", person=lena)
    reassigned.faces[0].person_id = omar.id
    gone = publish(session, photo_with(session, lena), "instagram", person=lena, live=False)
    session.commit()
    result = withdraw_consent(
        session,
        runtime,
        lena,
        ["instagram"],
        False,
        owner,
        at=T,
        enqueue=False,
        publisher_lookup=FakePublisher().lookup,
    )
    assert sorted(t.publication_id for t in result.tasks) == sorted([by_photo.id, by_record.id])
    assert gone.id not in {t.publication_id for t in result.tasks}


def test_the_due_date_follows_the_setting(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    runtime.settings["REMOVAL_DUE_DAYS"] = 21
    result = withdraw_consent(
        session,
        runtime,
        scene["lena"],
        ["facebook"],
        False,
        owner,
        at=T,
        enqueue=False,
        publisher_lookup=FakePublisher().lookup,
    )
    assert [t.due_at for t in result.tasks] == [T + timedelta(days=21)]
    runtime.settings["REMOVAL_DUE_DAYS"] = 45
    with pytest.raises(ValueError, match="one month"):
        withdraw_consent(
            session, runtime, scene["lena"], ["instagram"], False, owner, at=T, enqueue=False
        )
    # The refused attempt changed nothing.
    assert channel_state(session, scene["lena"].id)["instagram"] is None


def test_the_method_follows_the_saved_connections(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    """The real publisher lookup: Facebook through Meta may delete, Instagram without the
    permission may not, and a channel posted by hand never can."""
    token = runtime.vault.encrypt(b"token")
    session.add_all(
        [
            ChannelConnection(
                channel="facebook", kind="meta", account_id="1", access_token_enc=token
            ),
            ChannelConnection(
                channel="instagram",
                kind="meta",
                account_id="2",
                access_token_enc=token,
                can_delete=False,
            ),
        ]
    )
    session.commit()
    result = withdraw_consent(
        session, runtime, scene["lena"], "all", False, owner, at=T, enqueue=False
    )
    assert {t.channel: t.method for t in result.tasks} == {"facebook": "api", "instagram": "manual"}


def test_a_manually_posted_photo_always_needs_a_manual_removal(
    session: so.Session, runtime: Runtime, owner: User
) -> None:
    lena = consenting_person(session, runtime)
    pub = publish(
        session,
        photo_with(session, lena),
        "facebook",
        person=lena,
        publisher="manual",
        external_id=None,
    )
    session.commit()
    result = withdraw_consent(
        session,
        runtime,
        lena,
        "all",
        False,
        owner,
        at=T,
        enqueue=False,
        publisher_lookup=FakePublisher().lookup,
    )
    assert [(t.publication_id, t.method) for t in result.tasks] == [(pub.id, "manual")]


# -- removal tasks ---------------------------------------------------------------------------


def api_task(session: so.Session, runtime: Runtime, owner: User, scene: Scene) -> RemovalTask:
    result = withdraw_consent(
        session,
        runtime,
        scene["lena"],
        ["facebook"],
        False,
        owner,
        at=T,
        enqueue=False,
        publisher_lookup=FakePublisher().lookup,
    )
    (opened,) = result.tasks
    assert opened.method == "api"
    return stored(session, RemovalTask, opened.id)


def test_an_api_deletion_takes_the_post_down_and_closes_the_task(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    task = api_task(session, runtime, owner, scene)
    fake = FakePublisher()
    assert (
        removals.delete_publication(session, runtime, task.id, publisher_lookup=fake.lookup) is None
    )
    assert fake.deleted == [("facebook", scene["fb"].external_id)]
    session.expire_all()
    task = stored(session, RemovalTask, task.id)
    assert task.status == "done" and task.closed_by_name == removals.AUTOMATIC
    assert task.closed_at is not None and task.attempts == 1
    pub = stored(session, Publication, scene["fb"].id)
    assert pub.live is False and pub.removed_at == task.closed_at
    assert event_kinds(session)[-2:] == ["publication.removed", "removal.closed"]
    # Running the job again does nothing more.
    assert (
        removals.delete_publication(session, runtime, task.id, publisher_lookup=fake.lookup) is None
    )
    assert len(fake.deleted) == 1


def test_temporary_failures_are_retried_with_growing_delays_then_handed_over(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    task = api_task(session, runtime, owner, scene)
    fake = FakePublisher(
        fail=[
            PublisherError(f"Meta is busy ({i})", retryable=True)
            for i in range(removals.MAX_ATTEMPTS)
        ]
    )
    delays = []
    for _ in range(removals.MAX_ATTEMPTS - 1):
        delays.append(
            removals.delete_publication(session, runtime, task.id, publisher_lookup=fake.lookup)
        )
        assert stored(session, RemovalTask, task.id).method == "api"
    assert delays == [60, 120, 240, 480, 960]
    assert stored(session, RemovalTask, task.id).last_error == "Meta is busy (4)"
    assert (
        removals.delete_publication(session, runtime, task.id, publisher_lookup=fake.lookup) is None
    )
    task = stored(session, RemovalTask, task.id)
    assert (task.method, task.status, task.attempts) == ("manual", "open", removals.MAX_ATTEMPTS)
    assert task.last_error == "Meta is busy (5)"
    assert stored(session, Publication, scene["fb"].id).live is True


def test_a_refusal_becomes_a_manual_task_with_the_error_shown(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    task = api_task(session, runtime, owner, scene)
    fake = FakePublisher(
        fail=[PublisherError("Meta refused the request: no permission", retryable=False)]
    )
    assert (
        removals.delete_publication(session, runtime, task.id, publisher_lookup=fake.lookup) is None
    )
    task = stored(session, RemovalTask, task.id)
    assert task.method == "manual" and task.status == "open"
    assert task.last_error is not None and "no permission" in task.last_error
    assert "removal.manual" in event_kinds(session)

    task2 = api_task_for(session, runtime, owner, scene, "instagram")
    unconfirmed = FakePublisher(answer=DeleteResult(deleted=False, message="not confirmed"))
    removals.delete_publication(session, runtime, task2.id, publisher_lookup=unconfirmed.lookup)
    assert stored(session, RemovalTask, task2.id).method == "manual"
    assert stored(session, RemovalTask, task2.id).last_error == "not confirmed"


def api_task_for(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene, channel: str
) -> RemovalTask:
    result = withdraw_consent(
        session,
        runtime,
        scene["lena"],
        [channel],
        False,
        owner,
        at=T,
        enqueue=False,
        publisher_lookup=FakePublisher().lookup,
    )
    return stored(session, RemovalTask, result.tasks[0].id)


def test_closing_a_manual_task_records_who_and_when_and_ends_the_post(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    result = withdraw_consent(
        session,
        runtime,
        scene["lena"],
        ["instagram"],
        False,
        owner,
        at=T,
        enqueue=False,
        publisher_lookup=FakePublisher(deletable=frozenset()).lookup,
    )
    task = stored(session, RemovalTask, result.tasks[0].id)
    removals.close_task(
        session, task, owner, "  archived it on the phone ", at=T + timedelta(days=1)
    )
    session.expire_all()
    task = stored(session, RemovalTask, task.id)
    assert (task.status, task.closed_by_id, task.closed_by_name) == (
        "done",
        owner.id,
        "Ann-Christin",
    )
    assert task.closed_at == T + timedelta(days=1) and task.note == "archived it on the phone"
    assert stored(session, Publication, scene["ig"].id).live is False
    with pytest.raises(removals.RemovalError, match="already closed"):
        removals.close_task(session, task, owner)


def test_overdue_tasks_are_counted_and_listed_first(
    session: so.Session, runtime: Runtime, owner: User, scene: Scene
) -> None:
    withdraw_consent(
        session,
        runtime,
        scene["lena"],
        ["instagram"],
        False,
        owner,
        at=T,
        enqueue=False,
        publisher_lookup=FakePublisher(deletable=frozenset()).lookup,
    )
    withdraw_consent(
        session,
        runtime,
        scene["omar"],
        ["instagram"],
        False,
        owner,
        at=T + timedelta(days=5),
        enqueue=False,
        publisher_lookup=FakePublisher(deletable=frozenset()).lookup,
    )
    now = T + timedelta(days=8)
    counts = removals.counts(session, now)
    assert (counts.open, counts.overdue, counts.done) == (2, 1, 0)
    assert removals.overdue_count(session, now) == 1
    rows = session.execute(removals.task_query("open", now)).all()
    assert [r[2] for r in rows] == ["Lena Berg", "Omar Said"]
    assert [r[2] for r in session.execute(removals.task_query("overdue", now)).all()] == [
        "Lena Berg"
    ]
    with pytest.raises(removals.RemovalError):
        removals.task_query("late")
