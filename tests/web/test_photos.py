"""Photo pages: upload (with the real engine scanning inline), list, thumbnails, review, access."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from consentcam.domain.types import FaceState
from consentcam.models import Event, Face, Person, Photo, User
from consentcam.runtime import Runtime
from consentcam.services import people
from tests.conftest import FACES, login
from tests.web.photo_helpers import person_with_consent, photo_with_faces


def _upload(client: FlaskClient, *names: str, as_json: bool = True) -> TestResponse:
    files = [(io.BytesIO((FACES / n).read_bytes()), n.rsplit("/", 1)[-1]) for n in names]
    headers = {"Accept": "application/json"} if as_json else {}
    return client.post(
        "/photos/upload",
        data={"photos": files},
        content_type="multipart/form-data",
        headers=headers,
    )


def _rt(app: Flask) -> Runtime:
    return app.extensions["runtime"]


@pytest.mark.parametrize(
    "url",
    [
        "/photos/",
        "/photos/upload",
        "/photos/status?ids=1",
        "/photos/1",
        "/photos/1/thumbnail",
        "/photos/1/image",
        "/photos/people-search?q=a",
    ],
)
def test_anonymous_is_sent_to_sign_in(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("action", ["confirm", "assign", "new-person", "not-identifiable", "blur"])
def test_anonymous_cannot_review(client: FlaskClient, action: str) -> None:
    response = client.post(f"/photos/faces/1/{action}", data={})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_anonymous_cannot_upload(client: FlaskClient) -> None:
    assert _upload(client, "unknown/obama1.jpg").status_code in (302, 401)


@pytest.mark.parametrize("role", ["owner", "staff"])
def test_upload_scans_with_the_real_engine_and_shows_faces(
    app: Flask, client: FlaskClient, users: dict[str, int], role: str
) -> None:
    login(client, role)
    response = _upload(client, "unknown/two_people.jpg")
    assert response.status_code == 201, response.get_data(as_text=True)
    result = response.get_json()["results"][0]
    assert result["status"] == "created"
    photo_id = result["photo"]["id"]
    # QUEUE_URL=immediate: the scan job already ran inline.
    status = client.get(f"/photos/status?ids={photo_id}").get_json()
    assert status["finished"] == 1
    assert status["photos"][0]["scan_state"] == "done"
    assert status["photos"][0]["face_count"] == 2
    page = client.get(f"/photos/{photo_id}").get_data(as_text=True)
    assert page.count("<rect ") == 2
    assert 'viewBox="0 0 1024 350"' in page or "viewBox=" in page
    assert "Face 1" in page and "Face 2" in page
    assert "nobody has said yet who this is" in page
    with _rt(app).sessions() as s:
        assert s.scalar(sa.select(Photo.uploaded_by_id).where(Photo.id == photo_id)) == users[role]


def test_several_files_one_bad_one_duplicate(app: Flask, owner_client: FlaskClient) -> None:
    first = _upload(owner_client, "unknown/obama1.jpg").get_json()["results"][0]
    files = [
        (io.BytesIO(b"these are my notes, not a photo\n" * 20), "notes.jpg"),
        (io.BytesIO((FACES / "unknown/obama1.jpg").read_bytes()), "again.jpg"),
    ]
    response = owner_client.post(
        "/photos/upload",
        data={"photos": files},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["rejected", "duplicate"]
    assert "notes.jpg" in results[0]["error"] and "not a supported image" in results[0]["error"]
    assert results[1]["photo"]["id"] == first["photo"]["id"]
    with _rt(app).sessions() as s:
        assert s.scalar(sa.select(sa.func.count(Photo.id))) == 1


def test_a_text_file_named_jpg_is_refused_and_nothing_is_stored(
    app: Flask, owner_client: FlaskClient
) -> None:
    response = owner_client.post(
        "/photos/upload",
        data={"photos": [(io.BytesIO(b"hello, I am text\n" * 30), "holiday.jpg")]},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422
    result = response.get_json()["results"][0]
    assert result["status"] == "rejected"
    assert "holiday.jpg" in result["error"]
    rt = _rt(app)
    with rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count(Photo.id))) == 0
        assert s.scalar(sa.select(sa.func.count(Event.seq)).where(Event.kind.like("photo.%"))) == 0
    assert [p for p in rt.storage.root.rglob("*") if p.is_file()] == []


def test_upload_without_script_renders_results(owner_client: FlaskClient) -> None:
    response = _upload(owner_client, "unknown/obama1.jpg", as_json=False)
    assert response.status_code == 200
    assert "New photo" in response.get_data(as_text=True)
    again = _upload(owner_client, "unknown/obama1.jpg", as_json=False).get_data(as_text=True)
    assert "Already uploaded" in again
    assert owner_client.post("/photos/upload", data={}).status_code == 302


def test_upload_page_has_camera_and_multiple(owner_client: FlaskClient) -> None:
    page = owner_client.get("/photos/upload").get_data(as_text=True)
    assert 'accept="image/*" multiple' in page
    assert 'capture="environment"' in page
    assert "upload.js" in page


def test_thumbnail_and_review_image_are_private_and_stripped(
    app: Flask, owner_client: FlaskClient
) -> None:
    with _rt(app).sessions() as s:
        photo = photo_with_faces(_rt(app), s, 1, "unknown/obama-1080p.jpg")
        pid, width, height = photo.id, photo.width, photo.height
    thumb = owner_client.get(f"/photos/{pid}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert "private" in thumb.headers["Cache-Control"]
    image = owner_client.get(f"/photos/{pid}/image")
    assert "private" in image.headers["Cache-Control"]
    im = Image.open(io.BytesIO(image.data))
    assert max(im.size) <= 1600
    assert abs(im.size[0] / im.size[1] - width / height) < 0.01
    assert not im.getexif()
    assert image.data != (FACES / "unknown/obama-1080p.jpg").read_bytes()
    assert owner_client.get("/photos/999/image").status_code == 404
    assert owner_client.get("/photos/999").status_code == 404


def test_list_filters_and_counts(app: Flask, owner_client: FlaskClient) -> None:
    rt = _rt(app)
    with rt.sessions() as s:
        open_photo = photo_with_faces(rt, s, 1, "unknown/obama1.jpg")
        blurred = photo_with_faces(rt, s, 1, "unknown/obama3.jpg")
        blurred.faces[0].blur = True
        s.commit()
        open_id, blurred_id = open_photo.id, blurred.id
    page = owner_client.get("/photos/?state=needs_review").get_data(as_text=True)
    assert f"/photos/{open_id}/thumbnail" in page and f"/photos/{blurred_id}/thumbnail" not in page
    page = owner_client.get("/photos/?state=cleared").get_data(as_text=True)
    assert f"/photos/{blurred_id}/thumbnail" in page and f"/photos/{open_id}/thumbnail" not in page
    assert owner_client.get("/photos/?state=nonsense").status_code == 404
    everything = owner_client.get("/photos/").get_data(as_text=True)
    assert "1 face to review" in everything
    assert "Cleared" in everything


def test_list_paginates_without_a_query_per_photo(app: Flask, owner_client: FlaskClient) -> None:
    rt = _rt(app)
    with rt.sessions() as s:
        base = photo_with_faces(rt, s, 2)
        for i in range(45):
            clone = Photo(
                sha256=f"{i:064x}",
                original_key=base.original_key,
                original_name=f"p{i}.jpg",
                format="JPEG",
                size_bytes=1,
                width=10,
                height=10,
                scan_state="done",
                thumbnail_key=base.thumbnail_key,
            )
            clone.faces = [Face(number=1, left=0, top=0, right=5, bottom=5)]
            s.add(clone)
        s.commit()
    statements: list[str] = []
    engine = rt.engine
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        first = owner_client.get("/photos/").get_data(as_text=True)
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert first.count('class="photo-tile"') == 30
    assert "Page 1 of 2" in first
    assert len(statements) < 20, len(statements)
    second = owner_client.get("/photos/?page=2").get_data(as_text=True)
    assert second.count('class="photo-tile"') == 16


def _tile_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<a href="/photos/(\d+)" class="photo-tile">', page)]


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a class="button" href="([^"]+)" rel="{rel}">', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_list_pages_on_from_the_last_photo_shown(app: Flask, owner_client: FlaskClient) -> None:
    """Older and Newer page from a photo (keyset), newest first, each photo once, in a filter."""
    rt = _rt(app)
    with rt.sessions() as s:
        base = photo_with_faces(rt, s, 1)
        for i in range(64):
            s.add(
                Photo(
                    sha256=f"{i:064x}",
                    original_key=base.original_key,
                    original_name=f"p{i}.jpg",
                    format="JPEG",
                    size_bytes=1,
                    width=10,
                    height=10,
                    scan_state="done",
                    # Some share an upload time: the photo's number orders those.
                    uploaded_at=datetime(2026, 1, 1 + i // 3, tzinfo=UTC),
                    thumbnail_key=base.thumbnail_key,
                )
            )
        s.commit()
        newest_first = [
            p.id
            for p in s.scalars(sa.select(Photo).order_by(Photo.uploaded_at.desc(), Photo.id.desc()))
        ]
    seen: list[int] = []
    url: str | None = "/photos/?state=needs_review"
    pages = []
    while url:
        page = owner_client.get(url).get_data(as_text=True)
        pages.append(page)
        seen += _tile_ids(page)
        url = _link(page, "next")
    assert seen == newest_first and len(pages) == 3
    assert "Page 3 of 3" in pages[-1] and "after=" in (_link(pages[1], "next") or "")
    # Newer goes back the same way: the second page, then the first.
    back = owner_client.get(_link(pages[-1], "prev")).get_data(as_text=True)
    assert _tile_ids(back) == newest_first[30:60] and "Page 2 of 3" in back
    first = owner_client.get(_link(back, "prev")).get_data(as_text=True)
    assert _tile_ids(first) == newest_first[:30] and _link(first, "prev") is None
    # A photo that is gone starts the list again; a number that is not one is ignored.
    assert (
        _tile_ids(owner_client.get("/photos/?after=999999").get_data(as_text=True))
        == (newest_first[:30])
    )
    assert owner_client.get("/photos/?after=abc&before=-1").status_code == 200


def test_the_review_list_pages_on_oldest_first(
    app: Flask, owner_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentcam.web import photos as photo_pages

    monkeypatch.setattr(photo_pages, "REVIEW_PAGE", 2)
    rt = _rt(app)
    rels = ("unknown/obama1.jpg", "unknown/obama3.jpg", "unknown/two_people.jpg")
    with rt.sessions() as s:
        ids = [photo_with_faces(rt, s, 0, rel, confirmed=False).id for rel in rels]
    first = owner_client.get("/photos/review").get_data(as_text=True)
    shown = [int(n) for n in re.findall(r'data-photo="(\d+)"', first)]
    assert shown == ids[:2] and "3 photos are waiting" in first
    later = _link(first, "next")
    assert later == f"/photos/review?after={ids[1]}"
    rest = owner_client.get(later).get_data(as_text=True)
    assert [int(n) for n in re.findall(r'data-photo="(\d+)"', rest)] == ids[2:]
    assert _link(rest, "next") is None


def test_review_actions_through_the_page_change_the_verdict(
    app: Flask, staff_client: FlaskClient
) -> None:
    rt = _rt(app)
    with rt.sessions() as s:
        # Marking faces not identifiable or blurred: staff the owner allows to publish.
        for user in s.scalars(sa.select(User).where(User.role == "staff")):
            user.may_publish = True
        photo = photo_with_faces(rt, s, 3)
        anna = person_with_consent(rt, s, "Anna", "instagram")
        f1, f2, f3 = (f.id for f in photo.faces)
        photo.faces[0].suggested_person_id = anna.id
        photo.faces[0].state = FaceState.SUGGESTED
        photo.faces[0].distance = 0.35
        s.commit()
        pid = photo.id
    page = staff_client.get(f"/photos/{pid}").get_data(as_text=True)
    assert "Looks like Anna" in page and "very likely" in page
    staff_client.post(f"/photos/faces/{f1}/confirm", data={"version": "new"})
    staff_client.post(f"/photos/faces/{f2}/not-identifiable", data={"reason": "", "version": "new"})
    page = staff_client.get(f"/photos/{pid}").get_data(as_text=True)
    assert "say why this face cannot be identified" in page
    staff_client.post(f"/photos/faces/{f2}/not-identifiable", data={"reason": "back of the head"})
    staff_client.post(f"/photos/faces/{f3}/blur", data={"blur": "1"})
    page = staff_client.get(f"/photos/{pid}").get_data(as_text=True)
    instagram = page.split('data-channel="instagram"')[1].split("</li>")[0]
    facebook = page.split('data-channel="facebook"')[1].split('data-channel="website"')[0]
    assert "Cleared" in instagram
    assert "Blocked" in facebook and "does not cover Facebook" in facebook


def test_assign_and_new_person_from_the_page(app: Flask, owner_client: FlaskClient) -> None:
    rt = _rt(app)
    with rt.sessions() as s:
        photo = photo_with_faces(rt, s, 2)
        bo = person_with_consent(rt, s, "Bo", "facebook")
        f1, f2 = (f.id for f in photo.faces)
        bo_id = bo.id
    owner_client.post(f"/photos/faces/{f1}/assign", data={"person_id": str(bo_id)})
    response = owner_client.post(
        f"/photos/faces/{f2}/new-person", data={"name": "Cecilia"}, follow_redirects=True
    )
    text = response.get_data(as_text=True)
    assert "Cecilia was added" in text
    assert "Face 2 (Cecilia): there is no consent on record." in text
    bad = owner_client.post(
        f"/photos/faces/{f1}/assign", data={"person_id": "99999"}, follow_redirects=True
    )
    assert "choose a person from the list" in bad.get_data(as_text=True)
    assert owner_client.post("/photos/faces/99999/blur", data={"blur": "1"}).status_code == 404
    with rt.sessions() as s:
        face = s.get(Face, f1)
        assert face is not None
        assert face.person_id == bo_id


def test_a_stale_page_cannot_overwrite_a_newer_review(
    app: Flask, owner_client: FlaskClient
) -> None:
    rt = _rt(app)
    with rt.sessions() as s:
        photo = photo_with_faces(rt, s, 1)
        fid = photo.faces[0].id
    owner_client.post(
        f"/photos/faces/{fid}/not-identifiable", data={"reason": "tiny", "version": "new"}
    )
    response = owner_client.post(
        f"/photos/faces/{fid}/blur", data={"blur": "1", "version": "new"}, follow_redirects=True
    )
    assert "Someone else changed this face" in response.get_data(as_text=True)
    with rt.sessions() as s:
        face = s.get(Face, fid)
        assert face is not None
        assert (face.state, face.blur) == ("not_identifiable", False)


def test_review_page_in_swedish(app: Flask, owner_client: FlaskClient) -> None:
    rt = _rt(app)
    with rt.sessions() as s:
        pid = photo_with_faces(rt, s, 1).id
    owner_client.post("/language/sv", data={"next": "/"})
    page = owner_client.get(f"/photos/{pid}").get_data(as_text=True)
    assert "Ansikte 1: ingen har angett vem det är än." in page
    assert "Får det publiceras?" in page
    assert "Foton" in owner_client.get("/photos/").get_data(as_text=True)


def test_dashboard_links_to_photos_to_review(app: Flask, owner_client: FlaskClient) -> None:
    rt = _rt(app)
    with rt.sessions() as s:
        photo_with_faces(rt, s, 1)
    page = owner_client.get("/").get_data(as_text=True)
    assert "/photos/?state=needs_review" in page
    assert 'href="/photos/"' in page  # the navigation


def _names(response: TestResponse) -> list[str]:
    assert response.status_code == 200
    return [p["name"] for p in response.get_json()["people"]]


@pytest.mark.parametrize("role", ["owner", "staff"])
def test_people_search_finds_names_in_any_case_and_at_most_twenty(
    app: Flask, client: FlaskClient, users: dict[str, int], role: str
) -> None:
    rt = _rt(app)
    with rt.sessions() as s:
        for name in ("Anna Berg", "Lisa Annasdotter", "Bo", "100%_sure", "Erased Anna"):
            people.add_person(s, name)
        for i in range(25):
            people.add_person(s, f"Kund {i:02d}")
        erased = s.scalar(sa.select(Person).where(Person.name == "Erased Anna"))
        assert erased is not None
        erased.erased_at = datetime.now(UTC)
        s.commit()
    login(client, role)
    assert _names(client.get("/photos/people-search?q=ANNA")) == ["Anna Berg", "Lisa Annasdotter"]
    # What people type is matched literally, never as a LIKE wildcard.
    assert _names(client.get("/photos/people-search?q=%25")) == ["100%_sure"]
    assert _names(client.get("/photos/people-search?q=_")) == ["100%_sure"]
    many = _names(client.get("/photos/people-search?q=kund"))
    assert many == [f"Kund {i:02d}" for i in range(20)]
    assert _names(client.get("/photos/people-search?q=%20%20")) == []
    assert _names(client.get("/photos/people-search")) == []


def test_find_people_escapes_wildcards_on_both_databases(
    instance: Path, migrated_database_url: str
) -> None:
    from consentcam.db import upgrade
    from consentcam.runtime import Runtime
    from tests.conftest import base_settings

    rt = Runtime.build(instance, base_settings(instance, DATABASE_URL=migrated_database_url))
    try:
        upgrade(rt.engine)
        with rt.sessions() as s:
            for name in ("ÅSA Öberg", "a_b", "axb", "50% off", "Maja"):
                people.add_person(s, name)
            s.commit()
            assert [n for _, n in people.find_people(s, "a_b")] == ["a_b"]
            assert [n for _, n in people.find_people(s, "%")] == ["50% off"]
            assert [n for _, n in people.find_people(s, "MAJ")] == ["Maja"]
            # Swedish letters fold too (SQLite's built-in lower() knows only A-Z).
            assert [n for _, n in people.find_people(s, "åsa ö")] == ["ÅSA Öberg"]
            assert [n for _, n in people.find_people(s, "a", limit=2)] == ["a_b", "axb"]
    finally:
        rt.close()


def test_review_page_offers_a_search_not_a_list_of_everyone(
    app: Flask, owner_client: FlaskClient
) -> None:
    rt = _rt(app)
    with rt.sessions() as s:
        photo = photo_with_faces(rt, s, 2)
        for i in range(60):
            people.add_person(s, f"Kund {i:02d}")
        bo = people.add_person(s, "Bo Kund")
        photo.faces[0].suggested_person_id = bo.id
        photo.faces[0].state = FaceState.SUGGESTED
        photo.faces[0].distance = 0.4
        s.commit()
        pid, f1, f2, bo_id = photo.id, photo.faces[0].id, photo.faces[1].id, bo.id
    page = owner_client.get(f"/photos/{pid}").get_data(as_text=True)
    assert "Kund 00" not in page and '<select name="person_id"' not in page
    assert 'class="person-search"' in page and "/photos/people-search" in page
    # Without script: the search form reloads the page with the face's first 50 matches.
    found = owner_client.get(f"/photos/{pid}?face={f1}&q=kund").get_data(as_text=True)
    card = found.split(f'id="face-{f1}"')[1].split(f'id="face-{f2}"')[0]
    values = [int(v) for v in re.findall(r'name="person_id" value="(\d+)"', card)]
    # "Bo Kund" sorts first among the 50 matches: shown once, as the suggestion, on top.
    assert values[0] == bo_id and values.count(bo_id) == 1
    assert len(values) == 50
    assert 'class="person-option suggested"' in card
    other = found.split(f'id="face-{f2}"')[1]
    assert 'name="person_id"' not in other, "only the searched face lists matches"
    nobody = owner_client.get(f"/photos/{pid}?face={f2}&q=zzz").get_data(as_text=True)
    assert "Nobody here has that name." in nobody.split(f'id="face-{f2}"')[1]
    # Tapping a match posts the existing assign form with that person's id.
    owner_client.post(f"/photos/faces/{f2}/assign", data={"person_id": str(values[5])})
    with rt.sessions() as s:
        face = s.get(Face, f2)
        assert face is not None
        assert face.person_id == values[5]
