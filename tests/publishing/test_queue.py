"""The queue and publishing use cases: gate at queue time and at publish time, jobs, retries, links."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask
from PIL import Image

from consentcam.models import (
    ConsentChannel,
    ConsentRecord,
    Event,
    Person,
    Photo,
    Publication,
    PublicLink,
    QueueItem,
    utcnow,
)
from consentcam.publishers.manual import ManualPublisher
from consentcam.publishers.meta import MetaPublisher
from consentcam.publishers.registry import get_publisher
from consentcam.runtime import Runtime
from consentcam.services import publishing
from tests.fakegraph.server import FakeGraph
from tests.publishing.conftest import add_consenting_person, add_photo, confirm, connect_meta

BOXES = [(100, 100, 220, 220), (500, 150, 620, 270)]


def kinds(session: so.Session) -> list[str]:
    return list(session.scalars(sa.select(Event.kind).order_by(Event.seq)))


def cleared_photo(
    session: so.Session, rt: Runtime, channels: tuple[str, ...] = ("instagram", "facebook")
) -> tuple[Photo, Person, ConsentRecord]:
    photo = add_photo(session, rt, BOXES)
    person, consent = add_consenting_person(session, rt, "Maja", list(channels))
    confirm(photo.faces[0], person.id)
    photo.faces[1].blur = True
    session.flush()
    return photo, person, consent


def test_registry_manual_by_default_and_meta_when_connected(
    app_session: so.Session, app_rt: Runtime, graph: FakeGraph
) -> None:
    assert isinstance(get_publisher(app_session, app_rt, "instagram"), ManualPublisher)
    connect_meta(app_session, app_rt, "instagram", graph, can_delete=False)
    connect_meta(app_session, app_rt, "facebook", graph)
    ig = get_publisher(app_session, app_rt, "instagram")
    assert isinstance(ig, MetaPublisher) and not ig.can_delete("instagram")
    assert get_publisher(app_session, app_rt, "facebook").can_delete("facebook")
    assert (
        app_session.scalar(sa.select(sa.func.count()).select_from(sa.text("channel_connection")))
        == 2
    )
    # The token is stored encrypted, never in clear.
    raw = (
        app_session.execute(sa.text("select access_token_enc from channel_connection"))
        .scalars()
        .all()
    )
    assert all(b"good-token" not in bytes(r) for r in raw)


def test_blocked_item_unblocks_when_consent_arrives(
    app_session: so.Session, app_rt: Runtime
) -> None:
    photo = add_photo(app_session, app_rt, BOXES[:1])
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram"], caption="Hej")
    assert item.status == "blocked"
    (blocker,) = publishing.blockers_of(item)
    assert (
        blocker["code"] == "face_unreviewed"
        and blocker["face"] == 1
        and blocker["channel"] == "instagram"
    )
    person, _ = add_consenting_person(app_session, app_rt, "Maja", ["facebook"])
    confirm(photo.faces[0], person.id)
    assert publishing.recheck_queue(app_session, app_rt, [photo.id]) == [item]
    assert item.status == "blocked"
    assert publishing.blockers_of(item)[0]["code"] == "channel_not_covered"
    add_consenting_person(app_session, app_rt, "Maja again", ["instagram"])  # someone else: no help
    publishing.recheck_queue(app_session, app_rt)
    assert item.status == "blocked"
    from consentcam.services import people
    from tests.publishing.conftest import SIGNATURE

    people.give_consent(
        app_session,
        app_rt,
        person,
        channels=["instagram"],
        evidence=SIGNATURE + b" signed again",  # a new signature, not the first sent twice
        evidence_mime="image/png",
        evidence_kind="signature",
        given_at=utcnow() - timedelta(minutes=1),
    )
    changed = publishing.recheck_queue(app_session, app_rt)
    assert changed == [item] and item.status == "ready" and item.blockers is None
    assert publishing.recheck_queue(app_session, app_rt) == []  # nothing changes twice
    assert "queue.blocked" in kinds(app_session) and "queue.unblocked" in kinds(app_session)


def test_scheduled_item_waits_for_its_time(app_session: so.Session, app_rt: Runtime) -> None:
    photo, _, _ = cleared_photo(app_session, app_rt)
    later = utcnow() + timedelta(hours=2)
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram"], scheduled_for=later)
    assert item.status == "scheduled"
    assert publishing.due_items(app_session, utcnow()) == []
    assert publishing.due_items(app_session, later + timedelta(seconds=1)) == [item.id]
    assert item.status == "ready"


def test_queue_refuses_bad_input(app_session: so.Session, app_rt: Runtime) -> None:
    photo = add_photo(app_session, app_rt, [])
    kwargs: dict[str, Any]
    for kwargs in (
        {"channels": []},
        {"channels": ["myspace"]},
        {"channels": ["instagram"], "fit": "stretch"},
        {"channels": ["instagram"], "caption": "x" * 2201},
    ):
        channels = kwargs.pop("channels")
        with pytest.raises(publishing.QueueError):
            publishing.queue_photo(app_session, app_rt, photo.id, channels, **kwargs)
    with pytest.raises(publishing.QueueError):
        publishing.queue_photo(app_session, app_rt, 999, ["instagram"])


def _publish(app: Flask, item_id: int) -> None:
    app.extensions["jobs"].enqueue("publish_queue_item", item_id)


def test_publish_to_facebook_and_instagram_through_the_job(
    live_app: Flask, app_session: so.Session, app_rt: Runtime, graph: FakeGraph
) -> None:
    photo, person, consent = cleared_photo(app_session, app_rt)
    connect_meta(app_session, app_rt, "instagram", graph)
    connect_meta(app_session, app_rt, "facebook", graph)
    item = publishing.queue_photo(
        app_session, app_rt, photo.id, ["instagram", "facebook"], caption="Välkommen!"
    )
    app_session.commit()
    assert item.status == "ready"
    _publish(live_app, item.id)
    app_session.expire_all()
    assert item.status == "published"
    pubs = app_session.scalars(sa.select(Publication).order_by(Publication.channel)).all()
    assert [p.channel for p in pubs] == ["facebook", "instagram"]
    for pub in pubs:
        assert pub.publisher == "meta" and pub.live and pub.external_id and pub.url
        assert (
            pub.caption == "Välkommen!"
            and pub.cleared_copy_key
            and pub.cleared_copy_key.startswith("cleared/")
        )
        how = {f.face_id: (f.how, f.person_id, f.consent_id) for f in pub.faces}
        assert how == {
            photo.faces[0].id: ("consent", person.id, consent.id),
            photo.faces[1].id: ("blur", None, None),
        }
    # Meta fetched the cleared copy through the public link, twice, and it was a clean JPEG.
    assert len(graph.fetches) == 2
    for fetched in graph.fetches:
        assert fetched.status == 200 and fetched.content_type == "image/jpeg"
        assert fetched.headers["Cache-Control"] == "no-store"
        assert "noindex" in fetched.headers["X-Robots-Tag"]
        assert b"Exif" not in fetched.body
        assert Image.open(io.BytesIO(fetched.body)).getexif() == {}
    assert kinds(app_session).count("publication.created") == 2
    # Only hashes of the tokens are stored.
    tokens = [f.url.rsplit("/", 1)[-1] for f in graph.fetches]
    stored = app_session.scalars(sa.select(PublicLink.token_hash)).all()
    assert not set(tokens) & set(stored) and len(stored) == 2


def test_public_link_expires_and_unknown_is_404(
    live_app: Flask, app_session: so.Session, app_rt: Runtime
) -> None:
    photo, _, _ = cleared_photo(app_session, app_rt)
    from consentcam.services.cleared import make_cleared_copy

    copy = make_cleared_copy(app_rt, photo)
    url = publishing.create_public_link(app_session, app_rt, copy.key)
    app_session.commit()
    with urllib.request.urlopen(url) as resp:  # noqa: S310
        assert resp.status == 200 and resp.read()[:2] == b"\xff\xd8"
    link = app_session.scalars(sa.select(PublicLink)).one()
    link.expires_at = utcnow() - timedelta(seconds=1)
    app_session.commit()
    for target in (url, url[:-3] + "abc", live_app.config["PUBLIC_URL"] + "/p/x"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(target)  # noqa: S310
        assert exc.value.code == 404
        exc.value.close()


def test_rate_limit_is_retried_then_published(
    live_app: Flask, app_session: so.Session, app_rt: Runtime, graph: FakeGraph
) -> None:
    photo, _, _ = cleared_photo(app_session, app_rt)
    connect_meta(app_session, app_rt, "facebook", graph)
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["facebook"])
    app_session.commit()
    graph.fail_next("rate_limit")
    _publish(live_app, item.id)
    app_session.expire_all()
    assert item.status == "published"
    assert len(graph.calls_to("POST", "/photos")) == 2  # refused once, then accepted
    assert "queue.retrying" in kinds(app_session)


def test_rate_limit_every_time_fails_after_the_retries(
    live_app: Flask, app_session: so.Session, app_rt: Runtime, graph: FakeGraph
) -> None:
    photo, _, _ = cleared_photo(app_session, app_rt)
    connect_meta(app_session, app_rt, "facebook", graph)
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["facebook"])
    app_session.commit()
    graph.fail_next("rate_limit", times=10)
    _publish(live_app, item.id)
    app_session.expire_all()
    assert item.status == "failed"
    assert len(graph.calls_to("POST", "/photos")) == 3  # first try + PUBLISH_RETRIES=2
    assert publishing.blockers_of(item)[0]["code"] == "publish_failed"


def test_expired_token_fails_at_once_with_reconnect(
    live_app: Flask, app_session: so.Session, app_rt: Runtime, graph: FakeGraph
) -> None:
    photo, _, _ = cleared_photo(app_session, app_rt)
    connect_meta(app_session, app_rt, "instagram", graph, token="stale")
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram"])
    app_session.commit()
    _publish(live_app, item.id)
    app_session.expire_all()
    assert item.status == "failed"
    assert len(graph.calls) == 1  # no retries for an expired token
    (entry,) = publishing.blockers_of(item)
    assert "Reconnect" in entry["message"] and entry["retryable"] is False
    assert app_session.scalar(sa.select(sa.func.count(Publication.id))) == 0


def test_gate_runs_again_at_publish_time(
    live_app: Flask, app_session: so.Session, app_rt: Runtime, graph: FakeGraph
) -> None:
    photo, person, consent = cleared_photo(app_session, app_rt)
    connect_meta(app_session, app_rt, "instagram", graph)
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram"])
    app_session.commit()
    assert item.status == "ready"
    # Consent for Instagram is withdrawn after queueing (directly: the withdrawal flow is elsewhere).
    row = app_session.scalars(
        sa.select(ConsentChannel).where(
            ConsentChannel.consent_id == consent.id, ConsentChannel.channel == "instagram"
        )
    ).one()
    row.withdrawn_at = utcnow() - timedelta(seconds=1)
    app_session.commit()
    _publish(live_app, item.id)
    app_session.expire_all()
    assert item.status == "blocked"
    assert [b["code"] for b in publishing.blockers_of(item)] == ["consent_withdrawn"]
    assert graph.calls == [] and graph.fetches == []
    assert app_session.scalar(sa.select(sa.func.count(Publication.id))) == 0
    last = app_session.scalars(
        sa.select(Event).where(Event.kind == "queue.blocked").order_by(Event.seq.desc())
    ).first()
    assert last is not None
    assert json.loads(last.payload)["at_publish"] is True


def test_container_error_fails_the_item(
    live_app: Flask, app_session: so.Session, app_rt: Runtime, graph: FakeGraph
) -> None:
    photo, _, _ = cleared_photo(app_session, app_rt)
    connect_meta(app_session, app_rt, "instagram", graph)
    graph.container_statuses("ERROR")
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram"])
    app_session.commit()
    _publish(live_app, item.id)
    app_session.expire_all()
    assert item.status == "failed"
    assert "could not prepare" in publishing.blockers_of(item)[0]["message"]


def test_manual_channel_waits_for_the_link(
    live_app: Flask, app_session: so.Session, app_rt: Runtime
) -> None:
    photo, person, consent = cleared_photo(app_session, app_rt, ("instagram",))
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram"])
    app_session.commit()
    _publish(live_app, item.id)
    app_session.expire_all()
    assert item.status == "publishing"
    assert publishing.pending_manual_channels(app_session, item) == ["instagram"]
    assert app_session.scalar(sa.select(sa.func.count(Publication.id))) == 0  # not before the link
    with pytest.raises(publishing.QueueError):
        publishing.record_manual_publication(app_session, app_rt, item, "instagram", "not a link")
    pub = publishing.record_manual_publication(
        app_session, app_rt, item, "instagram", "https://www.instagram.com/p/abc/"
    )
    app_session.commit()
    assert pub.publisher == "manual" and pub.url == "https://www.instagram.com/p/abc/"
    assert {f.how for f in pub.faces} == {"consent", "blur"}
    assert item.status == "published"


def test_periodic_jobs_publish_due_items_and_recheck(
    live_app: Flask, app_session: so.Session, app_rt: Runtime, graph: FakeGraph
) -> None:
    photo, _, _ = cleared_photo(app_session, app_rt)
    connect_meta(app_session, app_rt, "facebook", graph)
    item = publishing.queue_photo(
        app_session, app_rt, photo.id, ["facebook"], scheduled_for=utcnow() + timedelta(hours=1)
    )
    app_session.commit()
    assert publishing.run_due(live_app.extensions["runtime"]) == []
    app_session.execute(sa.update(QueueItem).values(scheduled_for=utcnow() - timedelta(minutes=1)))
    app_session.commit()
    assert publishing.run_due(live_app.extensions["runtime"]) == [item.id]
    app_session.expire_all()
    assert item.status == "published"
    app_session.commit()  # end the read, so the job's session may write
    assert publishing.run_recheck(live_app.extensions["runtime"]) == 0
    assert {"recheck_queue", "publish_due_items", "publish_queue_item"} <= set(
        live_app.extensions["jobs"].tasks
    )


def test_each_channel_goes_out_when_it_is_cleared(
    live_app: Flask, app_session: so.Session, app_rt: Runtime, graph: FakeGraph
) -> None:
    # Consent for Instagram only: the item is ready for Instagram, Facebook waits with its reason.
    photo, person, consent = cleared_photo(app_session, app_rt, ("instagram",))
    connect_meta(app_session, app_rt, "instagram", graph)
    connect_meta(app_session, app_rt, "facebook", graph)
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram", "facebook"])
    app_session.commit()
    assert item.status == "ready"
    reasons = publishing.blockers_of(item)
    assert {r["channel"] for r in reasons} == {"facebook"}
    assert reasons[0]["code"] == "channel_not_covered"
    _publish(live_app, item.id)
    app_session.expire_all()
    pubs = app_session.scalars(sa.select(Publication)).all()
    assert [p.channel for p in pubs] == ["instagram"]
    assert item.status == "blocked"
    assert {r["channel"] for r in publishing.blockers_of(item)} == {"facebook"}
    # Facebook's consent arrives: the item is ready again for Facebook alone, and goes out.
    from consentcam.services import people
    from tests.publishing.conftest import SIGNATURE

    people.give_consent(
        app_session,
        app_rt,
        person,
        channels=["facebook"],
        evidence=SIGNATURE + b" signed again",  # a new signature, not the first sent twice
        evidence_mime="image/png",
        evidence_kind="signature",
        given_at=utcnow() - timedelta(minutes=1),
    )
    assert publishing.recheck_queue(app_session, app_rt) == [item]
    assert item.status == "ready" and item.blockers is None
    app_session.commit()
    _publish(live_app, item.id)
    app_session.expire_all()
    channels = sorted(app_session.scalars(sa.select(Publication.channel)).all())
    assert channels == ["facebook", "instagram"] and item.status == "published"
    assert len(graph.fetches) == 2  # Instagram was not posted twice


def test_an_item_refused_on_every_channel_stays_blocked(
    app_session: so.Session, app_rt: Runtime
) -> None:
    photo = add_photo(app_session, app_rt, BOXES[:1])
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram", "facebook"])
    assert item.status == "blocked"
    assert {r["channel"] for r in publishing.blockers_of(item)} == {"instagram", "facebook"}


def test_a_hand_posted_channel_waits_while_the_other_is_refused(
    live_app: Flask, app_session: so.Session, app_rt: Runtime
) -> None:
    photo, person, consent = cleared_photo(app_session, app_rt, ("instagram",))
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram", "facebook"])
    app_session.commit()
    _publish(live_app, item.id)
    app_session.expire_all()
    assert item.status == "publishing"
    # Only the cleared channel is offered for posting by hand.
    assert publishing.pending_manual_channels(app_session, item) == ["instagram"]
    publishing.record_manual_publication(
        app_session, app_rt, item, "instagram", "https://www.instagram.com/p/abc/"
    )
    app_session.commit()
    assert item.status == "blocked"
    assert {r["channel"] for r in publishing.blockers_of(item)} == {"facebook"}
