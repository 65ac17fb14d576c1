"""Fixtures for PostgreSQL: the app in a private schema, its users, a signed-in client."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw

from consentcam.runtime import Runtime
from tests.conftest import base_settings, login


@dataclass
class PgApp:
    """The app on PostgreSQL with an owner, a staff member, the owner's API token and client."""

    app: Flask
    client: FlaskClient
    users: dict[str, int]
    token: str

    @property
    def runtime(self) -> Runtime:
        return self.app.extensions["runtime"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def signature_png() -> bytes:
    """A drawn signature: dark strokes on white, well above the minimum size and ink."""
    image = Image.new("RGB", (320, 120), "white")
    draw = ImageDraw.Draw(image)
    draw.line(
        [(20, 90), (70, 20), (110, 95), (160, 25), (210, 90), (300, 40)], fill="black", width=6
    )
    draw.arc([(40, 30), (140, 110)], 0, 300, fill="black", width=5)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def signature_b64() -> str:
    return base64.b64encode(signature_png()).decode("ascii")


@pytest.fixture
def pg_app(instance: Path, migrated_postgres_url: str) -> Iterator[PgApp]:
    """create_app on a private PostgreSQL schema, migrated, with users and a signed-in owner."""
    from consentcam.db import upgrade
    from consentcam.services import users as users_service
    from consentcam.web import create_app

    settings = base_settings(instance, DATABASE_URL=migrated_postgres_url, QUEUE_URL="immediate")
    app = create_app(settings, instance_path=instance)
    rt: Runtime = app.extensions["runtime"]
    try:
        upgrade(rt.engine)
        assert rt.engine.dialect.name == "postgresql"
        with rt.sessions() as s:
            owner = users_service.create_user(
                s, "owner@example.com", "Ann-Christin", "owner-password-123", role="owner"
            )
            staff = users_service.create_user(
                s, "staff@example.com", "Sam", "staff-password-123", role="staff"
            )
            _token, secret = users_service.create_token(s, owner, "postgres tests")
            s.commit()
            ids = {"owner": owner.id, "staff": staff.id}
        client = app.test_client()
        login(client, "owner")
        yield PgApp(app=app, client=client, users=ids, token=secret)
    finally:
        # Close every pooled connection before the schema is dropped.
        rt.close()
