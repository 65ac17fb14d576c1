"""Shared fixtures: instances on SQLite or PostgreSQL, the app, a runtime, sessions and photos."""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import socket
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from consentcam.crypto import new_key
from consentcam.models import User
from consentcam.runtime import Runtime
from consentcam.services import users as users_service
from tests import appcache, scancache

# The fake Graph API's fixtures (graph, live_app) for every test that publishes.
pytest_plugins = ["tests.fakegraph.fixtures"]

DATA = Path(__file__).parent / "data"
FACES = DATA / "faces"
POSTGRES_URL = os.environ.get(
    "CONSENTCAM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CONSENTCAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Accounts made by tests hash with a cheap scrypt (N=256 instead of 32768): the suite makes
# hundreds of them. The app itself never calls this; tests/core/test_passwords.py proves that
# a fresh process still hashes with the full-strength scrypt.
TEST_PASSWORD_METHOD = "scrypt:256:8:1"
users_service.use_password_method(TEST_PASSWORD_METHOD)


def _share_bytecode() -> None:
    """Let the Python processes of the run reuse compiled bytecode, kept outside the tree.

    With PYTHONDONTWRITEBYTECODE set (as in the team's shell) every process compiled every
    module it imported from source again: each xdist process, each `consentcam serve`, worker
    and command the tests start (about 4 s of CPU for a server and its worker). The cache goes
    to one folder (PYTHONPYCACHEPREFIX) in the virtual environment, not next to the sources;
    Python checks each entry against its source file, so an edit is never missed.
    """
    if not sys.flags.dont_write_bytecode and not sys.dont_write_bytecode:
        return  # Python writes __pycache__ as usual: nothing to do
    prefix = os.environ.get("PYTHONPYCACHEPREFIX") or ""
    if not prefix:
        home = Path(sys.prefix)
        if os.access(home, os.W_OK):
            prefix = str(home / "pycache")
        else:
            prefix = str(Path(tempfile.gettempdir()) / f"consentcam-pycache-{os.getuid()}")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False


_share_bytecode()

# Every app a test makes compiles the same URL builders and templates: once per process.
appcache.install()

# A repeated scan of the same photo bytes is answered from the first scan's result (the real
# engine, once per image and settings per process). The engine's own tests always scan.
scancache.install()
_ALWAYS_SCAN = ("tests/faces/", "tests/bench/")


_SCANS = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """One folder of remembered scans for the whole run, shared by its xdist processes."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        scancache.share(workerinput["consentcam_scans"])
        return
    folder = tempfile.mkdtemp(prefix="consentcam-scans-")
    config.stash[_SCANS] = folder
    scancache.share(folder)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Hand the run's folder of remembered scans to each xdist process."""
    node.workerinput["consentcam_scans"] = node.config.stash[_SCANS]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SCANS in config.stash:
        shutil.rmtree(config.stash[_SCANS], ignore_errors=True)


@pytest.fixture(autouse=True)
def _scan_cache(request: pytest.FixtureRequest) -> Iterator[None]:
    """Remembered scans everywhere except in the tests of the engine and its timing."""
    path = Path(str(request.node.path)).resolve().relative_to(Path(__file__).resolve().parents[1])
    scancache.enabled = not str(path.as_posix()).startswith(_ALWAYS_SCAN)
    yield
    scancache.enabled = True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, so that under pytest-xdist no process is left with a long one at
    the end while the other has nothing to do (the order is the same in every process)."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") else 1)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` (as `./run tests` runs) with this suite's groups: every browser test
    in one process (one Chromium, one live server at a time), the face engine's tests in one
    process (the labelled photos and the enrolled people of tests/faces/conftest.py are scanned
    once, not once per process), and the tests of a module with a module-scoped fixture in one
    process (the fixture is made once, not once per process).

    xdist's own `xdist_group` marks cannot be used: it renames the items through an attribute
    that pytest 9 no longer reads, so the scheduler never sees the groups.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Grouped(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group_of(nodeid) or str(super()._split_scope(nodeid))

    return Grouped(config, log)


def _group_of(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    if path.startswith("tests/browser/"):
        return "browser"
    if path.startswith("tests/faces/"):
        return "faces"
    return path if _has_module_fixture(path) else None


@functools.cache
def _has_module_fixture(path: str) -> bool:
    source = Path(__file__).resolve().parents[1] / path
    return source.is_file() and 'scope="module"' in source.read_text("utf-8")


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


def _postgres_admin() -> sa.Engine:
    """An engine on the test server's own database, outside transactions (CREATE DATABASE)."""
    return sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def _postgres_database(name: str) -> str:
    return sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """One PostgreSQL database migrated to head per test process; tests get copies of it.

    Named for this run and this process (pytest-xdist's worker), so parallel workers and other
    runs against the same server never share one.
    """
    if not postgres_available():
        pytest.skip("PostgreSQL is not running at " + POSTGRES_URL)
    from consentcam.db import make_engine, upgrade

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"tpl_{worker}_{secrets.token_hex(4)}"
    admin = _postgres_admin()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(_postgres_database(name))
    upgrade(engine)
    engine.dispose()  # a template must have no open connection when it is copied
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def migrated_postgres_url(postgres_template: str) -> Iterator[str]:
    """A PostgreSQL database of this test's own at the newest schema (a copy of the template)."""
    name = "t_" + secrets.token_hex(6)
    admin = _postgres_admin()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield _postgres_database(name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path
) -> str:
    """Both back ends at the newest schema: a copy of the SQLite or the PostgreSQL template."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'consentcam.db'}"
        copy_migrated(url, migrated_sqlite)
        return url
    return str(request.getfixturevalue("migrated_postgres_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both back ends: SQLite in a temporary folder, and PostgreSQL in a private schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'consentcam.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database migrated to head, made once per run; each test gets a copy of it."""
    from consentcam.db import make_engine, upgrade

    path = tmp_path_factory.mktemp("migrated") / "consentcam.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    # Fold the write-ahead log into the file, so the file alone is the whole database.
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def copy_migrated(url: str, template: Path) -> bool:
    """Put a copy of the migrated template where a new SQLite database URL points.

    Returns False (and copies nothing) for any other database, or where the file already
    exists: the caller then migrates it itself.
    """
    target = sa.engine.make_url(url)
    if target.get_backend_name() != "sqlite" or target.database in (None, "", ":memory:"):
        return False
    path = Path(str(target.database))
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return True


def migrated_runtime(instance: Path, settings: dict[str, object], template: Path) -> Runtime:
    """A Runtime on a database at the newest schema: a copy of the template, else migrated."""
    from consentcam.db import upgrade

    copied = copy_migrated(str(settings.get("DATABASE_URL") or ""), template)
    rt = Runtime.build(instance, settings)
    if not copied:
        upgrade(rt.engine)
    return rt


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
def runtime(
    instance: Path, settings: dict[str, object], migrated_sqlite: Path
) -> Iterator[Runtime]:
    rt = migrated_runtime(instance, settings, migrated_sqlite)
    yield rt
    rt.close()


@pytest.fixture
def session(runtime: Runtime) -> Iterator[so.Session]:
    s = runtime.sessions()
    yield s
    s.close()


@pytest.fixture
def app(instance: Path, settings: dict[str, object], runtime: Runtime) -> Iterator[Flask]:
    from consentcam.web import create_app

    application = create_app(settings, instance_path=instance)
    yield application
    application.extensions["runtime"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


PhotoCopy = Callable[..., Path]


@pytest.fixture
def photo_copy(tmp_path: Path) -> PhotoCopy:
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
def users(app: Flask) -> dict[str, int]:
    """An owner and a staff member; returns their ids by role."""
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        owner = users_service.create_user(
            s, "owner@example.com", "Ann-Christin", OWNER_PASSWORD, role="owner"
        )
        staff = users_service.create_user(
            s, "staff@example.com", "Sam", STAFF_PASSWORD, role="staff"
        )
        s.commit()
        return {"owner": owner.id, "staff": staff.id}


def login(client: FlaskClient, role: str = "owner") -> TestResponse:
    """Sign in through the real form as the owner or the staff member."""
    email = f"{role}@example.com"
    password = OWNER_PASSWORD if role == "owner" else STAFF_PASSWORD
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


@pytest.fixture
def owner_client(client: FlaskClient, users: dict[str, int]) -> FlaskClient:
    login(client, "owner")
    return client


@pytest.fixture
def staff_client(client: FlaskClient, users: dict[str, int]) -> FlaskClient:
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


@pytest.fixture
def owner(session: so.Session) -> User:
    """The instance's owner, Ann (a real account: her password is hashed as any other)."""
    user = users_service.create_user(
        session, "ann@example.com", "Ann", "owner-password-123", role="owner"
    )
    session.commit()
    return user
