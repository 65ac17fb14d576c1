"""The API queues each background job once, and only after its unit of work has committed."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consentcam.domain.audit import Quarter
from consentcam.models import User, utcnow
from consentcam.services import users as users_service
from tests.web.photo_helpers import photo_with_faces

QUARTER = str(Quarter.current(utcnow()))


@pytest.fixture
def owner(app: Flask, users: dict[str, int]) -> dict[str, str]:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        _, token = users_service.create_token(s, s.get(User, users["owner"]), "tests")
        s.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def queued(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The jobs queued from now on (none runs: the worker is away)."""
    jobs: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        app.extensions["runtime"].jobs, "enqueue", lambda name, *args: jobs.append((name, *args))
    )
    return jobs


def test_a_drawn_face_queues_its_encoding_once(
    app: Flask, client: FlaskClient, owner: dict[str, str], queued: list[tuple[Any, ...]]
) -> None:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = photo_with_faces(rt, s, 1, confirmed=False).id
    queued.clear()
    made = client.post(
        f"/api/v1/photos/{photo}/faces", json={"box": [300, 20, 380, 100]}, headers=owner
    )
    assert made.status_code == 201, made.get_json()
    assert queued == [("encode_drawn_face", made.get_json()["id"])]


def test_a_refused_face_queues_nothing(
    app: Flask, client: FlaskClient, owner: dict[str, str], queued: list[tuple[Any, ...]]
) -> None:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = photo_with_faces(rt, s, 1, confirmed=False).id
    queued.clear()
    refused = client.post(
        f"/api/v1/photos/{photo}/faces", json={"box": [1, 1, 5, 5]}, headers=owner
    )
    assert refused.status_code == 422
    assert queued == []


def test_an_audit_with_a_rescan_is_queued_once(
    client: FlaskClient, owner: dict[str, str], queued: list[tuple[Any, ...]]
) -> None:
    made = client.post("/api/v1/audits", json={"quarter": QUARTER, "rescan": True}, headers=owner)
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["state"] == "running" and body["rescan"] is True
    assert queued == [("run_audit", body["id"])]


def test_an_audit_without_a_rescan_is_finished_at_once_and_queues_nothing(
    client: FlaskClient, owner: dict[str, str], queued: list[tuple[Any, ...]]
) -> None:
    made = client.post("/api/v1/audits", json={"quarter": QUARTER}, headers=owner)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["state"] == "done"
    assert queued == []
