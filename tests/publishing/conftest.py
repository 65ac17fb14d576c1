"""Fixtures for publishing: photos with faces, consent, a live app server and the fake Graph API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy.orm as so
from flask import Flask
from PIL import Image

from consentcam.domain.types import FaceState, ScanState
from consentcam.models import ChannelConnection, ConsentRecord, Face, Person, Photo, utcnow
from consentcam.runtime import Runtime
from consentcam.services import people, photos
from tests.fakegraph.fixtures import fast_publish_settings
from tests.fakegraph.server import FakeGraph

SIGNATURE = b"\x89PNG\r\n\x1a\n" + b"signature" * 10


def jpeg_bytes(
    width: int = 800, height: int = 600, colour: tuple[int, int, int] = (180, 120, 90)
) -> bytes:
    im = Image.new("RGB", (width, height), colour)
    # A little structure so the JPEG is not trivially flat.
    for x in range(0, width, 40):
        im.paste((20, 40, 60), (x, 0, x + 8, height))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def add_photo(
    session: so.Session,
    rt: Runtime,
    faces: list[tuple[int, int, int, int]],
    data: bytes | None = None,
) -> Photo:
    """A photo stored through ingest, marked as scanned, with faces at the given boxes (pending).

    A person has confirmed that everyone in it is marked, so the faces decide the gate.
    """
    photo = photos.ingest(session, rt, data or jpeg_bytes(), "studio.jpg").photo
    photo.scan_state = ScanState.DONE
    photo.scanned_at = utcnow()
    photo.faces_confirmed_at = utcnow()
    photo.faces_confirmed_by = "owner@example.com"
    for n, box in enumerate(faces, start=1):
        photo.faces.append(
            Face(
                number=n,
                left=box[0],
                top=box[1],
                right=box[2],
                bottom=box[3],
                state=FaceState.PENDING,
            )
        )
    session.flush()
    return photo


def add_consenting_person(
    session: so.Session, rt: Runtime, name: str, channels: list[str]
) -> tuple[Person, ConsentRecord]:
    person = people.add_person(session, name)
    consent = people.give_consent(
        session,
        rt,
        person,
        channels=channels,
        evidence=SIGNATURE,
        evidence_mime="image/png",
        evidence_kind="signature",
        given_at=utcnow() - timedelta(days=1),
    )
    return person, consent


def confirm(face: Face, person_id: int) -> None:
    face.state = FaceState.CONFIRMED
    face.person_id = person_id
    face.reviewed_at = utcnow()


def connect_meta(
    session: so.Session,
    rt: Runtime,
    channel: str,
    graph: FakeGraph,
    *,
    can_delete: bool = False,
    token: str = "good-token",
) -> ChannelConnection:
    conn = ChannelConnection(
        channel=channel,
        kind="meta",
        account_id="1784140" if channel == "instagram" else "104200",
        access_token_enc=rt.vault.encrypt(token.encode()),
        graph_url=graph.url,
        can_delete=can_delete,
    )
    session.add(conn)
    session.flush()
    return conn


@pytest.fixture
def settings(instance: Path) -> dict[str, object]:
    return fast_publish_settings(instance)


@pytest.fixture
def app_rt(app: Flask) -> Runtime:
    return app.extensions["runtime"]


@pytest.fixture
def app_session(app_rt: Runtime) -> Iterator[so.Session]:
    # Every SQLite transaction here holds the write lock, so tests end their reads with
    # commit(); keeping loaded values after a commit lets them read ids without a new one.
    s = app_rt.sessions(expire_on_commit=False)
    yield s
    s.close()
