"""Suppliers: list, add, permissions with documents, revoke, and marking a photo's supplier."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentcam.models import Event, Photo, Supplier, SupplierPermission
from tests.web.people_helpers import PDF_SCAN, jpeg_scan


def _supplier(app: Flask, name: str = "Fotograf Nord AB") -> int:
    from consentcam.services import suppliers

    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        supplier = suppliers.add_supplier(s, name)
        s.commit()
        return supplier.id


def _permission(app: Flask, sid: int, document: bytes | None = PDF_SCAN) -> int:
    from consentcam.services import suppliers

    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        p = suppliers.add_permission(
            s,
            rt,
            s.get(Supplier, sid),
            channels=["instagram"],
            valid_from=datetime(2025, 1, 1, tzinfo=UTC),
            document=document,
            document_mime="application/pdf" if document else None,
        )
        s.commit()
        return p.id


def _photo(app: Flask) -> int:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = Photo(
            sha256="a" * 64,
            original_key="originals/x.jpg",
            original_name="x.jpg",
            format="JPEG",
            size_bytes=1,
            width=10,
            height=10,
        )
        s.add(photo)
        s.commit()
        return photo.id


def test_anonymous_is_sent_to_sign_in(client: FlaskClient, users: dict[str, int]) -> None:
    for path in ("/suppliers/", "/suppliers/new", "/suppliers/1"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_staff_views_but_cannot_change(staff_client: FlaskClient, app: Flask) -> None:
    sid = _supplier(app)
    pid = _permission(app, sid)
    photo = _photo(app)
    assert staff_client.get("/suppliers/").status_code == 200
    page = staff_client.get(f"/suppliers/{sid}")
    assert page.status_code == 200 and "/document" not in page.get_data(as_text=True)
    assert staff_client.get("/suppliers/new").status_code == 403
    assert staff_client.get(f"/suppliers/{sid}/permissions/new").status_code == 403
    assert staff_client.post(f"/suppliers/permissions/{pid}/revoke").status_code == 403
    assert staff_client.get(f"/suppliers/permissions/{pid}/document").status_code == 403
    assert (
        staff_client.post(
            "/suppliers/assign-photo", data={"photo_id": photo, "supplier_id": sid}
        ).status_code
        == 403
    )


def test_owner_adds_supplier_and_permission(owner_client: FlaskClient, app: Flask) -> None:
    assert owner_client.get("/suppliers/new").status_code == 200
    response = owner_client.post(
        "/suppliers/new", data={"name": "Studio Syd", "contact": "syd@example.com"}
    )
    assert response.status_code == 302
    again = owner_client.post("/suppliers/new", data={"name": "Studio Syd"})
    assert "already a supplier" in again.get_data(as_text=True)
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        sid = s.scalar(sa.select(Supplier.id).where(Supplier.name == "Studio Syd"))
    assert owner_client.get(f"/suppliers/{sid}/permissions/new").status_code == 200
    scan = jpeg_scan()
    response = owner_client.post(
        f"/suppliers/{sid}/permissions/new",
        data={
            "channels": ["instagram", "facebook"],
            "valid_from": "2026-01-01",
            "valid_until": "2026-12-31",
            "document": (io.BytesIO(scan), "perm.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:1500]
    with rt.sessions() as s:
        [perm] = s.scalars(
            sa.select(SupplierPermission).where(SupplierPermission.supplier_id == sid)
        )
        assert perm.channel_list == ["instagram", "facebook"]
        assert perm.valid_until == datetime(2027, 1, 1, tzinfo=UTC)
        assert perm.document_mime == "image/jpeg"
        kinds = list(s.scalars(sa.select(Event.kind).where(Event.subject == f"supplier:{sid}")))
    assert kinds == ["supplier.added", "supplier_permission.added"]
    assert scan not in rt.storage.read(perm.document_key)
    download = owner_client.get(f"/suppliers/permissions/{perm.id}/document")
    assert download.status_code == 200 and download.data == scan
    assert download.headers["Content-Disposition"].startswith("attachment;")
    listing = owner_client.get("/suppliers/").get_data(as_text=True)
    assert "Studio Syd" in listing


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"valid_from": "2026-01-01"}, "at least one channel"),
        (
            {"channels": ["instagram"], "valid_from": "2026-05-01", "valid_until": "2026-01-01"},
            "after",
        ),
        (
            {
                "channels": ["instagram"],
                "valid_from": "2026-01-01",
                "document": (io.BytesIO(b"GIF89a..."), "x.gif"),
            },
            "PDF, JPEG or PNG",
        ),
        ({"channels": ["instagram"]}, "correct the marked fields"),
    ],
)
def test_bad_permission_is_refused(
    owner_client: FlaskClient, app: Flask, data: dict[str, Any], message: str
) -> None:
    sid = _supplier(app)
    response = owner_client.post(
        f"/suppliers/{sid}/permissions/new", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count(SupplierPermission.id))) == 0
    assert list(rt.storage.keys("evidence")) == []


@pytest.mark.parametrize(
    ("document", "english", "swedish"),
    [
        (
            b"\xff\xd8\xff" + b"not really a photo",
            "the document cannot be read as an image",
            "dokumentet går inte att läsa som bild",
        ),
        (
            b"GIF89a...",
            "The document must be a PDF, JPEG or PNG file.",
            "Dokumentet måste vara en PDF-, JPEG- eller PNG-fil.",
        ),
    ],
)
def test_a_bad_document_is_refused_in_the_readers_language(
    owner_client: FlaskClient, app: Flask, document: bytes, english: str, swedish: str
) -> None:
    """The checks of a consent's scan name the supplier's document as a document, in Swedish too."""
    sid = _supplier(app)
    for language, words, other in (("en", english, swedish), ("sv", swedish, english)):
        response = owner_client.post(
            f"/suppliers/{sid}/permissions/new",
            data={
                "channels": ["instagram"],
                "valid_from": "2026-01-01",
                "document": (io.BytesIO(document), "permission.jpg"),
            },
            content_type="multipart/form-data",
            headers={"Accept-Language": language},
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert words in page and other not in page
        assert "the scan" not in page and "inskannade blanketten" not in page


def test_the_service_words_a_document_as_a_document() -> None:
    from consentcam.services import suppliers
    from consentcam.services.suppliers import SupplierError

    with pytest.raises(SupplierError) as caught:
        suppliers.document_type(b"GIF89a...")
    assert caught.value.template == "The document must be a PDF, JPEG or PNG file."


def test_revoke_permission(owner_client: FlaskClient, app: Flask) -> None:
    sid = _supplier(app)
    pid = _permission(app, sid)
    assert owner_client.post(f"/suppliers/permissions/{pid}/revoke").status_code == 302
    assert owner_client.post(f"/suppliers/permissions/{pid}/revoke").status_code == 302
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        assert s.get(SupplierPermission, pid).revoked_at is not None
        kinds = list(
            s.scalars(sa.select(Event.kind).where(Event.kind == "supplier_permission.revoked"))
        )
    assert len(kinds) == 1
    assert "Revoked" in owner_client.get(f"/suppliers/{sid}").get_data(as_text=True)


def test_tampered_document_is_refused(owner_client: FlaskClient, app: Flask) -> None:
    sid = _supplier(app)
    pid = _permission(app, sid)
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        key = s.get(SupplierPermission, pid).document_key
    rt.storage.write_atomic(rt.storage.path(key), rt.vault.encrypt(b"%PDF- other"))
    response = owner_client.get(f"/suppliers/permissions/{pid}/document")
    assert response.status_code == 500 and "cannot be trusted" in response.get_data(as_text=True)


def test_assign_photo_to_supplier(owner_client: FlaskClient, app: Flask) -> None:
    sid = _supplier(app)
    photo = _photo(app)
    response = owner_client.post(
        "/suppliers/assign-photo",
        data={"photo_id": photo, "supplier_id": sid, "next": "/suppliers/"},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/suppliers/")
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        assert s.get(Photo, photo).supplier_id == sid
    owner_client.post("/suppliers/assign-photo", data={"photo_id": photo, "supplier_id": ""})
    with rt.sessions() as s:
        assert s.get(Photo, photo).supplier_id is None
        kinds = list(s.scalars(sa.select(Event.kind).where(Event.subject == f"photo:{photo}")))
    assert kinds == ["photo.supplier_set", "photo.supplier_set"]
    assert (
        owner_client.post(
            "/suppliers/assign-photo", data={"photo_id": 999, "supplier_id": sid}
        ).status_code
        == 404
    )
    assert (
        owner_client.post(
            "/suppliers/assign-photo", data={"photo_id": photo, "supplier_id": "x"}
        ).status_code
        == 400
    )
    missing = owner_client.post(
        "/suppliers/assign-photo",
        data={"photo_id": photo, "supplier_id": "555"},
        follow_redirects=True,
    )
    assert "no supplier 555" in missing.get_data(as_text=True)


def test_swedish_supplier_page(owner_client: FlaskClient, app: Flask) -> None:
    owner_client.post("/language/sv", data={"next": "/suppliers/"})
    html = owner_client.get("/suppliers/").get_data(as_text=True)
    assert "Leverantörer" in html


def test_the_photo_pages_supplier_box_posts_what_the_handler_reads(
    owner_client: FlaskClient, app: Flask
) -> None:
    """The box on the photo page sent photo_id in the address while the handler read the form
    body: a bare 404. Submit exactly what the page's form holds."""
    import re

    sid = _supplier(app)
    photo = _photo(app)
    html = owner_client.get(f"/photos/{photo}").get_data(as_text=True)
    form = re.search(
        r'<form method="post" action="(/suppliers/assign-photo[^"]*)">(.*?)</form>', html, re.S
    )
    assert form is not None
    action, body = form.group(1), form.group(2)
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', body))
    assert fields.get("photo_id") == str(photo) and "?" not in action
    fields["supplier_id"] = str(sid)
    response = owner_client.post(action, data=fields)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/photos/{photo}")
    with app.extensions["runtime"].sessions() as s:
        assert s.get(Photo, photo).supplier_id == sid
