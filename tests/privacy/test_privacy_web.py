"""Export and erase pages: owner only, attachment download, refusal shown, erasure done."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consentcam.models import Face, Person, Photo, Publication, PublicationFace, utcnow
from consentcam.services import people
from tests.audit.scenario import evidence_bytes
from tests.conftest import login


@pytest.fixture
def person_id(app: Flask) -> int:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        p = people.add_person(s, "Åsa Öberg", email="asa@example.com")
        people.give_consent(
            s,
            rt,
            p,
            channels=["instagram"],
            evidence=evidence_bytes(),
            evidence_mime="image/jpeg",
            evidence_kind="scan",
        )
        s.commit()
        return p.id


@pytest.mark.parametrize("path", ["/people/{id}/export", "/people/{id}/erase"])
def test_owner_only(client: FlaskClient, users: dict[str, int], person_id: int, path: str) -> None:
    url = path.format(id=person_id)
    assert client.get(url).status_code == 302
    assert client.post(url).status_code in (302, 400)
    login(client, "staff")
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403


def test_export_download(owner_client: FlaskClient, person_id: int) -> None:
    page = owner_client.get(f"/people/{person_id}/export")
    assert "Åsa Öberg" in page.get_data(as_text=True)
    response = owner_client.post(f"/people/{person_id}/export")
    assert response.status_code == 200
    assert (
        response.headers["Content-Disposition"]
        == f'attachment; filename="person-{person_id}-export.zip"'
    )
    zf = zipfile.ZipFile(io.BytesIO(response.data))
    assert "Åsa Öberg" in zf.read("data.json").decode()
    assert owner_client.get("/people/9999/export").status_code == 404


def test_erase_needs_confirmation_then_erases(
    app: Flask, owner_client: FlaskClient, person_id: int
) -> None:
    owner_client.post(f"/people/{person_id}/erase", data={"confirm_id": "1234", "understood": "y"})
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        assert s.get(Person, person_id).erased_at is None
    done = owner_client.post(
        f"/people/{person_id}/erase",
        data={"confirm_id": str(person_id), "understood": "y"},
        follow_redirects=True,
    )
    assert "Erased" in done.get_data(as_text=True)
    with rt.sessions() as s:
        assert s.get(Person, person_id).name == f"Erased person #{person_id}"


def test_erase_refused_while_live(app: Flask, owner_client: FlaskClient, person_id: int) -> None:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = Photo(
            sha256="b" * 64,
            original_key="originals/y.jpg",
            original_name="y.jpg",
            format="JPEG",
            size_bytes=1,
            width=10,
            height=10,
            scan_state="done",
        )
        s.add(photo)
        s.flush()
        face = Face(
            photo_id=photo.id,
            number=1,
            left=1,
            top=1,
            right=5,
            bottom=5,
            state="confirmed",
            person_id=person_id,
        )
        pub = Publication(
            photo_id=photo.id,
            channel="instagram",
            publisher="manual",
            published_at=utcnow() - timedelta(hours=1),
        )
        s.add_all([face, pub])
        s.flush()
        s.add(
            PublicationFace(
                publication_id=pub.id, face_id=face.id, person_id=person_id, how="consent"
            )
        )
        s.commit()
    page = owner_client.get(f"/people/{person_id}/erase").get_data(as_text=True)
    assert "Withdraw their consent first" in page and 'name="confirm_id"' not in page
    refused = owner_client.post(
        f"/people/{person_id}/erase",
        data={"confirm_id": str(person_id), "understood": "y"},
        follow_redirects=True,
    )
    assert "Withdraw their consent first" in refused.get_data(as_text=True)
    with rt.sessions() as s:
        assert s.get(Person, person_id).erased_at is None
