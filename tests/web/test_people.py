"""People pages: list and search, a person's page, adding and editing, access control."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPICursor

from consentcam.models import Event, Person
from tests.conftest import login
from tests.web.people_helpers import add_person, give_consent


@pytest.mark.parametrize(
    "path", ["/people/", "/people/new", "/people/1", "/people/1/edit", "/people/1/consents/new"]
)
def test_anonymous_is_sent_to_sign_in(
    client: FlaskClient, users: dict[str, int], app: Flask, path: str
) -> None:
    add_person(app)
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "path",
    [
        "/people/new",
        "/people/{id}/edit",
        "/people/{id}/consents/new",
        "/people/{id}/form.pdf",
        "/people/{id}/consents/{cid}/evidence",
    ],
)
def test_staff_cannot_change_people_or_consent(
    staff_client: FlaskClient, app: Flask, path: str
) -> None:
    pid = add_person(app)
    cid = give_consent(app, pid)
    assert staff_client.get(path.format(id=pid, cid=cid)).status_code == 403


def test_staff_may_view_people(staff_client: FlaskClient, app: Flask) -> None:
    pid = add_person(app, "Bo Ek")
    give_consent(app, pid)
    listing = staff_client.get("/people/").get_data(as_text=True)
    assert "Bo Ek" in listing
    page = staff_client.get(f"/people/{pid}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Instagram" in html
    # Staff see the consent but get no links that change it or reveal evidence.
    assert f"/people/{pid}/consents/new" not in html
    assert "/evidence" not in html
    assert staff_client.post(f"/people/{pid}/edit", data={"name": "X"}).status_code == 403


def test_owner_adds_and_edits_a_person(owner_client: FlaskClient, app: Flask) -> None:
    assert owner_client.get("/people/new").status_code == 200
    bad = owner_client.post("/people/new", data={"name": ""})
    assert bad.status_code == 200
    response = owner_client.post(
        "/people/new", data={"name": "Karin Lind", "email": "karin@example.com"}
    )
    assert response.status_code == 302
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        person = s.scalar(sa.select(Person).where(Person.name == "Karin Lind"))
        assert person is not None and person.email == "karin@example.com"
        pid = person.id
    assert response.headers["Location"].endswith(f"/people/{pid}")
    assert owner_client.get(f"/people/{pid}/edit").status_code == 200
    response = owner_client.post(
        f"/people/{pid}/edit",
        data={"name": "Karin Lindqvist", "email": "karin@example.com", "is_minor": "y"},
    )
    assert response.status_code == 302
    with rt.sessions() as s:
        person = s.get(Person, pid)
        assert person.name == "Karin Lindqvist" and person.is_minor
        kinds = list(s.scalars(sa.select(Event.kind).where(Event.subject == f"person:{pid}")))
    assert kinds == ["person.added", "person.updated"]


def test_unknown_person_is_404(owner_client: FlaskClient) -> None:
    assert owner_client.get("/people/9999").status_code == 404


def test_search_and_pages(owner_client: FlaskClient, app: Flask) -> None:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        for i in range(60):
            s.add(Person(name=f"Person {i:03d}", email=f"p{i}@example.com"))
        s.add(Person(name="Märta Sjöberg", email="marta@studio.se"))
        s.commit()
    first = owner_client.get("/people/").get_data(as_text=True)
    assert "61 people" in first and "Page 1 of 2" in first
    second = owner_client.get("/people/?page=2").get_data(as_text=True)
    assert "Person 059" in second and "Person 000" not in second
    found = owner_client.get("/people/?q=studio.se").get_data(as_text=True)
    assert "Märta Sjöberg" in found and "Person 001" not in found
    assert "1 person" in found
    none = owner_client.get("/people/?q=nobody-like-this").get_data(as_text=True)
    assert "Nobody matches" in none


def test_people_list_uses_a_fixed_number_of_queries(owner_client: FlaskClient, app: Flask) -> None:
    """With 2,000 people the list costs the same few queries as with 10 (no query per person)."""
    rt = app.extensions["runtime"]

    def count_queries() -> int:
        statements: list[str] = []

        def before(conn: sa.Connection, cursor: DBAPICursor, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(rt.engine, "before_cursor_execute", before)
        try:
            assert owner_client.get("/people/").status_code == 200
        finally:
            event.remove(rt.engine, "before_cursor_execute", before)
        return len(statements)

    with rt.sessions() as s:
        s.add_all(Person(name=f"Few {i}") for i in range(10))
        s.commit()
    few = count_queries()
    with rt.sessions() as s:
        s.add_all(Person(name=f"Many {i:04d}") for i in range(1990))
        s.commit()
    pid = add_person(app, "Aaron First")
    give_consent(app, pid)
    many = count_queries()
    assert many == few


def test_person_page_shows_consent_states_and_withdraw_slot(
    owner_client: FlaskClient, app: Flask
) -> None:
    pid = add_person(app, "Eva Berg")
    give_consent(app, pid, channels=["instagram", "print"], biometric=True)
    html = owner_client.get(f"/people/{pid}").get_data(as_text=True)
    assert "Active" in html and "Instagram" in html and "Print" in html
    assert "Agreed" in html
    assert "Upload reference photo" in html
    if "withdrawals.new" in app.view_functions:
        assert "Withdraw consent" in html


def test_person_page_explains_missing_biometric_consent(
    owner_client: FlaskClient, app: Flask
) -> None:
    pid = add_person(app, "Olle Ström")
    give_consent(app, pid, biometric=False)
    html = owner_client.get(f"/people/{pid}").get_data(as_text=True)
    assert "Upload reference photo" not in html
    assert "has not given (or has withdrawn)" in html


def test_swedish_people_pages(owner_client: FlaskClient, app: Flask) -> None:
    pid = add_person(app, "Eva Berg")
    give_consent(app, pid)
    owner_client.post("/language/sv", data={"next": "/people/"})
    listing = owner_client.get("/people/").get_data(as_text=True)
    assert "Personer" in listing and "Lägg till en person" in listing
    page = owner_client.get(f"/people/{pid}").get_data(as_text=True)
    assert "Samtycke" in page and "Registrera samtycke" in page
    form = owner_client.get(f"/people/{pid}/consents/new").get_data(as_text=True)
    assert "Automatisk ansiktsigenkänning" in form


def test_person_page_counts_reference_faces_without_loading_templates(
    owner_client: FlaskClient, app: Flask
) -> None:
    from consentcam.models import ReferenceFace

    pid = add_person(app, "Eva Berg")
    give_consent(app, pid, biometric=True)
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        s.add_all(
            ReferenceFace(person_id=pid, template=rt.vault.encrypt(bytes(1024))) for _ in range(3)
        )
        s.commit()
    statements: list[str] = []

    def before(conn: sa.Connection, cursor: DBAPICursor, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(rt.engine, "before_cursor_execute", before)
    try:
        html = owner_client.get(f"/people/{pid}").get_data(as_text=True)
    finally:
        event.remove(rt.engine, "before_cursor_execute", before)
    assert "3 reference faces enrolled." in html
    touching = [s for s in statements if "reference_face" in s and "FROM reference_face" in s]
    assert touching, "the count comes from the reference_face table"
    assert all("count(" in s.lower() for s in touching), touching
    assert not any("reference_face.template" in s for s in statements)


def test_person_page_links_the_owner_to_export_and_erasure(
    client: FlaskClient, users: dict[str, int], app: Flask
) -> None:
    pid = add_person(app, "Eva Berg")
    give_consent(app, pid)
    login(client, "owner")
    owner_client = client
    html = owner_client.get(f"/people/{pid}").get_data(as_text=True)
    export = f'href="/people/{pid}/export"'
    erase = f'href="/people/{pid}/erase"'
    assert export in html and "Download everything about this person (ZIP)" in html
    assert erase in html and "Erase this person" in html
    # The links lead to the privacy pages themselves.
    assert owner_client.get(f"/people/{pid}/export").status_code == 200
    assert owner_client.get(f"/people/{pid}/erase").status_code == 200
    staff_client = app.test_client()
    login(staff_client, "staff")
    staff_html = staff_client.get(f"/people/{pid}").get_data(as_text=True)
    assert export not in staff_html and erase not in staff_html
    assert "Erase this person" not in staff_html
    assert staff_client.get(f"/people/{pid}/erase").status_code == 403


def test_person_page_counts_the_chosen_photos_of_each_consent(
    owner_client: FlaskClient, app: Flask
) -> None:
    from tests.web.photo_helpers import photo_with_faces

    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        names = ("unknown/obama1.jpg", "unknown/obama3.jpg", "unknown/johnsnow_test1.jpg")
        photo_ids = [photo_with_faces(rt, s, 1, rel).id for rel in names]
        s.commit()
    pid = add_person(app, "Lina Holm")
    give_consent(app, pid, scope="listed", photo_ids=photo_ids[:2])
    give_consent(app, pid, channels=["facebook"])
    html = owner_client.get(f"/people/{pid}").get_data(as_text=True)
    assert "2 chosen photos" in html
    assert "All photos" in html
    assert "3 chosen photos" not in html
