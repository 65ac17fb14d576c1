"""The whole product on PostgreSQL: consent, enrolment, scan, review, queue, withdrawal, audit, erasure."""

from __future__ import annotations

import io
import zipfile

import pytest
import sqlalchemy as sa

from consentcam.domain.audit import Quarter
from consentcam.models import Event, Person, Publication, ReferenceFace, RemovalTask, utcnow
from consentcam.services import events
from tests.conftest import FACES

from .conftest import PgApp, signature_b64

pytestmark = [pytest.mark.postgres]


def test_consent_to_erasure_through_the_web_and_the_api(pg_app: PgApp) -> None:
    client, headers, rt = pg_app.client, pg_app.headers, pg_app.runtime

    # A person with a drawn signature that gives consent for Instagram and recognition.
    response = client.post(
        "/api/v1/people", json={"name": "Lena Berg", "email": "Lena@Example.com"}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    person_id = response.get_json()["id"]
    response = client.post(
        f"/api/v1/people/{person_id}/consents",
        json={
            "channels": ["instagram"],
            "biometric": True,
            "evidence": signature_b64(),
            "evidence_mime": "image/png",
            "evidence_kind": "signature",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    consent = response.get_json()
    assert consent["state"] == "active" and consent["biometric"] is True

    # Search must not depend on letter case on PostgreSQL either.
    found = client.get("/api/v1/people?q=lena@example", headers=headers).get_json()
    assert [p["id"] for p in found["people"]] == [person_id]

    # Her reference photo through the owner's page; the enrolment job runs inline.
    reference = (FACES / "known" / "obama" / "obama2.jpg").read_bytes()
    response = client.post(
        f"/people/{person_id}/references",
        data={"photo": (io.BytesIO(reference), "obama2.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with rt.sessions() as s:
        refs = s.scalars(sa.select(ReferenceFace).where(ReferenceFace.person_id == person_id)).all()
        assert len(refs) == 1

    # A new photo of her through the API: the scan suggests her.
    photo_bytes = (FACES / "unknown" / "obama1.jpg").read_bytes()
    response = client.post(
        "/api/v1/photos",
        data={"photos": [(io.BytesIO(photo_bytes), "obama1.jpg")]},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    (result,) = response.get_json()["results"]
    assert result["status"] == "created"
    photo_id = result["photo"]["id"]
    photo = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
    assert photo["scan_state"] == "done"
    (face,) = photo["faces"]
    assert face["state"] == "suggested"
    assert face["suggestion"]["person_id"] == person_id

    gate = client.get(f"/api/v1/photos/{photo_id}/gate", headers=headers).get_json()
    assert {v["channel"]: v["cleared"] for v in gate["verdicts"]}["instagram"] is False

    response = client.post(
        f"/api/v1/faces/{face['id']}/confirm", json={"version": face["version"]}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["person"]["id"] == person_id
    # The version seen before the confirmation is stale now.
    response = client.post(
        f"/api/v1/faces/{face['id']}/confirm", json={"version": face["version"]}, headers=headers
    )
    assert response.status_code == 409
    # Everyone in it is marked: the owner says so, and only then is it cleared.
    gate = client.get(f"/api/v1/photos/{photo_id}/gate", headers=headers).get_json()
    verdicts = {v["channel"]: v for v in gate["verdicts"]}
    assert [b["code"] for b in verdicts["instagram"]["blockers"]] == ["faces_unconfirmed"]
    response = client.post(f"/api/v1/photos/{photo_id}/confirmation", json={}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["faces_confirmed_at"]

    gate = client.get(f"/api/v1/photos/{photo_id}/gate", headers=headers).get_json()
    verdicts = {v["channel"]: v for v in gate["verdicts"]}
    assert verdicts["instagram"]["cleared"] is True, verdicts["instagram"]
    assert verdicts["facebook"]["cleared"] is False

    # Queue it for Instagram and record the post made by hand.
    response = client.post(
        "/api/v1/queue",
        json={"photo_id": photo_id, "channels": ["instagram"], "caption": "Välkommen!"},
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    item = response.get_json()
    assert item["status"] == "ready", item
    # The cleared copy to post by hand downloads as an attachment (never the original).
    response = client.post(f"/queue/{item['id']}/download/instagram")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.data[:3] == b"\xff\xd8\xff" and response.data != photo_bytes
    response.close()
    post_url = "https://www.instagram.com/p/Cpg1234abcd/"
    response = client.post(
        f"/api/v1/queue/{item['id']}/manual-publication",
        json={"channel": "instagram", "url": post_url},
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    publication_id = response.get_json()["id"]
    live = client.get("/api/v1/publications?live=true", headers=headers).get_json()
    assert [p["id"] for p in live["publications"]] == [publication_id]

    # She withdraws everything: one removal task for the live post.
    response = client.post(
        f"/api/v1/people/{person_id}/withdrawals",
        json={"channels": "all", "biometric": True},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    withdrawal = response.get_json()
    assert withdrawal["changed"] is True
    (task,) = withdrawal["removal_tasks"]
    assert task["publication_id"] == publication_id and task["method"] == "manual"
    assert task["url"] == post_url
    with rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ReferenceFace)) == 0
        events_before = s.scalar(sa.select(sa.func.count()).select_from(Event))
        assert events_before is not None

    # Withdrawing again changes nothing.
    again = client.post(
        f"/api/v1/people/{person_id}/withdrawals",
        json={"channels": "all", "biometric": True},
        headers=headers,
    ).get_json()
    assert again["changed"] is False and again["removal_tasks"] == []
    with rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(RemovalTask)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)) == events_before

    open_tasks = client.get(
        f"/api/v1/removal-tasks?person_id={person_id}", headers=headers
    ).get_json()
    assert [t["id"] for t in open_tasks["tasks"]] == [task["id"]]
    assert open_tasks["counts"]["open"] == 1

    # This quarter's audit sees the withdrawn consent still online.
    quarter = str(Quarter.current(utcnow()))
    response = client.post("/api/v1/audits", json={"quarter": quarter}, headers=headers)
    assert response.status_code == 201, response.get_json()
    audit = response.get_json()
    assert audit["state"] == "done" and audit["publication_count"] == 1
    assert audit["findings_by_kind"].get("consent_withdrawn_online") == 1, audit
    assert audit["findings_by_kind"].get("removal_open") == 1, audit

    # Erasure is refused while the post is still up.
    erase_form = {"confirm_id": str(person_id), "understood": "y"}
    client.post(f"/people/{person_id}/erase", data=erase_form)
    with rt.sessions() as s:
        person = s.get(Person, person_id)
        assert person is not None
        assert person.erased_at is None

    response = client.post(
        f"/api/v1/removal-tasks/{task['id']}/close",
        json={"note": "Deleted in the Instagram app"},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "done"
    with rt.sessions() as s:
        publication = s.get(Publication, publication_id)
        assert publication is not None
        assert publication.live is False
        checked, problem = events.verify(s)
        assert problem is None, problem
        events_now = s.scalar(sa.select(sa.func.count()).select_from(Event))
        assert events_now is not None
        assert checked == events_now > events_before

    # Her access export downloads as a ZIP.
    response = client.post(f"/people/{person_id}/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert archive.testzip() is None
        assert len(archive.namelist()) >= 2

    # Once the post is down she may be erased.
    response = client.post(f"/people/{person_id}/erase", data=erase_form)
    assert response.status_code == 302
    with rt.sessions() as s:
        person = s.get(Person, person_id)
        assert person is not None
        assert person.erased_at is not None and person.email is None
        assert events.verify(s)[1] is None
