"""A page view or an API read writes no row of the business's data. The one write a read may
make is the sign-in's own bookkeeping (a session's or a token's last use), at most every
5 minutes, once, in a short transaction of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentcam.models import ApiToken, User, UserSession, utcnow
from consentcam.runtime import Runtime
from consentcam.services import users as users_service

_WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def writes_to(engine: sa.Engine) -> Iterator[list[str]]:
    """Every statement that changes rows, sent through ``engine`` within the block."""
    seen: list[str] = []

    def note(_conn: sa.Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(_WRITES):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def _age(rt: Runtime, model: type[UserSession] | type[ApiToken], column: str) -> None:
    """Make every row's last use ten minutes old, as after a pause."""
    with rt.sessions() as s:
        s.execute(sa.update(model).values({column: utcnow() - timedelta(minutes=10)}))
        s.commit()


PAGES = ("/", "/photos/", "/people/", "/queue/", "/settings/")


def test_page_views_write_only_the_sessions_last_use_when_it_is_due(
    app: Flask, owner_client: FlaskClient
) -> None:
    rt: Runtime = app.extensions["runtime"]
    with writes_to(rt.engine) as writes:
        for page in PAGES:
            assert owner_client.get(page).status_code == 200, page
    assert writes == []

    _age(rt, UserSession, "last_seen_at")
    with writes_to(rt.engine) as writes:
        for page in PAGES:
            assert owner_client.get(page).status_code == 200, page
    # The first view after the pause pushes the session's expiry on; nothing else is written.
    assert len(writes) == 1 and "user_session" in writes[0], writes

    # A form sent after a pause notes the session's use beside its own write, and waits on nothing.
    _age(rt, UserSession, "last_seen_at")
    with writes_to(rt.engine) as writes:
        sent = owner_client.post("/people/new", data={"name": "Lena Berg"})
    assert sent.status_code == 302, sent.get_data(as_text=True)[:300]
    assert any("user_session" in w for w in writes) and any("person" in w for w in writes)


def test_api_reads_write_only_the_tokens_last_use_when_it_is_due(
    app: Flask, users: dict[str, int]
) -> None:
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        owner = s.get(User, users["owner"])
        assert owner is not None
        token, clear = users_service.create_token(s, owner, "phone")
        s.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {clear}"}
    reads = ("/api/v1/photos", "/api/v1/people", "/api/v1/queue", "/api/v1/openapi.json")
    with writes_to(rt.engine) as writes:
        for path in reads:
            assert client.get(path, headers=headers).status_code == 200, path
    # A new token's first use is noted; the reads after it write nothing.
    assert len(writes) == 1 and "api_token" in writes[0], writes

    _age(rt, ApiToken, "last_used_at")
    with writes_to(rt.engine) as writes:
        for path in reads:
            assert client.get(path, headers=headers).status_code == 200, path
    assert len(writes) == 1 and "api_token" in writes[0], writes

    # A write through the API after a pause notes the token's use too, and waits on nothing.
    _age(rt, ApiToken, "last_used_at")
    with writes_to(rt.engine) as writes:
        added = client.post("/api/v1/people", json={"name": "Lena Berg"}, headers=headers)
    assert added.status_code == 201, added.get_data(as_text=True)[:300]
    assert any("api_token" in w for w in writes) and any("person" in w for w in writes)
    with rt.sessions() as s:
        used = s.get(ApiToken, token.id)
        assert used is not None and used.last_used_at is not None
        assert utcnow() - used.last_used_at < timedelta(minutes=1)
