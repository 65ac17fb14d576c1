"""Shared fixtures: instances on SQLite or PostgreSQL, the app, a runtime, sessions and photos."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from consentcam.crypto import new_key

# The fake Graph API's fixtures (graph, live_app) for every test that publishes.
pytest_plugins = ["tests.fakegraph.fixtures"]

DATA = Path(__file__).parent / "data"
FACES = DATA / "faces"
POSTGRES_URL = os.environ.get(
    "CONSENTCAM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CONSENTCAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(url: str) -> bool:
    parsed = urlparse(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 5432), timeout=2
        ):
            return True
    except OSError:
        return False


def postgres_available() -> bool:
    return _reachable(POSTGRES_URL)


def redis_available() -> bool:
    return _reachable(REDIS_URL)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections see a fresh, private schema (dropped afterwards)."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not running at " + POSTGRES_URL)
    schema = "t_" + secrets.token_hex(6)
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both back ends: SQLite in a temporary folder, and PostgreSQL in a private schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'consentcam.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


def base_settings(instance: Path, **overrides: object) -> dict[str, object]:
    settings: dict[str, object] = {
        "SECRET_KEY": "test-" + secrets.token_hex(8),
        "ENCRYPTION_KEY": new_key(),
        "DATABASE_URL": f"sqlite:///{instance / 'consentcam.db'}",
        "QUEUE_URL": "immediate",
        "MEDIA_DIR": str(instance / "media"),
        "BUSINESS_NAME": "Kraftkällan",
        "RESPONSIBLE_PERSON": "Ann-Christin Sundell",
        "TESTING": True,
        # Route tests post forms directly; tests of CSRF itself turn it back on.
        "WTF_CSRF_ENABLED": False,
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def settings(instance: Path) -> dict[str, object]:
    return base_settings(instance)


@pytest.fixture
def runtime(instance: Path, settings: dict[str, object]) -> Iterator[object]:
    from consentcam.db import upgrade
    from consentcam.runtime import Runtime

    rt = Runtime.build(instance, settings)
    upgrade(rt.engine)
    yield rt
    rt.close()


@pytest.fixture
def session(runtime: object) -> Iterator[object]:
    s = runtime.sessions()  # type: ignore[attr-defined]
    yield s
    s.close()


@pytest.fixture
def app(instance: Path, settings: dict[str, object], runtime: object) -> Iterator[object]:
    from consentcam.web import create_app

    application = create_app(settings, instance_path=instance)
    yield application
    application.extensions["runtime"].close()


@pytest.fixture
def client(app: object) -> object:
    return app.test_client()  # type: ignore[attr-defined]


@pytest.fixture
def photo_copy(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Copy a test photo into the test's own folder and return its path."""

    def copy(rel: str, name: str | None = None) -> Path:
        target = tmp_path / "photos" / (name or Path(rel).name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FACES / rel, target)
        return target

    return copy


OWNER_PASSWORD = "owner-password-123"
STAFF_PASSWORD = "staff-password-123"


@pytest.fixture
def users(app: object) -> dict[str, int]:
    """An owner and a staff member; returns their ids by role."""
    from consentcam.services import users as users_service

    rt = app.extensions["runtime"]  # type: ignore[attr-defined]
    with rt.sessions() as s:
        owner = users_service.create_user(
            s, "owner@example.com", "Ann-Christin", OWNER_PASSWORD, role="owner"
        )
        staff = users_service.create_user(
            s, "staff@example.com", "Sam", STAFF_PASSWORD, role="staff"
        )
        s.commit()
        return {"owner": owner.id, "staff": staff.id}


def login(client: object, role: str = "owner") -> object:
    """Sign in through the real form as the owner or the staff member."""
    email = f"{role}@example.com"
    password = OWNER_PASSWORD if role == "owner" else STAFF_PASSWORD
    response = client.post("/login", data={"email": email, "password": password})  # type: ignore[attr-defined]
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


@pytest.fixture
def owner_client(client: object, users: dict[str, int]) -> object:
    login(client, "owner")
    return client


@pytest.fixture
def staff_client(client: object, users: dict[str, int]) -> object:
    login(client, "staff")
    return client


def cli_init(instance: Path, *extra: str) -> Path:
    """`consentcam init` through the real command line (in this process), owner Ann."""
    from click.testing import CliRunner

    from consentcam.cli import main

    args = ["--instance", str(instance), "init", "--owner-email", "ann@example.com"]
    result = CliRunner().invoke(main, [*args, "--owner-password", "a-long-owner-password", *extra])
    assert result.exit_code == 0, result.output
    return instance
