"""A photo's scan is claimed by one worker; the claim passes on only when that worker is gone."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import ScanState
from consentcam.models import Face, Photo, utcnow
from consentcam.runtime import Runtime
from consentcam.services import photos, scanning
from tests.conftest import FACES


def _photo(runtime: Runtime, session: so.Session) -> Photo:
    photo = photos.ingest(
        session, runtime, (FACES / "unknown/obama1.jpg").read_bytes(), "o.jpg"
    ).photo
    session.commit()
    return photo


def _claim(session: so.Session, photo: Photo, by: str, age: timedelta) -> None:
    photo.scan_state = ScanState.SCANNING
    photo.scan_attempts = 1
    photo.scan_claimed_by = by
    photo.scan_claimed_at = utcnow() - age
    session.commit()


def test_a_fresh_claim_of_another_worker_is_left_alone(
    runtime: Runtime, session: so.Session
) -> None:
    photo = _photo(runtime, session)
    _claim(session, photo, "elsewhere:1", timedelta(minutes=1))
    scanning.scan_photo(session, runtime, photo.id)
    session.refresh(photo)
    assert photo.scan_state == "scanning" and photo.scan_attempts == 1
    assert session.scalar(sa.select(sa.func.count(Face.id))) == 0


def test_an_expired_claim_is_taken_over_and_scanned(runtime: Runtime, session: so.Session) -> None:
    photo = _photo(runtime, session)
    _claim(session, photo, "elsewhere:1", scanning.SCAN_LEASE + timedelta(minutes=1))
    scanning.scan_photo(session, runtime, photo.id)
    session.refresh(photo)
    assert photo.scan_state == "done" and photo.scan_attempts == 2
    assert photo.scan_claimed_by == scanning.claimant()
    assert session.scalar(sa.select(sa.func.count(Face.id))) == 1


def test_claims_of_dead_local_workers_are_released(runtime: Runtime, session: so.Session) -> None:
    photo = _photo(runtime, session)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    _claim(session, photo, f"{socket.gethostname()}:{gone.stdout.strip()}", timedelta(seconds=5))
    live = _photo_from(runtime, session, "unknown/obama3.jpg")
    _claim(session, live, scanning.claimant(), timedelta(seconds=5))
    assert scanning.release_dead_claims(session) == 1
    session.refresh(photo)
    session.refresh(live)
    assert photo.scan_state == "pending" and photo.scan_claimed_by is None
    assert live.scan_state == "scanning"


def _photo_from(runtime: Runtime, session: so.Session, rel: str) -> Photo:
    photo = photos.ingest(session, runtime, (FACES / rel).read_bytes(), rel).photo
    session.commit()
    return photo
