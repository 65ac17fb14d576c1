"""Refusals raised by the services read in Swedish on Swedish pages and stay English elsewhere."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consentcam.faces.decode import ImageRejected
from consentcam.services import photos, review
from consentcam.services.people import ConsentError
from consentcam.services.publishing import QueueError
from consentcam.wording import WordedError
from tests.conftest import FACES
from tests.web.people_helpers import add_person, signed_form
from tests.web.photo_helpers import photo_with_faces

SV = {"Accept-Language": "sv"}


def _photo_bytes() -> bytes:
    path = next(p for p in sorted(FACES.rglob("*.jpg")))
    return path.read_bytes()


def test_str_of_a_worded_error_is_the_english_text() -> None:
    exc = ConsentError("%(name)s is a minor: a guardian must sign", name="Liten Lisa")
    assert str(exc) == "Liten Lisa is a minor: a guardian must sign"
    assert exc.template == "%(name)s is a minor: a guardian must sign"
    assert exc.params == {"name": "Liten Lisa"}
    assert str(QueueError("give the time with its time zone")) == "give the time with its time zone"
    assert isinstance(exc, ValueError) and isinstance(exc, WordedError)


def test_the_service_still_refuses_in_english() -> None:
    with pytest.raises(ImageRejected) as caught:
        photos.check_extension("x.jpg.php")
    assert str(caught.value) == (
        "x.jpg.php: files ending in .php are not accepted "
        "(allowed: .jpg, .jpeg, .png, .webp, .heic, .heif)"
    )
    with pytest.raises(ImageRejected, match="files with no extension are not accepted"):
        photos.check_extension("photo")


def test_upload_page_refuses_in_swedish(owner_client: FlaskClient) -> None:
    data = _photo_bytes()
    page = owner_client.post(
        "/photos/upload",
        data={"photos": (io.BytesIO(data), "x.jpg.php")},
        content_type="multipart/form-data",
        headers=SV,
    ).get_data(as_text=True)
    assert "x.jpg.php: filer som slutar på .php tas inte emot" in page
    assert "are not accepted" not in page
    # The page's own script gets the same words.
    scripted = owner_client.post(
        "/photos/upload",
        data={"photos": (io.BytesIO(b"not a picture at all"), "notes.jpg")},
        content_type="multipart/form-data",
        headers={**SV, "Accept": "application/json"},
    )
    assert scripted.status_code == 422
    error = scripted.get_json()["results"][0]["error"]
    assert error.startswith("notes.jpg: ingen bild i ett format som stöds")


def test_upload_page_in_english_is_unchanged(owner_client: FlaskClient) -> None:
    response = owner_client.post(
        "/photos/upload",
        data={"photos": (io.BytesIO(b"not a picture at all"), "notes.jpg")},
        content_type="multipart/form-data",
        headers={"Accept-Language": "en", "Accept": "application/json"},
    )
    assert response.get_json()["results"][0]["error"].startswith("notes.jpg: not a supported image")


def test_consent_form_refuses_in_swedish(app: Flask, owner_client: FlaskClient) -> None:
    pid = add_person(app, "Liten Lisa")
    refused = owner_client.post(
        f"/people/{pid}/consents/new",
        data=signed_form("listed"),
        headers=SV,
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "ett samtycke för utvalda foton måste ange minst ett foto" in page
    assert "must list at least one photo" not in page


def test_blank_signature_is_refused_in_swedish(app: Flask, owner_client: FlaskClient) -> None:
    pid = add_person(app, "Åsa Öberg")
    page = owner_client.post(
        f"/people/{pid}/consents/new",
        data=signed_form(ink=False),
        headers=SV,
    ).get_data(as_text=True)
    assert "underskriften är blank: skriv under i rutan" in page
    assert "please sign in the box" not in page


def test_review_refuses_in_swedish(app: Flask, owner_client: FlaskClient) -> None:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        face_id = photo_with_faces(rt, s, 1).faces[0].id
    sv = owner_client.post(
        f"/photos/faces/{face_id}/confirm", data={}, headers=SV, follow_redirects=True
    ).get_data(as_text=True)
    assert "det finns inget förslag att bekräfta för det här ansiktet" in sv
    assert "has no suggestion to confirm" not in sv
    too_long = owner_client.post(
        f"/photos/faces/{face_id}/not-identifiable",
        data={"reason": "x" * (review.MAX_REASON + 1)},
        headers=SV,
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"håll anledningen under {review.MAX_REASON} tecken" in too_long
    en = owner_client.post(
        f"/photos/faces/{face_id}/confirm",
        data={},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "this face has no suggestion to confirm; choose a person instead" in en


def test_supplier_refuses_in_swedish(owner_client: FlaskClient) -> None:
    owner_client.post("/suppliers/new", data={"name": "Foto AB"})
    page = owner_client.post(
        "/suppliers/new", data={"name": "Foto AB"}, headers=SV, follow_redirects=True
    ).get_data(as_text=True)
    assert "det finns redan en leverantör som heter Foto AB" in page
    assert "there is already a supplier" not in page


@pytest.mark.parametrize(
    ("make", "swedish"),
    [
        (
            lambda: __import__("consentcam.services.removals", fromlist=["x"]).RemovalError(
                "removal task %(task)s was already closed", task=3
            ),
            "borttagning 3 är redan avslutad",
        ),
        (
            lambda: __import__("consentcam.services.privacy", fromlist=["x"]).ErasureRefused(
                4, [7, 9]
            ),
            "Personen syns fortfarande i inlägg som ligger ute (2: #7, #9)",
        ),
        (
            lambda: __import__("consentcam.services.audit", fromlist=["x"]).AuditError(
                "only the owner may sign an audit off"
            ),
            "bara ägaren kan signera en granskning",
        ),
        (
            lambda: __import__("consentcam.services.users", fromlist=["x"]).UserError(
                "there is already an account for %(email)s", email="a@b.se"
            ),
            "det finns redan ett konto för a@b.se",
        ),
        (
            lambda: __import__("consentcam.services.settings", fromlist=["x"]).SettingsError(
                "TIME_ZONE",
                "%(zone)s is not a time zone; write it like Europe/Stockholm.",
                zone="X",
            ),
            "X är ingen tidszon",
        ),
    ],
)
def test_refusals_of_removals_privacy_audit_users_and_settings_in_swedish(
    app: Flask, make: Callable[[], Exception], swedish: str
) -> None:
    from consentcam.web.words import error_text

    exc = make()
    assert isinstance(exc, WordedError)
    with app.test_request_context("/", headers=SV):
        assert swedish in error_text(exc)


def test_image_library_details_stay_out_of_swedish_refusals(app: Flask) -> None:
    from consentcam.web.words import error_text

    exc = ImageRejected(
        "%(name)s: the image data is damaged (%(detail)s)",
        name="bild.jpg",
        detail="broken data stream when reading image file",
    )
    with app.test_request_context("/", headers=SV):
        text = error_text(exc)
    assert text.startswith("bild.jpg: bilddatan är skadad") and "broken data stream" not in text
    assert "broken data stream" in str(exc)  # the English log and API keep the detail
