"""Fixtures shared by tests that publish through the fake Graph API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import base_settings
from tests.fakegraph.server import FakeGraph


def fast_publish_settings(instance: Path) -> dict[str, object]:
    """Retries without waiting and a fast container poll keep the tests quick."""
    return base_settings(
        instance,
        PUBLISH_RETRY_DELAY=0,
        PUBLISH_RETRIES=2,
        META_POLL_INTERVAL=0.01,
        META_POLL_ATTEMPTS=5,
    )


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


@pytest.fixture
def live_app(app: Flask) -> Iterator[Flask]:
    """The app served on 127.0.0.1 (so the fake Graph API can fetch /p/<token>), PUBLIC_URL set."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    app.extensions["runtime"].settings["PUBLIC_URL"] = base
    app.config["PUBLIC_URL"] = base
    yield app
    server.shutdown()
    server.server_close()
    thread.join(5)
