"""Queue, publications and connections pages and the publishing API: access control and flows."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask
from flask.testing import FlaskClient

from consentcam.models import ChannelConnection, Publication, QueueItem
from consentcam.runtime import Runtime
from consentcam.services import publishing
from consentcam.services import users as users_service
from tests.conftest import login
from tests.publishing.conftest import add_consenting_person, add_photo, confirm


@pytest.fixture
def item(app: Flask, app_session: so.Session, app_rt: Runtime, users: dict[str, int]) -> QueueItem:
    photo = add_photo(app_session, app_rt, [(100, 100, 220, 220)])
    person, _ = add_consenting_person(app_session, app_rt, "Maja", ["instagram"])
    confirm(photo.faces[0], person.id)
    it = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram"], caption="Hej")
    app_session.commit()
    return it


PAGES = ["/queue/", "/published/", "/queue/{id}", "/queue/new?photo_id={photo}"]


@pytest.mark.parametrize("path", PAGES + ["/settings/connections"])
def test_anonymous_is_sent_to_login(client: FlaskClient, item: QueueItem, path: str) -> None:
    response = client.get(path.format(id=item.id, photo=item.photo_id))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["owner", "staff"])
@pytest.mark.parametrize("path", PAGES)
def test_pages_render_for_owner_and_staff(
    client: FlaskClient, item: QueueItem, role: str, path: str
) -> None:
    login(client, role)
    response = client.get(path.format(id=item.id, photo=item.photo_id))
    if role == "staff" and path.startswith("/queue/new"):
        # Queuing is for the owner and staff she allows to publish.
        assert response.status_code == 403
        return
    assert response.status_code == 200
    expected = {
        "/published/": "Nothing published yet.",
        "/queue/new?photo_id={photo}": "Add to the queue",
    }.get(path, "Hej")
    assert expected in response.get_data(as_text=True)


def test_connections_are_owner_only(client: FlaskClient, item: QueueItem) -> None:
    login(client, "staff")
    assert client.get("/settings/connections").status_code == 403
    assert (
        client.post(
            "/settings/connections", data={"channel": "instagram", "kind": "manual"}
        ).status_code
        == 403
    )


def test_queue_form_blocked_reasons_shown(
    owner_client: FlaskClient, app_session: so.Session, app_rt: Runtime
) -> None:
    photo = add_photo(app_session, app_rt, [(10, 10, 90, 90)])
    app_session.commit()
    response = owner_client.post(
        f"/queue/new?photo_id={photo.id}",
        data={
            "photo_id": str(photo.id),
            "channels": ["instagram", "facebook"],
            "caption": "Hej",
            "fit": "crop",
        },
    )
    assert response.status_code == 302
    item = app_session.scalars(sa.select(QueueItem).where(QueueItem.photo_id == photo.id)).one()
    assert (
        item.status == "blocked"
        and item.fit == "crop"
        and item.channel_list == ["instagram", "facebook"]
    )
    app_session.commit()  # every SQLite transaction holds the write lock: end the read
    page = owner_client.get("/queue/").get_data(as_text=True)
    assert "Face 1: nobody has said yet who this is." in page
    sv = owner_client.get("/queue/", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "Ansikte 1" in sv


def test_publish_now_and_manual_flow(
    owner_client: FlaskClient, item: QueueItem, app_session: so.Session
) -> None:
    response = owner_client.post(f"/queue/{item.id}/publish")
    assert response.status_code == 302
    app_session.expire_all()
    assert item.status == "publishing"  # manual channel: waits for the owner's link
    app_session.commit()
    page = owner_client.get(f"/queue/{item.id}").get_data(as_text=True)
    assert "Download the cleared photo" in page
    download = owner_client.post(f"/queue/{item.id}/download/instagram")
    assert download.status_code == 200 and download.mimetype == "image/jpeg"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.data[:2] == b"\xff\xd8" and b"Exif" not in download.data
    download.close()
    assert owner_client.post(f"/queue/{item.id}/download/facebook").status_code == 404
    bad = owner_client.post(f"/queue/{item.id}/manual/instagram", data={"url": "nope"})
    assert (
        bad.status_code == 302 and app_session.scalar(sa.select(sa.func.count(Publication.id))) == 0
    )
    app_session.commit()
    ok = owner_client.post(
        f"/queue/{item.id}/manual/instagram", data={"url": "https://www.instagram.com/p/xyz/"}
    )
    assert ok.status_code == 302
    app_session.expire_all()
    assert item.status == "published"
    app_session.commit()
    assert "instagram.com/p/xyz" in owner_client.get("/published/").get_data(as_text=True)


def test_the_item_page_follows_the_worker_after_publish_now(
    owner_client: FlaskClient,
    item: QueueItem,
    app_session: so.Session,
    app_rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After "Publish now" the page polls until the worker has taken the post up, then shows
    the next step (here: download the cleared copy) without the owner reloading."""
    queued: list[tuple[Any, ...]] = []

    def enqueue(name: str, *args: Any) -> None:
        queued.append((name, *args))  # the worker is slow today

    monkeypatch.setattr(app_rt.jobs, "enqueue", enqueue)
    response = owner_client.post(f"/queue/{item.id}/publish")
    assert response.status_code == 302 and "started=1" in response.headers["Location"]
    assert queued == [("publish_queue_item", item.id)]
    page = owner_client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="publishing"' in page and "queue-progress.js" in page
    assert "Publish now" not in page  # no second job while the first is on its way
    before = owner_client.get(f"/queue/{item.id}/progress").get_json()["state"]
    assert owner_client.get(f"/queue/{item.id}/progress").get_json()["state"] == before
    # The worker takes the item: a manual channel now waits for the owner's download and link.
    publishing.publish_item(app_session, app_rt, item.id)
    app_session.commit()
    after = owner_client.get(f"/queue/{item.id}/progress").get_json()["state"]
    assert after != before
    page = owner_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Download the cleared photo" in page and "<progress" not in page
    # Without "Publish now" a ready item's page does not poll.
    assert 'id="publishing"' not in owner_client.get("/queue/").get_data(as_text=True)


def test_cancel(staff_client: FlaskClient, item: QueueItem, app_session: so.Session) -> None:
    _allow_staff_to_publish(app_session)
    assert staff_client.post(f"/queue/{item.id}/cancel").status_code == 302
    app_session.expire_all()
    assert item.status == "cancelled"
    app_session.commit()
    assert staff_client.post(f"/queue/{item.id}/publish").status_code == 302
    app_session.expire_all()
    assert item.status == "cancelled"


def test_connections_store_token_encrypted(
    owner_client: FlaskClient, app_session: so.Session, app_rt: Runtime
) -> None:
    response = owner_client.post(
        "/settings/connections",
        data={
            "channel": "instagram",
            "kind": "meta",
            "account_id": "1784",
            "access_token": "EAAsecret",
            "graph_url": "https://graph.facebook.com/v21.0",
            "can_delete": "y",
        },
    )
    assert response.status_code == 302
    conn = app_session.scalars(sa.select(ChannelConnection)).one()
    assert conn.kind == "meta" and conn.can_delete and conn.account_id == "1784"
    assert conn.access_token_enc is not None
    assert (
        b"EAAsecret" not in conn.access_token_enc
        and app_rt.vault.decrypt(conn.access_token_enc) == b"EAAsecret"
    )
    app_session.commit()
    page = owner_client.get("/settings/connections").get_data(as_text=True)
    assert "EAAsecret" not in page  # write-only
    # Saving again without a token keeps the old one.
    owner_client.post(
        "/settings/connections",
        data={
            "channel": "instagram",
            "kind": "meta",
            "account_id": "1785",
            "graph_url": "https://graph.facebook.com/v21.0",
        },
    )
    app_session.expire_all()
    assert conn.access_token_enc is not None
    assert app_rt.vault.decrypt(conn.access_token_enc) == b"EAAsecret" and not conn.can_delete


# -- the API --------------------------------------------------------------------------------


@pytest.fixture
def token(app: Flask, users: dict[str, int]) -> str:
    from consentcam.models import User

    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        staff = s.get(User, users["staff"])
        assert staff is not None
        staff.may_publish = True  # queuing and publishing: staff the owner allows to publish
        _, raw = users_service.create_token(s, staff, "tests")
        s.commit()
    return raw


def _allow_staff_to_publish(session: so.Session) -> None:
    import sqlalchemy as sa

    from consentcam.models import User

    for user in session.scalars(sa.select(User).where(User.role == "staff")):
        user.may_publish = True
    session.commit()


def test_api_queue_roundtrip(
    client: FlaskClient, token: str, item: QueueItem, app_session: so.Session
) -> None:
    h = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/queue", headers=h).get_json()
    assert [i["id"] for i in listed["items"]] == [item.id]
    got = client.get(f"/api/v1/queue/{item.id}", headers=h).get_json()
    assert got["status"] == "ready" and got["blockers"] == [] and got["channels"] == ["instagram"]
    created = client.post(
        "/api/v1/queue",
        headers=h,
        json={
            "photo_id": item.photo_id,
            "channels": ["facebook"],
            "caption": "x",
            "scheduled_for": "2030-01-01T09:00:00+01:00",
            "fit": "crop",
        },
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["status"] == "blocked" and body["blockers"][0]["code"] == "channel_not_covered"
    published = client.post(f"/api/v1/queue/{item.id}/publish", headers=h)
    assert published.status_code == 202 and published.get_json()["manual_channels"] == ["instagram"]
    manual = client.post(
        f"/api/v1/queue/{item.id}/manual-publication",
        headers=h,
        json={"channel": "instagram", "url": "https://www.instagram.com/p/q/"},
    )
    assert manual.status_code == 201
    pub = manual.get_json()
    assert pub["faces"][0]["how"] == "consent" and pub["publisher"] == "manual"
    assert (
        client.get(f"/api/v1/publications/{pub['id']}", headers=h).get_json()["url"]
        == "https://www.instagram.com/p/q/"
    )
    assert [
        p["id"]
        for p in client.get("/api/v1/publications?live=true", headers=h).get_json()["publications"]
    ] == [pub["id"]]
    assert client.post(f"/api/v1/queue/{body['id']}/publish", headers=h).status_code == 409
    assert (
        client.post(f"/api/v1/queue/{body['id']}/cancel", headers=h).get_json()["status"]
        == "cancelled"
    )


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"photo_id": "1", "channels": ["instagram"]},
        {"photo_id": 1, "channels": []},
        {"photo_id": 1, "channels": ["myspace"]},
        {"photo_id": 1, "channels": "instagram"},
        {"photo_id": 1, "channels": ["instagram"], "fit": "stretch"},
        {"photo_id": 1, "channels": ["instagram"], "scheduled_for": "tomorrow"},
        {"photo_id": 1, "channels": ["instagram"], "scheduled_for": "2030-01-01T09:00:00"},
        {"photo_id": 1, "channels": ["instagram"], "caption": 5},
        {"photo_id": 1, "channels": ["instagram"], "extra": 1},
        {"photo_id": 99999, "channels": ["instagram"]},
        {"photo_id": True, "channels": ["instagram"]},
    ],
)
def test_api_bad_queue_input_is_4xx(
    client: FlaskClient, token: str, item: QueueItem, payload: Any
) -> None:
    h = {"Authorization": f"Bearer {token}"}
    response = (
        client.post("/api/v1/queue", headers=h, json=payload)
        if payload is not None
        else client.post("/api/v1/queue", headers=h, data="x")
    )
    assert 400 <= response.status_code < 500 and "error" in response.get_json()


def test_api_errors_and_auth(client: FlaskClient, token: str, item: QueueItem) -> None:
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/queue").status_code == 401
    assert client.get("/api/v1/queue/99999", headers=h).status_code == 404
    assert client.get("/api/v1/publications/99999", headers=h).status_code == 404
    assert client.get("/api/v1/queue?status=nope", headers=h).status_code == 400
    assert client.get("/api/v1/queue?limit=0", headers=h).status_code == 400
    assert client.get("/api/v1/publications?live=maybe", headers=h).status_code == 400
    for body in (
        {"channel": "instagram", "url": "ftp://x"},
        {"channel": "x", "url": "https://a"},
        {"url": "https://a"},
        {"channel": "facebook", "url": "https://a/b"},
    ):
        response = client.post(f"/api/v1/queue/{item.id}/manual-publication", headers=h, json=body)
        assert response.status_code in (409, 422), body
    spec = client.get("/api/v1/openapi.json", headers=h).get_json()
    for path in (
        "/queue",
        "/queue/{item_id}",
        "/queue/{item_id}/publish",
        "/queue/{item_id}/cancel",
        "/queue/{item_id}/manual-publication",
        "/publications",
        "/publications/{publication_id}",
    ):
        assert path in spec["paths"], path


def test_swedish_queue_pages(owner_client: FlaskClient, item: QueueItem) -> None:
    sv = {"Accept-Language": "sv"}
    assert "Publiceringskö" in owner_client.get("/queue/", headers=sv).get_data(as_text=True)
    detail = owner_client.get(f"/queue/{item.id}", headers=sv).get_data(as_text=True)
    assert "Publicera nu" in detail and "Ta bort ur kön" in detail
    assert "Kopplingar" in owner_client.get("/settings/connections", headers=sv).get_data(
        as_text=True
    )


def test_queue_refusals_in_swedish(owner_client: FlaskClient, item: QueueItem) -> None:
    sv = {"Accept-Language": "sv"}
    assert owner_client.post(f"/queue/{item.id}/publish").status_code == 302
    link = {"url": "https://www.facebook.com/studio/posts/1"}
    page = owner_client.post(
        f"/queue/{item.id}/manual/facebook", data=link, headers=sv, follow_redirects=True
    ).get_data(as_text=True)
    assert "posten ligger inte i kön för facebook" in page
    assert "is not queued for" not in page
    english = owner_client.post(
        f"/queue/{item.id}/manual/facebook",
        data=link,
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "this item is not queued for facebook" in english


def test_a_status_in_a_refusal_is_said_in_the_readers_words(
    owner_client: FlaskClient, item: QueueItem
) -> None:
    assert owner_client.post(f"/queue/{item.id}/cancel").status_code == 302
    swedish = owner_client.post(
        f"/queue/{item.id}/cancel", headers={"Accept-Language": "sv"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "posten har redan status borttagen ur kön" in swedish
    assert "status cancelled" not in swedish
    english = owner_client.post(
        f"/queue/{item.id}/cancel", headers={"Accept-Language": "en"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "this item is already cancelled" in english


def test_queue_form_ticks_only_cleared_channels_and_says_why_the_others_are_blocked(
    owner_client: FlaskClient, app_session: so.Session, app_rt: Runtime
) -> None:
    from tests.publishing.conftest import add_consenting_person, add_photo, confirm

    photo = add_photo(app_session, app_rt, [(100, 100, 220, 220)])
    person, _consent = add_consenting_person(app_session, app_rt, "Maja Lind", ["instagram"])
    confirm(photo.faces[0], person.id)
    app_session.commit()
    html = owner_client.get(f"/queue/new?photo_id={photo.id}").get_data(as_text=True)
    assert re.search(
        r'<input[^>]*checked[^>]*value="instagram"|<input[^>]*value="instagram"[^>]*checked', html
    )
    assert not re.search(r'<input[^>]*value="facebook"[^>]*checked', html)
    # Facebook's reason is on the page before anything is queued.
    assert "Maja Lind" in html and "does not cover Facebook" in html


def test_queue_item_says_checking_while_its_reasons_are_out_of_date(
    owner_client: FlaskClient, app_session: so.Session, app_rt: Runtime
) -> None:
    from tests.publishing.conftest import add_consenting_person, add_photo, confirm

    photo = add_photo(app_session, app_rt, [(100, 100, 220, 220)])
    person, _consent = add_consenting_person(app_session, app_rt, "Maja Lind", ["facebook"])
    confirm(photo.faces[0], person.id)
    item = publishing.queue_photo(app_session, app_rt, photo.id, ["instagram"])
    app_session.commit()
    assert item.status == "blocked"
    assert not publishing.verdict_is_stale(app_session, item)
    app_session.commit()
    page = owner_client.get(f"/queue/{item.id}").get_data(as_text=True)
    assert 'id="checking"' not in page and "does not cover Instagram" in page
    # Instagram consent arrives; nothing has re-checked the queue yet.
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
    )
    app_session.commit()
    assert publishing.verdict_is_stale(app_session, item)
    app_session.commit()  # end the read: the page's re-check writes
    page = owner_client.get(f"/queue/{item.id}").get_data(as_text=True)
    assert 'id="checking"' in page and "Checking…" in page
    assert "does not cover Instagram" not in page
    # The page asked the worker to re-check this photo (inline here): now it is ready.
    app_session.expire_all()
    assert item.status == "ready"
    assert 'id="checking"' not in owner_client.get(f"/queue/{item.id}").get_data(as_text=True)
