"""Remembered page parts: served again only while nothing changed, never across roles,
languages or visitors' CSRF tokens, and forgotten by a write made in any process."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from consentcam.models import Person
from consentcam.services import freshness
from tests.conftest import FACES, base_settings, login
from tests.web.people_helpers import add_person, give_consent


def _rename_without_event(runtime: Any, person_id: int, name: str) -> None:
    """A change no service would make: it records no event, so no version stamp moves."""
    with runtime.sessions() as s:
        s.execute(sa.update(Person).where(Person.id == person_id).values(name=name))
        s.commit()


def test_a_part_is_served_again_until_its_time_limit(
    app: Any, owner_client: Any, runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    person_id = add_person(app, "Åsa Öberg")
    assert "Åsa Öberg" in owner_client.get(f"/people/{person_id}").get_data(as_text=True)
    _rename_without_event(runtime, person_id, "Britt Berg")
    # Within the time limit the remembered rendering is served (the title is not part of it).
    page = owner_client.get(f"/people/{person_id}").get_data(as_text=True)
    assert "<h1>Åsa Öberg" in page
    # After the limit it is made again from the database.
    clock = freshness.time.monotonic
    monkeypatch.setattr(freshness.time, "monotonic", lambda: clock() + freshness.TTL_SECONDS + 1)
    assert "<h1>Britt Berg" in owner_client.get(f"/people/{person_id}").get_data(as_text=True)


def test_a_write_in_another_process_shows_on_the_next_request(
    app: Any, owner_client: Any, runtime: Any
) -> None:
    """``runtime`` is a second Runtime on the same database, as another process would be."""
    person_id = add_person(app, "Åsa Öberg")
    before = owner_client.get(f"/people/{person_id}").get_data(as_text=True)
    assert "Instagram" not in before.split('id="refs-h"')[0]
    with runtime.sessions() as s:
        from consentcam.services import people

        person = s.get(Person, person_id)
        people.update_person(s, person, name="Åsa Lind")  # records an event
        s.commit()
    after = owner_client.get(f"/people/{person_id}").get_data(as_text=True)
    assert "<h1>Åsa Lind" in after
    # A consent given elsewhere shows at once, on the person's page and in the photo list's
    # counts (both are remembered parts).
    give_consent(app, person_id, channels=["instagram"])
    assert "Instagram" in owner_client.get(f"/people/{person_id}").get_data(as_text=True)


def test_the_photo_list_shows_a_new_upload_at_once(app: Any, owner_client: Any) -> None:
    empty = owner_client.get("/photos/").get_data(as_text=True)
    assert "photo-grid" not in empty
    data = (FACES / "known/obama/obama1.jpg").read_bytes()
    from consentcam.services import photos as photo_service

    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo_service.ingest(s, rt, data, "obama.jpg")
        s.commit()
    assert "photo-grid" in owner_client.get("/photos/").get_data(as_text=True)


def test_roles_and_languages_get_their_own_parts(app: Any, users: dict[str, int]) -> None:
    person_id = add_person(app, "Åsa Öberg")
    owner = app.test_client()
    login(owner, "owner")
    staff = app.test_client()
    login(staff, "staff")
    swedish = app.test_client()
    login(swedish, "owner")
    assert "Record consent" in owner.get(f"/people/{person_id}").get_data(as_text=True)
    # The owner's rendering is remembered; the staff member must not get its owner-only buttons.
    staff_page = staff.get(f"/people/{person_id}").get_data(as_text=True)
    assert f"/people/{person_id}/edit" not in staff_page
    assert "Record consent" not in staff_page
    sv_page = swedish.get(f"/people/{person_id}", headers={"Accept-Language": "sv"}).get_data(
        as_text=True
    )
    assert "Registrera samtycke" in sv_page
    assert "Record consent" not in sv_page


@pytest.fixture
def csrf_app(instance: Path, runtime: Any) -> Any:
    from consentcam.web import create_app

    application = create_app(base_settings(instance, WTF_CSRF_ENABLED=True), instance_path=instance)
    yield application
    application.extensions["runtime"].close()


def _csrf_login(client: Any, role: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token
    email = f"{role}@example.com"
    from tests.conftest import OWNER_PASSWORD

    r = client.post(
        "/login", data={"email": email, "password": OWNER_PASSWORD, "csrf_token": token.group(1)}
    )
    assert r.status_code == 302


def _tokens(page: str) -> set[str]:
    return set(re.findall(r'name="csrf_token"[^>]*value="([^"]+)"', page))


def test_each_visitor_gets_their_own_csrf_token_in_a_remembered_part(csrf_app: Any) -> None:
    from consentcam.services import users as users_service

    rt = csrf_app.extensions["runtime"]
    with rt.sessions() as s:
        users_service.create_user(s, "owner@example.com", "Ann", "owner-password-123", role="owner")
        s.commit()
    person_id = add_person(csrf_app, "Åsa Öberg")
    give_consent(csrf_app, person_id, channels=["instagram"], biometric=True)
    first, second = csrf_app.test_client(), csrf_app.test_client()
    _csrf_login(first, "owner")
    _csrf_login(second, "owner")
    page_one = first.get(f"/people/{person_id}").get_data(as_text=True)
    page_two = second.get(f"/people/{person_id}").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page_two  # the reference form is in the part
    from consentcam.web.fragments import CSRF_PLACEHOLDER

    assert CSRF_PLACEHOLDER not in page_one + page_two
    # The second visitor's page carries only their own session's tokens ...
    form_token = re.search(
        r'reference[^"]*"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page_two
    )
    assert form_token
    # ... which the server accepts from them: the post gets past CSRF to the form's own check.
    response = second.post(
        f"/people/{person_id}/references", data={"csrf_token": form_token.group(1)}
    )
    assert response.status_code != 400, response.get_data(as_text=True)[:300]
    # The same token is refused from the first visitor's session.
    refused = first.post(
        f"/people/{person_id}/references", data={"csrf_token": form_token.group(1)}
    )
    assert refused.status_code == 400


def test_a_zero_time_limit_renders_every_request(instance: Path, runtime: Any) -> None:
    from consentcam.services import users as users_service
    from consentcam.web import create_app

    application = create_app(base_settings(instance, PAGE_CACHE_SECONDS=0), instance_path=instance)
    try:
        with runtime.sessions() as s:
            users_service.create_user(
                s, "owner@example.com", "Ann", "owner-password-123", role="owner"
            )
            s.commit()
        client = application.test_client()
        login(client, "owner")
        person_id = add_person(application, "Åsa Öberg")
        client.get(f"/people/{person_id}")
        _rename_without_event(runtime, person_id, "Britt Berg")
        assert "<h1>Britt Berg" in client.get(f"/people/{person_id}").get_data(as_text=True)
    finally:
        application.extensions["runtime"].close()


def test_a_process_remembers_a_bounded_number_of_answers(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(freshness, "MAX_ENTRIES", 3)
    cache: dict[str, Any] = {}
    made: list[int] = []
    with runtime.sessions() as s:
        for key in range(5):
            freshness.remembered(cache, key, s, lambda key=key: made.append(key) or key)
        assert list(cache["counts"]) == [2, 3, 4]  # the oldest were forgotten
        freshness.remembered(cache, 2, s, lambda: made.append(99) or 2)  # still remembered
        freshness.remembered(cache, 0, s, lambda: made.append(0) or 0)  # made again
    assert made == [0, 1, 2, 3, 4, 0]
    assert list(cache["counts"]) == [4, 2, 0]  # 2 was used, so 3 went first


def test_one_thread_renews_an_answer_the_others_serve_the_old_one_meanwhile(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the clock made it old: no second thread makes it at the same time."""
    import threading

    cache: dict[str, Any] = {}
    version = (1, 1, 0)
    with runtime.sessions() as s:
        freshness.remembered(cache, "k", s, lambda: "old", version=version)
    clock = freshness.time.monotonic
    monkeypatch.setattr(freshness.time, "monotonic", lambda: clock() + freshness.TTL_SECONDS + 1)
    started, release = threading.Event(), threading.Event()
    made: list[str] = []

    def slow() -> str:
        made.append("new")
        started.set()
        release.wait(10)
        return "new"

    answers: list[str] = []
    renewing = threading.Thread(
        target=lambda: answers.append(freshness.remembered(cache, "k", None, slow, version=version))  # type: ignore[arg-type]
    )
    renewing.start()
    assert started.wait(10)
    # While the first thread renews it, another request gets the old answer at once.
    assert freshness.remembered(cache, "k", None, slow, version=version) == "old"  # type: ignore[arg-type]
    release.set()
    renewing.join(10)
    assert answers == ["new"] and made == ["new"]


def test_after_a_write_the_others_wait_for_the_new_answer(runtime: Any) -> None:
    import threading

    cache: dict[str, Any] = {}
    freshness.remembered(cache, "k", None, lambda: "before", version=(1, 1, 0))  # type: ignore[arg-type]
    started, release = threading.Event(), threading.Event()
    made: list[str] = []

    def slow() -> str:
        made.append("after")
        started.set()
        release.wait(10)
        return "after"

    answers: list[str] = []

    def ask() -> None:
        answers.append(freshness.remembered(cache, "k", None, slow, version=(2, 1, 0)))  # type: ignore[arg-type]

    first = threading.Thread(target=ask)
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=ask)
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waiting: the answer from before the write must not be served
    release.set()
    first.join(10)
    second.join(10)
    assert answers == ["after", "after"] and made == ["after"]  # made once


def test_slow_counts_are_renewed_in_the_background_after_a_change(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts that take long to make (a large instance) do not make the next view wait: it
    shows the last counts while a background thread makes the new ones."""
    import threading

    monkeypatch.setattr(freshness, "SLOW_SECONDS", 0.0)  # every answer counts as slow here
    cache: dict[str, Any] = {}
    made: list[str] = []
    release = threading.Event()

    def first() -> str:
        made.append("in the request")
        return "before"

    def renewed() -> str:
        release.wait(10)
        made.append("in the background")
        return "after"

    v1, v2 = (1, 1, 0), (2, 1, 0)
    assert freshness.remembered(cache, "k", None, first, version=v1, background=renewed) == "before"  # type: ignore[arg-type]
    # After a change the request gets the last counts at once ...
    assert freshness.remembered(cache, "k", None, first, version=v2, background=renewed) == "before"  # type: ignore[arg-type]
    # ... and a second request meanwhile starts no second renewal.
    assert freshness.remembered(cache, "k", None, first, version=v2, background=renewed) == "before"  # type: ignore[arg-type]
    release.set()
    freshness.wait_for_renewals()
    assert freshness.remembered(cache, "k", None, first, version=v2, background=renewed) == "after"  # type: ignore[arg-type]
    assert made == ["in the request", "in the background"]


def test_quick_counts_are_made_again_in_the_request(runtime: Any) -> None:
    """On a small instance (counting is quick) a change shows in the very next view."""
    cache: dict[str, Any] = {}
    freshness.remembered(cache, "k", None, lambda: 1, version=(1, 1, 0), background=lambda: 99)  # type: ignore[arg-type]
    answer = freshness.remembered(
        cache,
        "k",
        None,  # type: ignore[arg-type]
        lambda: 2,
        version=(2, 1, 0),
        background=lambda: 99,
    )
    assert answer == 2


def test_the_photo_list_shows_counts_renewed_in_the_background(
    app: Any, owner_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentcam.services import photos as photo_service

    monkeypatch.setattr(freshness, "SLOW_SECONDS", 0.0)

    def waiting_count(page: str) -> int:
        found = re.search(r'state-scanning[^>]*>[^<]*<span class="count">(\d+)</span>', page)
        assert found, page[:2000]
        return int(found.group(1))

    assert waiting_count(owner_client.get("/photos/").get_data(as_text=True)) == 0
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo_service.ingest(s, rt, (FACES / "known/obama/obama1.jpg").read_bytes(), "new.jpg")
        s.commit()
    # The grid shows the new photo at once; its count may still be the last one.
    page = owner_client.get("/photos/").get_data(as_text=True)
    assert "new.jpg" in page and waiting_count(page) in (0, 1)
    freshness.wait_for_renewals()
    assert waiting_count(owner_client.get("/photos/").get_data(as_text=True)) == 1
