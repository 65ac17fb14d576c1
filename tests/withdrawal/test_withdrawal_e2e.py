"""End to end with the real face engine and the fake Graph API: consent, scan, publish, withdraw."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask

from consentcam.domain.types import Channel
from consentcam.models import (
    ChannelConnection,
    Event,
    Face,
    Person,
    Photo,
    Publication,
    QueueItem,
    ReferenceFace,
    RemovalTask,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import confirmation, photos, publishing, review, scanning
from consentcam.services import users as users_service
from tests.conftest import FACES
from tests.fakegraph.fixtures import fast_publish_settings
from tests.fakegraph.server import FakeGraph

from .helpers import enrolled_person, stored

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(instance: Path) -> dict[str, object]:
    return fast_publish_settings(instance)


def scanned_and_confirmed(s: so.Session, rt: Runtime, owner: User, name: str) -> Photo:
    data = (FACES / "unknown" / name).read_bytes()
    photo = photos.ingest(s, rt, data, name, user=owner).photo
    s.commit()
    scanning.scan_photo(s, rt, photo.id)
    (face,) = photo.faces
    # The real matcher recognises the enrolled person; the owner confirms the suggestion.
    assert face.state == "suggested"
    review.confirm_face(s, rt, face, user=owner)
    confirmation.confirm_photo(s, rt, photo, user=owner)
    s.commit()
    return photo


@pytest.mark.parametrize("instagram_can_delete", [True, False], ids=["ig-api", "ig-manual"])
def test_withdrawal_takes_both_posts_down_and_stops_the_queue(
    live_app: Flask, graph: FakeGraph, instagram_can_delete: bool
) -> None:
    app = live_app
    rt: Runtime = app.extensions["runtime"]
    client = app.test_client()
    with rt.sessions() as s:
        owner = users_service.create_user(
            s, "owner@example.com", "Ann-Christin", "owner-password-123", role="owner"
        )
        _tok, secret = users_service.create_token(s, owner, "test")
        lena = enrolled_person(s, rt, owner)
        for channel, account, can_delete in (
            ("facebook", "104200", False),
            ("instagram", "1784140", instagram_can_delete),
        ):
            s.add(
                ChannelConnection(
                    channel=channel,
                    kind="meta",
                    account_id=account,
                    access_token_enc=rt.vault.encrypt(b"good-token"),
                    graph_url=graph.url,
                    can_delete=can_delete,
                )
            )
        s.commit()
        posted = scanned_and_confirmed(s, rt, owner, "obama1.jpg")
        later = scanned_and_confirmed(s, rt, owner, "obama3.jpg")
        item = publishing.queue_photo(
            s, rt, posted.id, ["instagram", "facebook"], caption="Välkommen!", actor=owner
        )
        waiting = publishing.queue_photo(s, rt, later.id, ["instagram"], actor=owner)
        s.commit()
        assert item.status == "ready" and waiting.status == "ready"
        ids = {
            "lena": lena.id,
            "item": item.id,
            "waiting": waiting.id,
            "posted_face": posted.faces[0].id,
        }

    # Published through the real path: the job, the cleared copy, the fake Graph API.
    app.extensions["jobs"].enqueue("publish_queue_item", ids["item"])
    with rt.sessions() as s:
        assert stored(s, QueueItem, ids["item"]).status == "published"
        pubs = {p.channel: p for p in s.scalars(sa.select(Publication))}
        assert set(pubs) == {"facebook", "instagram"} and all(
            p.live and p.external_id for p in pubs.values()
        )
        # Her reference photo, and perhaps confirmed faces enrolled under her biometric consent.
        references = s.scalar(sa.select(sa.func.count()).select_from(ReferenceFace))
        assert references is not None and references >= 1

    headers = {"Authorization": f"Bearer {secret}"}
    response = client.post(
        f"/api/v1/people/{ids['lena']}/withdrawals",
        json={"channels": "all", "biometric": True},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["blocked_queue_item_ids"] == [ids["waiting"]]
    methods = {t["channel"]: t["method"] for t in body["removal_tasks"]}
    assert methods == {"facebook": "api", "instagram": "api" if instagram_can_delete else "manual"}
    assert body["references_deleted"] == references

    with rt.sessions() as s:
        waiting_item = stored(s, QueueItem, ids["waiting"])
        assert waiting_item.status == "blocked" and "consent_withdrawn" in (
            waiting_item.blockers or ""
        )
        tasks = {t.publication.channel: t for t in s.scalars(sa.select(RemovalTask))}
        assert set(tasks) == {"facebook", "instagram"}
        # The deletion job ran (the test queue runs jobs inline): Meta saw the DELETE.
        fb = tasks[Channel.FACEBOOK]
        assert graph.calls_to("DELETE", f"/{fb.publication.external_id}")
        assert (fb.status, fb.closed_by_name, fb.publication.live) == (
            "done",
            "automatic deletion",
            False,
        )
        ig = tasks[Channel.INSTAGRAM]
        ig_deletes = graph.calls_to("DELETE", f"/{ig.publication.external_id}")
        if instagram_can_delete:
            assert ig_deletes and ig.status == "done" and ig.publication.live is False
        else:
            assert not ig_deletes
            assert (ig.status, ig.method, ig.publication.live) == ("open", "manual", True)
            assert ig.publication.url and ig.due_at > utcnow()
        assert s.scalar(sa.select(sa.func.count()).select_from(ReferenceFace)) == 0
        assert stored(s, Face, ids["posted_face"]).template is None
        person = stored(s, Person, ids["lena"])
        assert all(c.biometric_withdrawn_at is not None for c in person.consents)
        events_before = s.scalar(sa.select(sa.func.count()).select_from(Event))
        deletes_before = len(graph.calls_to("DELETE", ""))

    again = client.post(
        f"/api/v1/people/{ids['lena']}/withdrawals",
        json={"channels": "all", "biometric": True},
        headers=headers,
    ).get_json()
    assert again["changed"] is False and again["removal_tasks"] == []
    with rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(RemovalTask)) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)) == events_before
        assert len(graph.calls_to("DELETE", "")) == deletes_before
