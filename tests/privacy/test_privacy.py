"""Access export, erasure and retention purge, with the real face engine where faces matter."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask
from flask.testing import FlaskClient

from consentcam.domain.types import Channel
from consentcam.faces.pipeline import scan_image
from consentcam.models import Event, Face, Person, Photo, ReferenceFace, utcnow
from consentcam.runtime import Runtime
from consentcam.services import gate, privacy, scanning
from tests.audit.scenario import add_person, confirm_all, publish, scan


@pytest.fixture
def pair(session: so.Session, runtime: Runtime) -> tuple[Person, Person, Photo]:
    """Obama and Biden enrolled; two_people.jpg scanned and confirmed; nothing published."""
    given = utcnow() - timedelta(days=3)
    obama = add_person(
        session, runtime, "Barack Obama", refs=("known/obama/obama1.jpg",), given=given
    )
    biden = add_person(session, runtime, "Joe Biden", refs=("known/biden/biden1.jpg",), given=given)
    session.commit()
    photo = scan(session, runtime, "unknown/two_people.jpg")
    confirm_all(photo)
    session.commit()
    assert {f.person_id for f in photo.faces} == {obama.id, biden.id}
    return obama, biden, photo


def test_export_blurs_everyone_else(
    session: so.Session, runtime: Runtime, pair: tuple[Person, Person, Photo]
) -> None:
    obama, biden, photo = pair
    result = privacy.export_person(session, runtime, obama)
    session.commit()
    zf = zipfile.ZipFile(io.BytesIO(result.data))
    names = set(zf.namelist())
    assert {"data.json", "summary.html", f"photos/photo-{photo.id}.jpg"} <= names
    data = json.loads(zf.read("data.json"))
    assert data["person"]["name"] == "Barack Obama"
    assert data["consents"][0]["evidence_file"] in names
    evidence = zf.read(data["consents"][0]["evidence_file"])
    assert evidence.startswith(b"\xff\xd8") and len(data["reference_photos"]) == 1
    assert data["photos"][0]["other_faces_blurred"] == 1
    assert any(e["kind"] == "consent.given" for e in data["events"])
    # With the real engine: in the exported copy Obama is still Obama, Biden is nobody.
    matcher = scanning.enrolled_matcher(session, runtime)
    found = scan_image(zf.read(f"photos/photo-{photo.id}.jpg"), scanning.scan_settings(runtime))
    assert found.faces, "the subject's face must survive"
    matches = matcher.match_many(np.stack([f.encoding for f in found.faces]))
    people_found = {m.person_id for m in matches}
    assert obama.id in people_found
    assert biden.id not in people_found
    # And Biden's own export shows Biden but not Obama.
    other = privacy.export_person(session, runtime, biden)
    copy = zipfile.ZipFile(io.BytesIO(other.data)).read(f"photos/photo-{photo.id}.jpg")
    found = scan_image(copy, scanning.scan_settings(runtime))
    ids = {m.person_id for m in matcher.match_many(np.stack([f.encoding for f in found.faces]))}
    assert biden.id in ids and obama.id not in ids
    event = session.scalar(sa.select(Event).where(Event.kind == "person.exported"))
    assert event is not None
    assert event.subject == f"person:{obama.id}" and "Obama" not in event.payload


def test_erasure_removes_templates_files_and_details(
    session: so.Session, runtime: Runtime, pair: tuple[Person, Person, Photo]
) -> None:
    obama, biden, photo = pair
    evidence_keys = [c.evidence_key for c in obama.consents]
    ref_keys = [r.source_key for r in obama.reference_faces]
    assert all(runtime.storage.exists(k) for k in evidence_keys + ref_keys)
    assert gate.decide(session, photo, ["instagram"])[Channel.INSTAGRAM].cleared
    result = privacy.erase_person(session, runtime, obama)
    session.commit()
    session.expire_all()
    person = session.get(Person, obama.id)
    assert person is not None
    assert person.name == f"Erased person #{obama.id}" and person.email is None
    assert person.erased_at is not None
    assert (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(ReferenceFace)
            .where(ReferenceFace.person_id == obama.id)
        )
        == 0
    )
    assert not any(runtime.storage.exists(k) for k in evidence_keys + ref_keys)
    assert all(c.evidence_key is None for c in person.consents)
    assert all(ch.withdrawn_at is not None for c in person.consents for ch in c.channels)
    face = session.scalar(
        sa.select(Face).where(Face.photo_id == photo.id, Face.person_id.is_(None))
    )
    assert face is not None and face.template is None and face.state == "pending"
    # The photo is not cleared by accident: the face needs review again.
    reloaded = session.get(type(photo), photo.id)
    assert reloaded is not None
    photo = reloaded
    assert not gate.decide(session, photo, ["instagram"])[Channel.INSTAGRAM].cleared
    # Biden is untouched.
    biden_now = session.get(Person, biden.id)
    assert biden_now is not None
    assert biden_now.name == "Joe Biden"
    assert result.references == 1 and result.faces_unlinked == 1
    event = session.scalar(sa.select(Event).where(Event.kind == "person.erased"))
    assert event is not None
    assert "Obama" not in event.payload and "obama" not in event.payload
    with pytest.raises(privacy.PrivacyError, match="erased"):
        privacy.erase_person(session, runtime, person)


def test_erasure_is_refused_while_a_live_post_shows_them(
    session: so.Session, runtime: Runtime, pair: tuple[Person, Person, Photo]
) -> None:
    obama, biden, photo = pair
    pub = publish(session, runtime, photo, "instagram", utcnow() - timedelta(hours=1))
    session.commit()
    with pytest.raises(privacy.ErasureRefused, match="Withdraw their consent first") as info:
        privacy.erase_person(session, runtime, biden)
    assert info.value.publication_ids == [pub.id]
    session.rollback()
    biden_now = session.get(Person, biden.id)
    assert biden_now is not None
    assert biden_now.erased_at is None
    pub.live = False
    pub.removed_at = utcnow()
    session.commit()
    privacy.erase_person(session, runtime, biden)
    session.commit()
    biden_now = session.get(Person, biden.id)
    assert biden_now is not None
    assert biden_now.erased_at is not None


def test_purge_dry_run_and_for_real(
    session: so.Session, runtime: Runtime, pair: tuple[Person, Person, Photo]
) -> None:
    obama, biden, photo = pair
    old = utcnow() - timedelta(days=800)
    obama.last_activity_at = old
    biden.last_activity_at = old
    recent = add_person(session, runtime, "Recent Person", given=utcnow() - timedelta(days=1))
    publish(
        session,
        runtime,
        photo,
        "facebook",
        utcnow() - timedelta(hours=1),
        faces=[f for f in photo.faces if f.person_id == biden.id],
    )
    # Obama is on the same photo: the post shows him too, so both are kept.
    session.commit()
    dry = privacy.purge(session, runtime, "2y", dry_run=True)
    assert [e.person_id for e in dry.erase] == []
    assert sorted(k.person_id for k in dry.kept_live) == sorted([obama.id, biden.id])
    # Take the post down: now both go, the recent person stays.
    for pub in session.scalars(sa.select(privacy.Publication)):
        pub.live, pub.removed_at = False, utcnow()
    session.commit()
    dry = privacy.purge(session, runtime, None, dry_run=True)  # RETENTION default 2y
    assert sorted(e.person_id for e in dry.erase) == sorted([obama.id, biden.id])
    obama_now = session.get(Person, obama.id)
    assert obama_now is not None
    assert obama_now.erased_at is None  # dry run changed nothing
    done = privacy.purge(session, runtime, "2y", dry_run=False)
    session.commit()
    assert sorted(done.erased) == sorted([obama.id, biden.id])
    recent_now = session.get(Person, recent.id)
    assert recent_now is not None
    assert recent_now.erased_at is None
    obama_now = session.get(Person, obama.id)
    assert obama_now is not None
    assert obama_now.name.startswith("Erased person")
    assert session.scalar(sa.select(sa.func.count()).where(Event.kind == "retention.purged")) == 1
    with pytest.raises(ValueError):
        privacy.purge(session, runtime, "two years")


def test_export_summary_in_the_customers_language(app: Flask, owner_client: FlaskClient) -> None:
    import io
    import zipfile

    from tests.web.people_helpers import add_person, give_consent

    pid = add_person(app, "Anna Berg")
    give_consent(app, pid, language="sv")
    response = owner_client.post(f"/people/{pid}/export")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    html = archive.read("summary.html").decode("utf-8")
    assert '<html lang="sv">' in html
    assert "Det här har Kraftkällan sparat om dig, Anna Berg" in html
    assert "Du lades till i kundregistret." in html and "Du gav ditt samtycke." in html
    assert "person.added" not in html and "consent.given" not in html
    assert "What " not in html and "Consents" not in html
