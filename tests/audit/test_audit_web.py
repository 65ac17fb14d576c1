"""Audit pages and API: access control, running, progress, reports, sign-off and the records page."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentcam.domain.audit import Quarter
from consentcam.models import AuditRun, Event, Photo, Publication, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import users as users_service


def _publication(app: Flask) -> int:
    """A live post whose published copy is missing: one finding, no engine needed."""
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = Photo(
            sha256="a" * 64,
            original_key="originals/x.jpg",
            original_name="x.jpg",
            format="JPEG",
            size_bytes=1,
            width=800,
            height=600,
            scan_state="done",
            faces_confirmed_at=utcnow() - timedelta(minutes=2),
        )
        s.add(photo)
        s.flush()
        s.add(
            Publication(
                photo_id=photo.id,
                channel="instagram",
                publisher="manual",
                url="https://www.instagram.com/p/x/",
                published_at=utcnow() - timedelta(minutes=1),
                cleared_copy_key="cleared/aa/bb/missing.jpg",
                # Confirmed when it went out: the one finding is the missing copy.
                faces_confirmed_at=utcnow() - timedelta(minutes=2),
            )
        )
        s.commit()
        return photo.id


QUARTER = str(Quarter.current(utcnow()))
PAGES = ["/audits/", "/audits/records"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_the_owner(client: FlaskClient, users: dict[str, int], path: str) -> None:
    from tests.conftest import login

    assert client.get(path).status_code == 302  # to the login page
    login(client, "staff")
    assert client.get(path).status_code == 403


def test_staff_cannot_run_or_sign(staff_client: FlaskClient) -> None:
    assert staff_client.post("/audits/run", data={"quarter": QUARTER}).status_code == 403
    assert (
        staff_client.post("/audits/1/sign", data={"signer_name": "x", "reviewed": "y"}).status_code
        == 403
    )


def test_run_read_download_and_sign_in_the_app(app: Flask, owner_client: FlaskClient) -> None:
    _publication(app)
    page = owner_client.get("/audits/")
    assert page.status_code == 200 and QUARTER in page.get_data(as_text=True)
    response = owner_client.post("/audits/run", data={"quarter": QUARTER})
    assert response.status_code == 302
    detail_url = response.headers["Location"]
    detail = owner_client.get(detail_url).get_data(as_text=True)
    assert "Sign off" in detail and "1</span>" in detail
    run_id = int(detail_url.rstrip("/").split("/")[-1])
    report = owner_client.get(f"/audits/{run_id}/report")
    assert report.status_code == 200 and b"Published copy missing" in report.data
    assert "sandbox" in report.headers["Content-Security-Policy"]
    html = owner_client.get(f"/audits/{run_id}/report?download=1")
    assert html.headers["Content-Disposition"].startswith("attachment")
    csv = owner_client.get(f"/audits/{run_id}/download.csv")
    assert (
        csv.headers["Content-Disposition"].startswith("attachment")
        and b"cleared_copy_missing" in csv.data
    )
    pdf = owner_client.get(f"/audits/{run_id}/download.pdf")
    assert pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    assert owner_client.get(f"/audits/{run_id}/download.exe").status_code == 404
    # The box must be ticked.
    owner_client.post(f"/audits/{run_id}/sign", data={"signer_name": "Ann-Christin"})
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        unsigned = s.get(AuditRun, run_id)
        assert unsigned is not None
        assert unsigned.signed_at is None
    owner_client.post(
        f"/audits/{run_id}/sign", data={"signer_name": "Ann-Christin", "reviewed": "y"}
    )
    with rt.sessions() as s:
        run = s.get(AuditRun, run_id)
        assert run is not None
        assert run.signer_name == "Ann-Christin" and run.signed_at is not None
        assert s.scalar(sa.select(sa.func.count()).where(Event.kind == "audit.signed")) == 1
    # Signing again changes nothing.
    again = owner_client.post(
        f"/audits/{run_id}/sign",
        data={"signer_name": "Other", "reviewed": "y"},
        follow_redirects=True,
    )
    assert "signed already" in again.get_data(as_text=True)
    with rt.sessions() as s:
        kept = s.get(AuditRun, run_id)
        assert kept is not None
        assert kept.signer_name == "Ann-Christin"
    signed_page = owner_client.get(detail_url).get_data(as_text=True)
    assert "Signed by Ann-Christin" in signed_page and 'name="signer_name"' not in signed_page


def test_a_changed_report_is_refused_when_shown(app: Flask, owner_client: FlaskClient) -> None:
    owner_client.post("/audits/run", data={"quarter": QUARTER})
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        run = s.scalar(sa.select(AuditRun))
        assert run is not None and run.report_key is not None
        path = rt.storage.path(run.report_key)
    path.write_bytes(path.read_bytes() + b"<!-- edited -->")
    assert owner_client.get(f"/audits/{run.id}/report").status_code == 409
    assert owner_client.get(f"/audits/{run.id}/download.pdf").status_code == 409
    page = owner_client.get(f"/audits/{run.id}").get_data(as_text=True)
    assert "changed after it was made" in page and 'name="signer_name"' not in page


def test_a_rescan_runs_as_a_job_with_progress(app: Flask, owner_client: FlaskClient) -> None:
    response = owner_client.post("/audits/run", data={"quarter": QUARTER, "rescan": "y"})
    run_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    state = owner_client.get(f"/audits/{run_id}/progress").get_json()
    # The test queue runs jobs at once: it is done, with nothing to re-scan.
    assert state["state"] == "done" and state["total"] == 0


def test_bad_quarter_is_refused(owner_client: FlaskClient) -> None:
    response = owner_client.post(
        "/audits/run", data={"quarter": "last year"}, follow_redirects=True
    )
    assert "2026Q4" in response.get_data(as_text=True) or "like" in response.get_data(as_text=True)


def test_records_page(owner_client: FlaskClient) -> None:
    text = owner_client.get("/audits/records").get_data(as_text=True)
    assert "Kraftkällan" in text and "Meta Platforms" in text and "biometric" in text.lower()


def test_audit_nav_link_for_the_owner(owner_client: FlaskClient) -> None:
    assert 'href="/audits/"' in owner_client.get("/audits/").get_data(as_text=True)


# --- API -------------------------------------------------------------------------------------


def _token(app: Flask, role: str) -> str:
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        user = s.scalar(sa.select(User).where(User.role == role))
        assert user is not None
        _, token = users_service.create_token(s, user, "test")
        s.commit()
    return token


def test_api_audits(app: Flask, client: FlaskClient, users: dict[str, int]) -> None:
    _publication(app)
    owner = {"Authorization": f"Bearer {_token(app, 'owner')}"}
    staff = {"Authorization": f"Bearer {_token(app, 'staff')}"}
    assert client.get("/api/v1/audits").status_code == 401
    assert client.get("/api/v1/audits", headers=staff).status_code == 403
    assert (
        client.post("/api/v1/audits", json={"quarter": QUARTER}, headers=staff).status_code == 403
    )
    bad = client.post("/api/v1/audits", json={"quarter": "soon"}, headers=owner)
    assert bad.status_code == 422 and "quarter" in bad.get_json()["error"]
    assert (
        client.post(
            "/api/v1/audits", json={"quarter": QUARTER, "rescan": "yes"}, headers=owner
        ).status_code
        == 422
    )
    assert (
        client.post("/api/v1/audits", json={"quarter": QUARTER, "x": 1}, headers=owner).status_code
        == 422
    )
    assert client.post("/api/v1/audits", data="nope", headers=owner).status_code == 400
    made = client.post("/api/v1/audits", json={"quarter": QUARTER}, headers=owner)
    assert made.status_code == 201
    body = made.get_json()
    assert body["state"] == "done" and body["finding_count"] == 1
    assert body["findings_by_kind"] == {"cleared_copy_missing": 1}
    listed = client.get("/api/v1/audits", headers=owner).get_json()["audits"]
    assert [a["id"] for a in listed] == [body["id"]]
    assert client.get(f"/api/v1/audits/{body['id']}", headers=owner).get_json()["signed_at"] is None
    assert client.get("/api/v1/audits/999", headers=owner).status_code == 404
    assert (
        client.post(
            f"/api/v1/audits/{body['id']}/sign", json={"signer_name": " "}, headers=owner
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"/api/v1/audits/{body['id']}/sign", json={"signer_name": "Ann"}, headers=staff
        ).status_code
        == 403
    )
    signed = client.post(
        f"/api/v1/audits/{body['id']}/sign", json={"signer_name": "Ann"}, headers=owner
    )
    assert signed.status_code == 200 and signed.get_json()["signer_name"] == "Ann"
    again = client.post(
        f"/api/v1/audits/{body['id']}/sign", json={"signer_name": "Bo"}, headers=owner
    )
    assert again.status_code == 409 and "signed already" in again.get_json()["error"]
    spec = client.get("/api/v1/openapi.json", headers=owner).get_json()
    for path in ("/audits", "/audits/{audit_id}", "/audits/{audit_id}/sign"):
        assert path in spec["paths"]
    assert "requestBody" in spec["paths"]["/audits"]["post"]
    assert "201" in spec["paths"]["/audits"]["post"]["responses"]
    assert "409" in spec["paths"]["/audits/{audit_id}/sign"]["post"]["responses"]


def test_pdf_opens(app: Flask, owner_client: FlaskClient) -> None:
    owner_client.post("/audits/run", data={"quarter": QUARTER})
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        run = s.scalar(sa.select(AuditRun))
        assert run is not None
    pdf = owner_client.get(f"/audits/{run.id}/download.pdf").data
    assert io.BytesIO(pdf).read(4) == b"%PDF"


def test_swedish(owner_client: FlaskClient) -> None:
    text = owner_client.get("/audits/", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "Kvartalsgranskningar" in text and "Gör en granskning" in text


def test_records_page_in_swedish(owner_client: FlaskClient) -> None:
    owner_client.post("/language/sv", data={"next": "/audits/records"})
    text = owner_client.get("/audits/records").get_data(as_text=True)
    assert "Registerförteckning: Kraftkällan" in text
    assert "2 år (730 dagar)" in text and "inom 7 dagar" in text
    assert "Retention periods" not in text and "Record of processing" not in text
