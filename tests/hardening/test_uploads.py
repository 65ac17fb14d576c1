"""Hostile uploads through the service, the JSON API and the upload page: refused, nothing kept."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy.orm import Session

from consentcam.faces.decode import ImageRejected
from consentcam.models import Event, Photo
from consentcam.runtime import Runtime
from consentcam.services import photos
from tests.hardening import hostile
from tests.hardening.helpers import multipart


def _counts(rt: Runtime) -> tuple[int, int, int]:
    with rt.sessions() as s:
        rows = s.scalar(sa.select(sa.func.count(Photo.id))) or 0
        uploads = s.scalar(
            sa.select(sa.func.count()).select_from(Event).where(Event.kind == "photo.uploaded")
        )
    return rows, len(hostile.stored_files(Path(rt.settings["MEDIA_DIR"]))), uploads or 0


@pytest.fixture
def token(app: Flask, users: dict[str, int]) -> str:
    """A bearer token of the owner."""
    from tests.hardening.helpers import owner_token

    return owner_token(app, users)


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [pytest.param(n, d, w, id=i) for i, n, d, w in hostile.REFUSED],
)
def test_hostile_file_is_refused_by_the_service(
    runtime: Runtime, session: Session, name: str, data: bytes, words: str
) -> None:
    with pytest.raises(ImageRejected) as caught:
        photos.ingest(session, runtime, data, name, source="upload", user=None)
    session.rollback()
    assert words.lower() in str(caught.value).lower()
    assert _counts(runtime) == (0, 0, 0)


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [pytest.param(n, d, w, id=i) for i, n, d, w in hostile.REFUSED],
)
def test_hostile_file_is_refused_by_the_api(
    app: Flask, client: FlaskClient, token: str, name: str, data: bytes, words: str
) -> None:
    response = client.post(
        "/api/v1/photos",
        data={"photos": (io.BytesIO(data), name)},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert words.lower() in response.get_json()["error"].lower()
    assert _counts(app.extensions["runtime"]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [pytest.param(n, d, w, id=i) for i, n, d, w in hostile.REFUSED],
)
def test_hostile_file_is_refused_by_the_upload_page(
    app: Flask, owner_client: FlaskClient, name: str, data: bytes, words: str
) -> None:
    response = owner_client.post(
        "/photos/upload",
        data={"photos": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    result = response.get_json()["results"][0]
    assert result["status"] == "rejected" and words.lower() in result["error"].lower()
    assert _counts(app.extensions["runtime"]) == (0, 0, 0)


@pytest.mark.parametrize("name", ["a.JPG", "b.jpeg", "c.Png", "d.webp", "e.HEIC", "f.heif"])
def test_allowed_extensions_case_insensitive(name: str) -> None:
    photos.check_extension(name)


@pytest.mark.parametrize(
    "name", ["x.jpg.php", "x.php", "x", "x.jpg.", "x.svg", "x.gif", "x.jpg%00"]
)
def test_refused_extensions(name: str) -> None:
    with pytest.raises(ImageRejected):
        photos.check_extension(name)


def test_png_polyglot_is_accepted_but_stored_without_its_payload(
    app: Flask, client: FlaskClient, token: str
) -> None:
    data = hostile.png_polyglot()
    assert hostile.PAYLOAD in data
    with Image.open(io.BytesIO(data)) as im:  # it really is a valid PNG
        im.load()
    response = client.post(
        "/api/v1/photos",
        data={"photos": (io.BytesIO(data), "poly.png")},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["results"][0]["status"] == "created"
    rt = app.extensions["runtime"]
    files = hostile.stored_files(Path(rt.settings["MEDIA_DIR"]))
    assert files, "the photo and its thumbnail are stored"
    for path in files:
        content = path.read_bytes()
        assert b"<?php" not in content and b"<script" not in content
        assert path.name != "poly.png" and "poly" not in path.name
    with rt.sessions() as s:
        photo = s.scalars(sa.select(Photo)).one()
        stored = rt.storage.read(photo.original_key)
    assert photo.original_key.endswith(".jpg")
    with Image.open(io.BytesIO(stored)) as im:
        assert im.size == (64, 48) and "Comment" not in im.info


def test_reencode_keeps_alpha_as_png_and_drops_metadata(runtime: Runtime, session: Session) -> None:
    out = io.BytesIO()
    im = Image.new("RGBA", (40, 30), (10, 200, 30, 128))
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    im.save(out, "PNG", exif=exif.tobytes())
    ingested = photos.ingest(session, runtime, out.getvalue(), "a.png", source="upload", user=None)
    session.commit()
    assert ingested.photo.sha256 == __import__("hashlib").sha256(out.getvalue()).hexdigest()
    stored = runtime.storage.read(ingested.photo.original_key)
    assert ingested.photo.original_key.endswith(".png")
    with Image.open(io.BytesIO(stored)) as clean:
        assert clean.mode == "RGBA" and clean.size == (40, 30)
        assert "exif" not in clean.info and not clean.getexif()


def test_reencode_applies_orientation_and_drops_gps_and_icc(
    runtime: Runtime, session: Session
) -> None:
    from PIL import ImageCms

    src = Image.new("RGB", (60, 20), (250, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    exif[0x8825] = {1: "N", 2: (59.0, 19.0, 0.0)}  # GPS
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    src.save(out, "JPEG", exif=exif.tobytes(), icc_profile=icc, quality=95)
    photo = photos.ingest(
        session, runtime, out.getvalue(), "p.jpg", source="upload", user=None
    ).photo
    session.commit()
    stored = runtime.storage.read(photo.original_key)
    with Image.open(io.BytesIO(stored)) as clean:
        assert clean.size == (20, 60) == (photo.width, photo.height)
        assert "icc_profile" not in clean.info and "exif" not in clean.info
        assert not clean.getexif()
    assert b"Exif" not in stored[:200]


def test_body_over_the_size_limit_is_413(
    instance: Path, runtime: Runtime, settings: dict[str, object], users: dict[str, int]
) -> None:
    from consentcam.web import create_app
    from tests.conftest import login

    app = create_app({**settings, "MAX_CONTENT_LENGTH": 1024 * 1024}, instance_path=instance)
    client = app.test_client()
    login(client, "owner")
    body, ctype = multipart(files=[("photos", "big.jpg", b"\xff\xd8" + b"0" * (2 * 1024 * 1024))])
    page = client.post("/photos/upload", data=body, content_type=ctype)
    assert page.status_code == 413
    assert "too large" in page.get_data(as_text=True).lower()
    api = client.post(
        "/photos/upload", data=body, content_type=ctype, headers={"Accept": "application/json"}
    )
    assert api.status_code == 413 and "too large" in api.get_json()["error"].lower()
    assert _counts(app.extensions["runtime"]) == (0, 0, 0)
    app.extensions["runtime"].close()


def test_max_upload_mb_sets_the_request_limit(app: Flask) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == app.config["MAX_UPLOAD_MB"] * 1024 * 1024


def test_two_thousand_form_parts_are_413(app: Flask, owner_client: FlaskClient, token: str) -> None:
    body, ctype = multipart(fields={f"f{i}": "x" for i in range(2000)})
    page = owner_client.post("/photos/upload", data=body, content_type=ctype)
    assert page.status_code == 413
    api = owner_client.post(
        "/api/v1/photos",
        data=body,
        content_type=ctype,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 413 and "error" in api.get_json()
    assert _counts(app.extensions["runtime"]) == (0, 0, 0)


def test_form_memory_limit_is_413(app: Flask, owner_client: FlaskClient) -> None:
    # A non-file field larger than MAX_FORM_MEMORY_SIZE (2 MB) must not be buffered.
    body, ctype = multipart(fields={"note": "x" * (3 * 1024 * 1024)})
    response = owner_client.post("/photos/upload", data=body, content_type=ctype)
    assert response.status_code == 413
