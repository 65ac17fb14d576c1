"""Recording consent on the web: signature or scan, the form version, evidence, PDF form, references."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentcam.models import ConsentRecord, Event, Person, ReferenceFace, ReferenceUpload
from tests.conftest import FACES
from tests.web.people_helpers import (
    PDF_SCAN,
    add_person,
    data_url,
    give_consent,
    jpeg_scan,
    signature_png,
    signed_form,
)


def _records(app: Flask, pid: int) -> list[ConsentRecord]:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        return list(s.scalars(sa.select(ConsentRecord).where(ConsentRecord.person_id == pid)))


def _evidence_files(app: Flask) -> list[str]:
    return list(app.extensions["runtime"].storage.keys("evidence"))


def test_consent_form_shows_the_exact_form_text(owner_client: FlaskClient, app: Flask) -> None:
    from consentcam.services.people import form_text

    pid = add_person(app)
    rt = app.extensions["runtime"]
    html = owner_client.get(f"/people/{pid}/consents/new?lang=sv").get_data(as_text=True)
    text = form_text(rt, "sv")
    assert "Kraftkällan" in text
    # Jinja escapes the text; compare on a line without characters that need escaping.
    assert text.splitlines()[0] in html
    assert "sv-v1" in html
    assert "signature.js" in html and "<script>" not in html
    english = owner_client.get(f"/people/{pid}/consents/new?lang=en").get_data(as_text=True)
    assert form_text(rt, "en").splitlines()[0] in english and "en-v1" in english


def test_owner_records_a_signed_consent(owner_client: FlaskClient, app: Flask) -> None:
    pid = add_person(app, "Eva Berg")
    png = signature_png()
    response = owner_client.post(
        f"/people/{pid}/consents/new",
        data={
            "language": "sv",
            "channels": ["instagram", "website"],
            "scope": "all",
            "expires_on": "2031-05-31",
            "signer_name": "Eva Berg",
            "biometric": "y",
            "evidence_kind": "signature",
            "signature": data_url(png),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    [record] = _records(app, pid)
    assert record.evidence_kind == "signature" and record.evidence_mime == "image/png"
    assert record.evidence_sha256 == hashlib.sha256(png).hexdigest()
    assert record.biometric and record.scope == "all"
    assert record.expires_at is not None and record.expires_at.date().isoformat() == "2031-06-01"
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        rec = s.get(ConsentRecord, record.id)
        assert rec.form_version.language == "sv" and rec.form_version.version == 1
        assert sorted(c.channel for c in rec.channels) == ["instagram", "website"]
        kinds = list(s.scalars(sa.select(Event.kind).where(Event.subject == f"person:{pid}")))
    assert "consent.given" in kinds
    # The stored evidence is encrypted: the PNG bytes are not on disk in the clear.
    [key] = _evidence_files(app)
    assert png not in rt.storage.read(key)
    # The owner downloads it as an attachment, byte for byte.
    download = owner_client.get(f"/people/{pid}/consents/{record.id}/evidence")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.data == png


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (data_url(signature_png(ink=False)), "blank"),
        ("data:image/png;base64," + "QUJD", "not a PNG"),
        ("", "empty"),
        ("data:image/jpeg;base64,/9j/4AAQ", "not a PNG"),
        (data_url(signature_png(20, 20)), "pixels"),
        (data_url(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20), "cannot be read"),
    ],
)
def test_bad_signatures_are_refused_and_nothing_stored(
    owner_client: FlaskClient, app: Flask, signature: str, message: str
) -> None:
    pid = add_person(app)
    response = owner_client.post(
        f"/people/{pid}/consents/new",
        data={
            "channels": ["instagram"],
            "scope": "all",
            "evidence_kind": "signature",
            "signature": signature,
        },
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _records(app, pid) == []
    assert _evidence_files(app) == []


@pytest.mark.parametrize(
    ("content", "ok"),
    [
        (jpeg_scan(), True),
        (PDF_SCAN, True),
        (b"MZ not a document at all", False),
        (b"%PDX-1.4", False),
    ],
)
def test_scan_evidence_checked_by_content(
    owner_client: FlaskClient, app: Flask, content: bytes, ok: bool
) -> None:
    pid = add_person(app)
    response = owner_client.post(
        f"/people/{pid}/consents/new",
        data={
            "channels": ["facebook"],
            "scope": "all",
            "evidence_kind": "scan",
            "scan": (io.BytesIO(content), "form.pdf"),
        },
        content_type="multipart/form-data",
    )
    records = _records(app, pid)
    if ok:
        assert response.status_code == 302
        assert records[0].evidence_kind == "scan"
        assert records[0].evidence_mime in ("image/jpeg", "application/pdf")
    else:
        assert response.status_code == 422
        assert "PDF, JPEG or PNG" in response.get_data(as_text=True)
        assert records == [] and _evidence_files(app) == []


def test_minor_needs_a_guardian(owner_client: FlaskClient, app: Flask) -> None:
    pid = add_person(app, "Liten Lisa")
    base = signed_form(minor="y")
    refused = owner_client.post(f"/people/{pid}/consents/new", data=base)
    assert refused.status_code == 422 and "guardian" in refused.get_data(as_text=True)
    accepted = owner_client.post(
        f"/people/{pid}/consents/new", data={**base, "guardian_name": "Mamma Lind"}
    )
    assert accepted.status_code == 302
    [record] = _records(app, pid)
    assert record.signed_by_guardian and record.signer_name == "Mamma Lind"
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        assert s.get(Person, pid).is_minor


def test_listed_scope_needs_existing_photos(owner_client: FlaskClient, app: Flask) -> None:
    pid = add_person(app)
    base = signed_form("listed")
    none = owner_client.post(f"/people/{pid}/consents/new", data=base)
    assert none.status_code == 422 and "at least one photo" in none.get_data(as_text=True)
    ghost = owner_client.post(f"/people/{pid}/consents/new", data={**base, "photo_ids": ["777"]})
    assert ghost.status_code == 422 and "do not exist" in ghost.get_data(as_text=True)
    assert _records(app, pid) == []


def test_changed_form_text_must_be_read_again(owner_client: FlaskClient, app: Flask) -> None:
    pid = add_person(app)
    response = owner_client.post(
        f"/people/{pid}/consents/new",
        data=signed_form(form_sha256="0" * 64),
    )
    assert response.status_code == 422 and "form text changed" in response.get_data(as_text=True)


def test_tampered_evidence_is_refused(
    owner_client: FlaskClient, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    pid = add_person(app)
    cid = give_consent(app, pid)
    rt = app.extensions["runtime"]
    [record] = _records(app, pid)
    rt.storage.write_atomic(rt.storage.path(record.evidence_key), rt.vault.encrypt(b"another file"))
    response = owner_client.get(f"/people/{pid}/consents/{cid}/evidence")
    assert response.status_code == 500
    assert "cannot be trusted" in response.get_data(as_text=True)
    assert any("does not match its recorded SHA-256" in r.getMessage() for r in caplog.records)


def test_evidence_of_another_person_is_404(owner_client: FlaskClient, app: Flask) -> None:
    a = add_person(app, "A")
    b = add_person(app, "B")
    cid = give_consent(app, a)
    assert owner_client.get(f"/people/{b}/consents/{cid}/evidence").status_code == 404


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_printable_form_pdf(owner_client: FlaskClient, app: Flask, lang: str) -> None:
    from pypdf import PdfReader

    pid = add_person(app, "Åsa Öberg-Ängström")
    app.config["PUBLIC_URL"] = "https://studio.example"
    response = owner_client.get(f"/people/{pid}/form.pdf?lang={lang}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in points
    text = reader.pages[0].extract_text()
    assert "Åsa Öberg-Ängström" in text
    assert f"{lang}-v1" in text
    assert "Kraftkällan" in text
    if shutil.which("zbarimg") and shutil.which("pdftoppm"):
        png = subprocess.run(
            ["pdftoppm", "-r", "150", "-png", "-"],
            input=response.data,
            capture_output=True,
            check=True,
        ).stdout
        decoded = subprocess.run(
            ["zbarimg", "-q", "--raw", "-"], input=png, capture_output=True, check=True
        ).stdout
        assert decoded.decode().strip() == f"https://studio.example/people/{pid}"


def test_reference_upload_enrols_in_the_background(owner_client: FlaskClient, app: Flask) -> None:
    pid = add_person(app, "Barack")
    give_consent(app, pid, biometric=True)
    image = (FACES / "known/obama/obama1.jpg").read_bytes()
    response = owner_client.post(
        f"/people/{pid}/references",
        data={"photo": (io.BytesIO(image), "obama1.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        [upload] = s.scalars(sa.select(ReferenceUpload).where(ReferenceUpload.person_id == pid))
        assert upload.state == "done", upload.error
        assert (
            s.scalar(
                sa.select(sa.func.count(ReferenceFace.id)).where(ReferenceFace.person_id == pid)
            )
            == 1
        )
    assert "enrolled" in owner_client.get(f"/people/{pid}").get_data(as_text=True)


def test_reference_with_two_faces_fails_and_is_deleted(
    owner_client: FlaskClient, app: Flask
) -> None:
    pid = add_person(app, "Two")
    give_consent(app, pid, biometric=True)
    # Under 500 KB: werkzeug's test client leaves its temporary file open for larger bodies.
    image = (FACES.parent.parent.parent / "sample_images/two_people.jpg").read_bytes()
    owner_client.post(
        f"/people/{pid}/references",
        data={"photo": (io.BytesIO(image), "two.jpg")},
        content_type="multipart/form-data",
    )
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        [upload] = s.scalars(sa.select(ReferenceUpload).where(ReferenceUpload.person_id == pid))
        assert upload.state == "failed" and "exactly one face" in (upload.error or "")
        assert upload.source_key is None
    assert list(rt.storage.keys("references")) == []
    assert "exactly one face" in owner_client.get(f"/people/{pid}").get_data(as_text=True)


def test_reference_refused_without_biometric_consent(owner_client: FlaskClient, app: Flask) -> None:
    pid = add_person(app, "No Bio")
    give_consent(app, pid, biometric=False)
    image = (FACES / "known/obama/obama1.jpg").read_bytes()
    response = owner_client.post(
        f"/people/{pid}/references",
        data={"photo": (io.BytesIO(image), "obama1.jpg")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "has not given biometric consent" in response.get_data(as_text=True)
    rt = app.extensions["runtime"]
    assert list(rt.storage.keys("references")) == []


def test_enrolment_job_refuses_when_consent_is_gone(app: Flask) -> None:
    """Biometric consent withdrawn between upload and job: the job deletes the photo."""
    from consentcam.models import utcnow
    from consentcam.services import people

    pid = add_person(app, "Changed Mind")
    give_consent(app, pid, biometric=True)
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        person = s.get(Person, pid)
        upload = people.queue_reference(
            s, rt, person, (FACES / "known/biden/biden1.jpg").read_bytes(), "b.jpg"
        )
        for record in person.consents:
            record.biometric_withdrawn_at = utcnow()
        s.commit()
        uid = upload.id
    assert len(list(rt.storage.keys("references"))) == 1
    assert app.extensions["jobs"].enqueue("enrol_reference", uid)() == "failed"
    with rt.sessions() as s:
        upload = s.get(ReferenceUpload, uid)
        assert upload.state == "failed" and "no active biometric consent" in upload.error
    assert list(rt.storage.keys("references")) == []


def test_consent_form_names_the_business_and_says_retention_in_words(
    owner_client: FlaskClient, app: Flask
) -> None:
    from consentcam.services import people as people_service

    rt = app.extensions["runtime"]
    sv = people_service.form_text(rt, "sv")
    en = people_service.form_text(rt, "en")
    assert "Kraftkällan publicerar" in sv and "högst 2 år efter" in sv
    assert "Ansvarig för uppgifterna: Ann-Christin Sundell." in sv
    assert "at most 2 years after" in en
    assert "the business" not in en and "2y" not in sv + en and "{" not in sv + en


@pytest.mark.parametrize("missing", ["BUSINESS_NAME", "RESPONSIBLE_PERSON"])
def test_no_consent_while_the_business_details_are_missing(
    owner_client: FlaskClient, app: Flask, missing: str
) -> None:
    from consentcam.services import people as people_service

    rt = app.extensions["runtime"]
    rt.settings[missing] = ""
    person = add_person(app)
    page = owner_client.get(f"/people/{person}/consents/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 409 and 'href="/settings/#business"' in html
    assert "in the settings before recording a consent" in html
    posted = owner_client.post(f"/people/{person}/consents/new", data=signed_form())
    assert posted.status_code == 409
    assert owner_client.get(f"/people/{person}/form.pdf").status_code == 409
    with pytest.raises(people_service.FormDetailsMissing):
        people_service.form_text(rt, "sv")


def test_showing_the_form_writes_nothing_and_recording_stores_its_version(
    owner_client: FlaskClient, app: Flask
) -> None:
    from consentcam.models import ConsentFormVersion

    rt = app.extensions["runtime"]

    def versions() -> list[tuple[str, int]]:
        with rt.sessions() as s:
            rows = s.scalars(sa.select(ConsentFormVersion).order_by(ConsentFormVersion.id))
            return [(v.language, v.version) for v in rows]

    pid = add_person(app)
    page = owner_client.get(f"/people/{pid}/consents/new?lang=sv").get_data(as_text=True)
    assert "sv-v1" in page
    assert owner_client.get(f"/people/{pid}/form.pdf?lang=sv").status_code == 200
    assert versions() == []
    posted = owner_client.post(
        f"/people/{pid}/consents/new", data=signed_form(language="sv", form_sha256="")
    )
    assert posted.status_code == 302
    assert versions() == [("sv", 1)]
    # A changed form text is shown as the next version, and stored only when signed.
    rt.settings["BUSINESS_NAME"] = "Kraftkällan Syd"
    assert "sv-v2" in owner_client.get(f"/people/{pid}/consents/new?lang=sv").get_data(as_text=True)
    assert versions() == [("sv", 1)]


def test_one_guardian_rule() -> None:
    from consentcam.services.people import ConsentError, guardian_signer

    assert guardian_signer(True, "  Mamma Lind ") == "Mamma Lind"
    assert guardian_signer(False, "") is None
    assert guardian_signer(False, "Pappa Lind") == "Pappa Lind"
    for empty in ("", "   ", None):
        with pytest.raises(ConsentError) as refused:
            guardian_signer(True, empty)
        assert refused.value.template == (
            "A minor's consent is signed by a guardian: enter the guardian's name."
        )


def test_a_minor_marked_on_the_form_stays_unmarked_when_the_consent_is_refused(
    owner_client: FlaskClient, app: Flask
) -> None:
    pid = add_person(app, "Liten Lisa")
    refused = owner_client.post(
        f"/people/{pid}/consents/new",
        data=signed_form(minor="y", guardian_name="Mamma Lind", channels=["nowhere"]),
    )
    assert refused.status_code == 422
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        assert not s.get(Person, pid).is_minor
    assert _records(app, pid) == []


def test_the_same_signed_form_sent_twice_is_one_consent(
    owner_client: FlaskClient, app: Flask
) -> None:
    """A form sent twice (a double tap, a network retry) carries the same signature: the second
    send leads to the consent the first recorded, in the reader's language, and stores nothing."""
    pid = add_person(app, "Eva Berg")
    form = {
        "language": "sv",
        "channels": ["instagram"],
        "scope": "all",
        "signer_name": "Eva Berg",
        "evidence_kind": "signature",
        "signature": data_url(signature_png()),
    }
    first = owner_client.post(f"/people/{pid}/consents/new", data=form)
    assert first.status_code == 302
    [record] = _records(app, pid)
    files = _evidence_files(app)
    owner_client.post("/language/sv", data={"next": "/"})
    again = owner_client.post(f"/people/{pid}/consents/new", data=form)
    assert again.status_code == 302
    assert again.headers["Location"].endswith(f"/people/{pid}#consent-{record.id}")
    assert [r.id for r in _records(app, pid)] == [record.id]
    assert _evidence_files(app) == files
    page = owner_client.get(f"/people/{pid}").get_data(as_text=True)
    assert "Det här undertecknade samtycket är redan registrerat." in page
    # Another person may sign the same paper (one sheet for two people): that is a consent each.
    other = add_person(app, "Nils Berg")
    assert owner_client.post(f"/people/{other}/consents/new", data=form).status_code == 302
    assert len(_records(app, other)) == 1
