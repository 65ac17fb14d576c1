"""A page view or an API read writes no row of the business's data. The one write a read may
make is the sign-in's own bookkeeping (a session's or a token's last use), at most every
5 minutes, once, in a short transaction of its own. A request that writes carries that note in
its own transaction, and never waits on the lock it holds itself."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentcam.models import ApiToken, UserSession, utcnow
from consentcam.runtime import Runtime
from tests.conftest import OWNER_PASSWORD
from tests.hardening.helpers import owner_token
from tests.perf.test_query_counts import counting

PAGES = ("/", "/photos/", "/people/", "/queue/", "/settings/")
API_READS = ("/api/v1/photos", "/api/v1/people", "/api/v1/queue", "/api/v1/openapi.json")


def writes_in(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def age_last_use(rt: Runtime, model: type[UserSession] | type[ApiToken], column: str) -> None:
    """Make every row's last use ten minutes old, as after a pause."""
    with rt.sessions() as s:
        s.execute(sa.update(model).values({column: utcnow() - timedelta(minutes=10)}))
        s.commit()


def _writes_of_reads(
    rt: Runtime, client: FlaskClient, paths: tuple[str, ...], headers: dict[str, str] | None = None
) -> list[str]:
    """Read every path (each must answer 200); the statements that changed rows meanwhile."""
    with counting(rt.engine) as sent:
        for path in paths:
            assert client.get(path, headers=headers or {}).status_code == 200, path
    return writes_in(sent)


def test_page_views_write_only_the_sessions_last_use_when_it_is_due(
    app: Flask, owner_client: FlaskClient
) -> None:
    rt: Runtime = app.extensions["runtime"]
    assert _writes_of_reads(rt, owner_client, PAGES) == []

    age_last_use(rt, UserSession, "last_seen_at")
    # The first view after the pause pushes the session's expiry on; nothing else is written.
    writes = _writes_of_reads(rt, owner_client, PAGES)
    assert len(writes) == 1 and "user_session" in writes[0], writes

    # A form sent after a pause notes the session's use beside its own write.
    age_last_use(rt, UserSession, "last_seen_at")
    with counting(rt.engine) as sent:
        added = owner_client.post("/people/new", data={"name": "Lena Berg"})
    assert added.status_code == 302, added.get_data(as_text=True)[:300]
    writes = writes_in(sent)
    assert any("user_session" in w for w in writes) and any("person" in w for w in writes)


def test_api_reads_write_only_the_tokens_last_use_when_it_is_due(
    app: Flask, users: dict[str, int]
) -> None:
    rt: Runtime = app.extensions["runtime"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {owner_token(app, users)}"}
    # A new token's first use is noted; the reads after it write nothing.
    writes = _writes_of_reads(rt, client, API_READS, headers)
    assert len(writes) == 1 and "api_token" in writes[0], writes

    age_last_use(rt, ApiToken, "last_used_at")
    writes = _writes_of_reads(rt, client, API_READS, headers)
    assert len(writes) == 1 and "api_token" in writes[0], writes

    # A write through the API after a pause notes the token's use too.
    age_last_use(rt, ApiToken, "last_used_at")
    with counting(rt.engine) as sent:
        added = client.post("/api/v1/people", json={"name": "Lena Berg"}, headers=headers)
    assert added.status_code == 201, added.get_data(as_text=True)[:300]
    writes = writes_in(sent)
    assert any("api_token" in w for w in writes) and any("person" in w for w in writes)
    with rt.sessions() as s:
        used = s.scalars(sa.select(ApiToken)).one()
        assert used.last_used_at is not None
        assert utcnow() - used.last_used_at < timedelta(minutes=1)


def test_a_form_sent_on_a_new_visit_through_stay_signed_in_goes_through(
    app: Flask, users: dict[str, int]
) -> None:
    """The browser kept only its "stay signed in" cookie (it was closed with a form open): the
    form is sent, the token is replaced in the same request, and the next visit uses the new one."""
    phone = app.test_client()
    signed_in = phone.post(
        "/login", data={"email": "owner@example.com", "password": OWNER_PASSWORD, "remember": "y"}
    )
    assert signed_in.status_code == 302
    before = phone.get_cookie("remember_token")
    assert before is not None
    phone.delete_cookie("session")

    added = phone.post("/people/new", data={"name": "Lena Berg"})
    assert added.status_code == 302, added.get_data(as_text=True)[:300]
    after = phone.get_cookie("remember_token")
    assert after is not None and after.value != before.value
    phone.delete_cookie("session")
    page = phone.get("/people/")
    assert page.status_code == 200 and "Lena Berg" in page.get_data(as_text=True)
