"""Every page is made from the database on every request: a write made in another process
shows on the next request, and no page is shared across roles, languages or visitors' CSRF
tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consentcam.models import Person
from consentcam.runtime import Runtime
from tests.conftest import FACES, base_settings, login
from tests.web.people_helpers import add_person, give_consent


def test_a_write_in_another_process_shows_on_the_next_request(
    app: Flask, owner_client: FlaskClient, runtime: Runtime
) -> None:
    """``runtime`` is a second Runtime on the same database, as another process would be."""
    person_id = add_person(app, "Åsa Öberg")
    before = owner_client.get(f"/people/{person_id}").get_data(as_text=True)
    assert "Instagram" not in before.split('id="refs-h"')[0]
    with runtime.sessions() as s:
        from consentcam.services import people

        person = s.get(Person, person_id)
        assert person is not None
        people.update_person(s, person, name="Åsa Lind")  # records an event
        s.commit()
    after = owner_client.get(f"/people/{person_id}").get_data(as_text=True)
    assert "<h1>Åsa Lind" in after
    # A consent given elsewhere shows at once.
    give_consent(app, person_id, channels=["instagram"])
    assert "Instagram" in owner_client.get(f"/people/{person_id}").get_data(as_text=True)


def test_the_photo_list_shows_a_new_upload_at_once(app: Flask, owner_client: FlaskClient) -> None:
    empty = owner_client.get("/photos/").get_data(as_text=True)
    assert "photo-grid" not in empty
    data = (FACES / "known/obama/obama1.jpg").read_bytes()
    from consentcam.services import photos as photo_service

    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo_service.ingest(s, rt, data, "obama.jpg")
        s.commit()
    assert "photo-grid" in owner_client.get("/photos/").get_data(as_text=True)


def test_roles_and_languages_get_their_own_pages(app: Flask, users: dict[str, int]) -> None:
    person_id = add_person(app, "Åsa Öberg")
    owner = app.test_client()
    login(owner, "owner")
    staff = app.test_client()
    login(staff, "staff")
    swedish = app.test_client()
    login(swedish, "owner")
    assert "Record consent" in owner.get(f"/people/{person_id}").get_data(as_text=True)
    # The staff member does not get the owner-only buttons.
    staff_page = staff.get(f"/people/{person_id}").get_data(as_text=True)
    assert f"/people/{person_id}/edit" not in staff_page
    assert "Record consent" not in staff_page
    sv_page = swedish.get(f"/people/{person_id}", headers={"Accept-Language": "sv"}).get_data(
        as_text=True
    )
    assert "Registrera samtycke" in sv_page
    assert "Record consent" not in sv_page


@pytest.fixture
def csrf_app(instance: Path, runtime: Runtime) -> Iterator[Flask]:
    from consentcam.web import create_app

    application = create_app(base_settings(instance, WTF_CSRF_ENABLED=True), instance_path=instance)
    yield application
    application.extensions["runtime"].close()


def _csrf_login(client: FlaskClient, role: str) -> None:
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


def test_each_visitor_gets_their_own_csrf_token(csrf_app: Flask) -> None:
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
    assert 'enctype="multipart/form-data"' in page_two  # the reference form is on the page
    assert not _tokens(page_one) & _tokens(page_two)  # no visitor sees another's token
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
