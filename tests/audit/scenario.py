"""A real-engine scenario: people enrolled from test photos, scanned photos and live publications.

Publishing is another part of the app, so publications, their faces and removal tasks are
written as model rows here, shaped like the publisher writes them.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from PIL import Image

from consentcam.domain import FaceState
from consentcam.domain.audit import Quarter
from consentcam.models import (
    Base,
    ConsentChannel,
    Face,
    Person,
    Photo,
    Publication,
    PublicationFace,
    RemovalTask,
    Supplier,
    SupplierPermission,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events, people, photos, scanning
from tests.conftest import FACES, base_settings, migrated_runtime

PNG_EVIDENCE = FACES / "known" / "obama" / "obama1.jpg"


def evidence_bytes() -> bytes:
    """A small JPEG standing in for a scanned signed form."""
    im = Image.new("RGB", (400, 300), (250, 250, 245))
    buf = io.BytesIO()
    im.save(buf, "JPEG")
    return buf.getvalue()


def add_person(
    session: so.Session,
    rt: Runtime,
    name: str,
    *,
    refs: tuple[str, ...] = (),
    given: datetime,
    channels: Iterable[str] = ("instagram", "facebook"),
    expires: datetime | None = None,
) -> Person:
    person = people.add_person(session, name, email=f"{name.split()[0].lower()}@example.com")
    record = people.give_consent(
        session,
        rt,
        person,
        channels=list(channels),
        evidence=evidence_bytes(),
        evidence_mime="image/jpeg",
        evidence_kind="scan",
        biometric=bool(refs),
        given_at=given,
    )
    for ref in refs:
        people.enrol_reference(session, rt, person, (FACES / ref).read_bytes(), ref)
    # Enrolled while the consent stood; it has expired since.
    record.expires_at = expires
    return person


def scan(session: so.Session, rt: Runtime, rel: str, supplier_id: int | None = None) -> Photo:
    photo = photos.ingest(
        session, rt, (FACES / rel).read_bytes(), rel.split("/")[-1], supplier_id=supplier_id
    ).photo
    session.commit()
    scanning.scan_photo(session, rt, photo.id)
    session.refresh(photo)
    return photo


def confirm_all(photo: Photo, *, everyone_marked: bool = True) -> None:
    """Confirm every suggestion and, unless told otherwise, that everyone in the photo is marked."""
    for f in photo.faces:
        if f.suggested_person_id is not None:
            f.person_id = f.suggested_person_id
            f.state = FaceState.CONFIRMED
    if everyone_marked and photo.faces_confirmed_at is None:
        photo.faces_confirmed_at = utcnow()
        photo.faces_confirmed_by = "owner@example.com"


def cleared_copy(rt: Runtime, photo: Photo, blur: bool = True) -> str:
    """Store the copy that went out (the same pad-and-scale recipe as the publisher's)."""
    from consentcam.services.cleared import render

    jpeg = render(
        rt.storage.read(photo.original_key),
        blur=[f.box for f in photo.faces if f.blur] if blur else [],
        faces=[f.box for f in photo.faces if not f.blur],
        fit="pad",
    )
    key, _ = rt.storage.put("cleared", jpeg, "jpg")
    return key


def publish(
    session: so.Session,
    rt: Runtime,
    photo: Photo,
    channel: str,
    at: datetime,
    *,
    faces: Sequence[Face] | None = None,
    key: str | None = "make",
    permission_id: int | None = None,
    confirmed: bool = True,
) -> Publication:
    """A live post of ``photo``; unless ``confirmed`` is False, someone had confirmed that
    everyone in the photo was marked before it went out, as the gate requires."""
    if confirmed and photo.faces_confirmed_at is None:
        photo.faces_confirmed_at = at
        photo.faces_confirmed_by = "owner@example.com"
    pub = Publication(
        photo_id=photo.id,
        channel=channel,
        publisher="manual",
        url=f"https://www.instagram.com/p/{photo.id}{channel[:2]}/",
        published_at=at,
        cleared_copy_key=cleared_copy(rt, photo) if key == "make" else key,
        supplier_permission_id=permission_id,
        live=True,
        faces_confirmed_at=photo.faces_confirmed_at if confirmed else None,
    )
    session.add(pub)
    session.flush()
    for f in faces if faces is not None else photo.faces:
        consent_id = None
        how = "consent"
        if f.blur:
            how = "blur"
        elif permission_id is not None:
            how = "supplier"
        elif f.person_id is not None:
            person = session.scalar(sa.select(Person).where(Person.id == f.person_id))
            assert person is not None
            consent_id = person.consents[-1].id
        session.add(
            PublicationFace(
                publication_id=pub.id,
                face_id=f.id,
                person_id=f.person_id,
                how=how,
                consent_id=consent_id,
            )
        )
    events.record(session, "publication.published", f"publication:{pub.id}", {"channel": channel})
    session.flush()
    return pub


@dataclass
class Scenario:
    quarter: Quarter
    people: dict[str, Person] = field(default_factory=dict)
    photos: dict[str, Photo] = field(default_factory=dict)
    pubs: dict[str, Publication] = field(default_factory=dict)


def build(session: so.Session, rt: Runtime) -> Scenario:
    """One live post for every kind of finding, plus a clean one and one taken down."""
    now = utcnow()
    q = Quarter.current(now)
    start = q.start
    given = start - timedelta(days=30)
    at = max(start, now - timedelta(hours=2))
    sc = Scenario(q)
    sc.people["obama"] = add_person(
        session, rt, "Barack Obama", refs=("known/obama/obama1.jpg",), given=given
    )
    sc.people["biden"] = add_person(
        session, rt, "Joe Biden", refs=("known/biden/biden1.jpg",), given=given
    )
    sc.people["kit"] = add_person(
        session,
        rt,
        "Kit Harington",
        refs=("known/kit_harington/kit1.jpg",),
        given=given,
        expires=now - timedelta(minutes=30),
    )
    sc.people["rose"] = add_person(
        session, rt, "Rose Leslie", refs=("known/rose_leslie/rose1.jpg",), given=given
    )
    sc.people["alex"] = add_person(
        session, rt, "Alex Lacamoire", refs=("known/alex_lacamoire/alex1.jpg",), given=given
    )
    session.commit()

    # Clean: Obama alone, consent active.
    p = sc.photos["obama"] = scan(session, rt, "unknown/obama1.jpg")
    confirm_all(p)
    sc.pubs["ok"] = publish(session, rt, p, "instagram", at)
    # Withdrawn: Biden and Obama; Biden withdraws Instagram afterwards. Removal open, not due.
    p = sc.photos["two"] = scan(session, rt, "unknown/two_people.jpg")
    confirm_all(p)
    sc.pubs["withdrawn"] = publish(session, rt, p, "instagram", at)
    for record in sc.people["biden"].consents:
        for ch in record.channels:
            if ch.channel == "instagram":
                ch.withdrawn_at = now - timedelta(minutes=20)
    session.add(
        RemovalTask(
            publication_id=sc.pubs["withdrawn"].id,
            person_id=sc.people["biden"].id,
            method="manual",
            due_at=now + timedelta(days=5),
        )
    )
    # Expired: Kit's consent expired; its removal task is overdue.
    p = sc.photos["kit"] = scan(session, rt, "unknown/johnsnow_test1.jpg")
    # Recognition is off for Kit now that his consent expired: he was tagged by hand.
    assert len(p.faces) == 1
    p.faces[0].person_id, p.faces[0].state = sc.people["kit"].id, FaceState.CONFIRMED
    sc.pubs["expired"] = publish(session, rt, p, "facebook", at)
    session.add(
        RemovalTask(
            publication_id=sc.pubs["expired"].id,
            person_id=sc.people["kit"].id,
            method="manual",
            due_at=now - timedelta(days=1),
        )
    )
    # Never confirmed: Alex only suggested.
    p = sc.photos["alex"] = scan(session, rt, "unknown/alex_lacamoire1.jpg")
    assert p.faces and p.faces[0].state == "suggested"
    sc.pubs["unconfirmed"] = publish(session, rt, p, "instagram", at)
    # Supplier permission lapsed: a supplier's photo of someone unknown.
    supplier = Supplier(name="Studio Ljus AB")
    session.add(supplier)
    session.flush()
    perm = SupplierPermission(
        supplier_id=supplier.id,
        channels="instagram facebook",
        valid_from=given,
        revoked_at=now - timedelta(minutes=10),
    )
    session.add(perm)
    session.flush()
    p = sc.photos["supplier"] = scan(session, rt, "unknown/lin-manuel-miranda.png", supplier.id)
    sc.pubs["supplier"] = publish(session, rt, p, "instagram", at, permission_id=perm.id)
    # Published copy missing from storage.
    p = sc.photos["missing"] = scan(session, rt, "unknown/obama3.jpg")
    confirm_all(p)
    sc.pubs["missing"] = publish(session, rt, p, "facebook", at, key="cleared/ab/cd/gone.jpg")
    # A face nobody accounts for: the first scan missed Kit's face next to Rose's (its row is
    # gone), so the post went out with Kit unreviewed. A re-scan must find it.
    p = sc.photos["rose"] = scan(session, rt, "unknown/kit_with_rose.jpg")
    rose_face = [f for f in p.faces if f.suggested_person_id == sc.people["rose"].id]
    assert rose_face and len(p.faces) == 2, "the engine should find Rose and Kit"
    for f in list(p.faces):
        if f not in rose_face:
            p.faces.remove(f)
    confirm_all(p)
    session.flush()
    sc.pubs["unaccounted"] = publish(session, rt, p, "instagram", at)
    # Taken down during the quarter.
    down = publish(session, rt, sc.photos["obama"], "facebook", at)
    down.live = False
    down.removed_at = now - timedelta(minutes=5)
    sc.pubs["down"] = down
    session.commit()
    return sc


@dataclass(frozen=True)
class Built:
    """A scenario built once into an instance folder, to be copied for each test that reads it.

    Building it scans seven photos and enrols five people (seconds each time); a copy of its
    database file and media folder is the same scenario, opened with the same keys.
    """

    instance: Path
    keys: dict[str, object]
    quarter: Quarter
    ids: dict[str, dict[str, int]]

    def copy_to(self, instance: Path) -> dict[str, object]:
        """Copy the scenario into ``instance`` (before a Runtime opens it); its settings."""
        shutil.copyfile(self.instance / "consentcam.db", instance / "consentcam.db")
        shutil.copytree(self.instance / "media", instance / "media")
        return base_settings(instance, **self.keys)

    def load(self, session: so.Session) -> Scenario:
        """The scenario's rows in ``session`` (a session on a copy made by copy_to)."""
        sc = Scenario(self.quarter)
        # Each kind with its model and the scenario's own dict of them.
        kinds: tuple[tuple[str, type[Base], dict[str, Any]], ...] = (
            ("people", Person, sc.people),
            ("photos", Photo, sc.photos),
            ("pubs", Publication, sc.pubs),
        )
        for kind, model, into in kinds:
            for name, row_id in self.ids[kind].items():
                row = session.get(model, row_id)
                assert row is not None, (kind, name)
                into[name] = row
        return sc


def build_once(folder: Path, template: Path) -> Built:
    """Build the scenario into a new instance under ``folder`` (from the migrated template)."""
    instance = folder / "instance"
    instance.mkdir(parents=True)
    settings = base_settings(instance)
    rt = migrated_runtime(instance, settings, template)
    try:
        with rt.sessions() as session:
            sc = build(session, rt)
            ids = {
                "people": {k: v.id for k, v in sc.people.items()},
                "photos": {k: v.id for k, v in sc.photos.items()},
                "pubs": {k: v.id for k, v in sc.pubs.items()},
            }
    finally:
        rt.close()
    # Fold the write-ahead log into the file, so the file alone is the whole database.
    with closing(sqlite3.connect(instance / "consentcam.db")) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    keys = {k: settings[k] for k in ("SECRET_KEY", "ENCRYPTION_KEY")}
    return Built(instance, keys, sc.quarter, ids)


__all__ = ["Built", "ConsentChannel", "Face", "Scenario", "build", "build_once"]
