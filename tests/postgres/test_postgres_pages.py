"""Every main page, and every page for one record, renders on PostgreSQL with real data in it."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from werkzeug.routing import Rule

from consentcam.domain.audit import Quarter
from consentcam.models import ApiToken, ConsentRecord, Face, User, UserSession, utcnow
from consentcam.services import review
from tests.perf.test_query_counts import counting
from tests.web.test_reads_write_nothing import PAGES, age_last_use, writes_in

from .conftest import PgApp
from .test_postgres_concurrency import _suggested_face

pytestmark = [pytest.mark.postgres]

# Beyond PostgreSQL's 32- and 64-bit integers: must be "not found", never a server error.
HUGE_IDS = (2**31, 2**63, 10**30)


def _serves_get(rule: Rule) -> bool:
    """Whether the rule answers GET (werkzeug: a rule without methods answers every method)."""
    return rule.methods is None or "GET" in rule.methods


@pytest.fixture
def filled(pg_app: PgApp) -> dict[str, int]:
    """A reviewed, queued, published photo of a person, a supplier and an audit."""
    rt, client, headers = pg_app.runtime, pg_app.client, pg_app.headers
    face_id = _suggested_face(pg_app)
    with rt.sessions() as s:
        face = s.get(Face, face_id)
        assert face is not None
        review.confirm_face(s, rt, face, user=s.get(User, pg_app.users["owner"]))
        s.commit()
        assert face.person_id is not None
        ids = {"photo": face.photo_id, "person": face.person_id, "face": face_id}
    confirmed = client.post(f"/api/v1/photos/{ids['photo']}/confirmation", json={}, headers=headers)
    assert confirmed.status_code == 200, confirmed.get_json()
    item = client.post(
        "/api/v1/queue", json={"photo_id": ids["photo"], "channels": ["instagram"]}, headers=headers
    ).get_json()
    assert item["status"] == "ready", item
    ids["item"] = item["id"]
    pub = client.post(
        f"/api/v1/queue/{item['id']}/manual-publication",
        json={"channel": "instagram", "url": "https://www.instagram.com/p/Cpg1234abcd/"},
        headers=headers,
    )
    assert pub.status_code == 201, pub.get_json()
    ids["publication"] = pub.get_json()["id"]
    supplier = client.post("/api/v1/suppliers", json={"name": "Fotograf Åsa Lind"}, headers=headers)
    assert supplier.status_code == 201, supplier.get_json()
    ids["supplier"] = supplier.get_json()["id"]
    withdrawal = client.post(
        f"/api/v1/people/{ids['person']}/withdrawals",
        json={"channels": ["instagram"]},
        headers=headers,
    )
    assert withdrawal.status_code == 200, withdrawal.get_json()
    ids["task"] = withdrawal.get_json()["removal_tasks"][0]["id"]
    audit = client.post(
        "/api/v1/audits", json={"quarter": str(Quarter.current(utcnow()))}, headers=headers
    )
    assert audit.status_code == 201, audit.get_json()
    ids["audit"] = audit.get_json()["id"]
    return ids


def test_main_pages_render_for_the_owner(pg_app: PgApp, filled: dict[str, int]) -> None:
    client = pg_app.client
    pages = {
        "/": None,
        "/photos": None,
        f"/photos/{filled['photo']}": "obama1.jpg",
        "/people": "Lena Berg",
        f"/people/{filled['person']}": "Lena Berg",
        "/queue": None,
        "/removals": "Lena Berg",
        "/audits": str(Quarter.current(utcnow())),
        f"/audits/{filled['audit']}": None,
        "/suppliers": "Fotograf Åsa Lind",
        "/settings": None,
    }
    for url, text in pages.items():
        response = client.get(url, follow_redirects=True)
        assert response.status_code == 200, (url, response.status_code)
        if text:
            assert text in response.get_data(as_text=True), url


def test_filters_and_search_on_postgres(pg_app: PgApp, filled: dict[str, int]) -> None:
    client = pg_app.client
    # Search ignores letter case (PostgreSQL's LIKE would not).
    for query in ("lena", "LENA BERG", "Berg"):
        assert "Lena Berg" in client.get("/people/", query_string={"q": query}).get_data(True)
    assert "Lena Berg" not in client.get("/people/", query_string={"q": "Åsa"}).get_data(True)
    # Swedish letters fold too (PostgreSQL's lower() follows the database's UTF-8 locale).
    added = client.post("/api/v1/people", json={"name": "Åsa Öberg"}, headers=pg_app.headers)
    assert added.status_code == 201, added.get_json()
    for query in ("åsa", "ÖBERG", "åsa öberg"):
        found = client.get("/api/v1/people", query_string={"q": query}, headers=pg_app.headers)
        assert [p["name"] for p in found.get_json()["people"]] == ["Åsa Öberg"], query
    for state in ("needs_review", "cleared", "blocked", "scanning", "failed"):
        response = client.get("/photos/", query_string={"state": state})
        assert response.status_code == 200, state
    for status in ("open", "overdue", "done", "all"):
        assert client.get("/removals/", query_string={"status": status}).status_code == 200
    assert client.get(f"/removals/?person_id={filled['person']}").status_code == 200
    assert client.get("/queue/?status=all").status_code == 200
    for live in ("all", "live", "removed", "true", "false"):
        assert client.get(f"/published/?live={live}").status_code == 200
    # Paging far beyond the end is an empty page, not an error.
    assert client.get("/people/?page=100000").status_code == 200
    assert client.get("/photos/?page=100000").status_code == 200


def test_huge_ids_are_not_found_on_postgres(pg_app: PgApp, filled: dict[str, int]) -> None:
    """Ids beyond the integer columns must give 404, not a driver overflow (500)."""
    client, headers = pg_app.client, pg_app.headers
    routes = [
        rule
        for rule in pg_app.app.url_map.iter_rules()
        if _serves_get(rule) and re.search(r"<int:\w+>", rule.rule)
    ]
    assert len(routes) >= 10
    failures: list[tuple[str, str | int]] = []
    for rule in routes:
        for huge in HUGE_IDS:
            url = re.sub(r"<int:\w+>", str(huge), rule.rule)
            try:
                response = client.get(url, headers=headers if url.startswith("/api/") else {})
            except sa.exc.DBAPIError as exc:  # the test client re-raises a server error
                failures.append((rule.rule, type(exc.orig).__name__))
                break
            if response.status_code >= 500 or response.status_code == 200:
                failures.append((rule.rule, response.status_code))
                break
    assert failures == [], "\n".join(f"{u} {c}" for u, c in failures)
    # And the same through the JSON API's query parameters.
    with pg_app.runtime.sessions() as s:
        faces = s.scalar(sa.select(sa.func.count()).select_from(Face))
        assert faces is not None and faces >= 1
    for huge in HUGE_IDS:
        for url in (
            f"/api/v1/removal-tasks?person_id={huge}",
            f"/api/v1/publications?photo_id={huge}",
            f"/api/v1/publications?offset={huge}",
            f"/api/v1/queue?offset={huge}",
            f"/removals/?person_id={huge}",
            f"/people/?page={huge}",
            f"/photos/?page={huge}",
        ):
            response = client.get(url, headers=headers)
            assert response.status_code in (
                (200, 400) if url.startswith("/api/") else (200, 404)
            ), url
            if response.status_code == 200 and url.startswith("/api/"):
                body = response.get_json()
                assert not body.get("tasks", body.get("publications", body.get("items"))), url
        response = client.post(
            "/api/v1/queue", json={"photo_id": huge, "channels": ["instagram"]}, headers=headers
        )
        assert response.status_code in (404, 422), response.get_json()


def test_every_record_page_renders_for_the_owner(pg_app: PgApp, filled: dict[str, int]) -> None:
    """Each GET route that takes ids, filled with this instance's real records, answers 200."""
    client, headers = pg_app.client, pg_app.headers
    with pg_app.runtime.sessions() as s:
        consent_id = s.scalar(sa.select(sa.func.min(ConsentRecord.id)))
    values = {
        "photo_id": filled["photo"],
        "person_id": filled["person"],
        "face_id": filled["face"],
        "item_id": filled["item"],
        "publication_id": filled["publication"],
        "supplier_id": filled["supplier"],
        "task_id": filled["task"],
        "audit_id": filled["audit"],
        "consent_id": consent_id,
        "user_id": pg_app.users["staff"],
        "channel": "instagram",
        "fmt": "csv",
    }
    checked, failures = [], []
    with counting(pg_app.runtime.engine) as sent:
        for rule in pg_app.app.url_map.iter_rules():
            args = set(rule.arguments)
            if not _serves_get(rule) or not args or not args <= set(values):
                continue
            if "token_id" in args or "permission_id" in args:
                continue
            url = rule.rule
            for name in args:
                url = re.sub(rf"<(?:\w+:)?{name}>", str(values[name]), url)
            response = client.get(url, headers=headers if url.startswith("/api/") else {})
            checked.append(url)
            # Her consent for Instagram is withdrawn: the cleared copy is refused, back to the item.
            expected = 302 if rule.endpoint == "queue.download" else 200
            if response.status_code != expected:
                failures.append((url, response.status_code))
    assert len(checked) >= 20
    assert failures == [], failures
    # Reading every record wrote nothing but, at most, the sign-in's own last use.
    assert sum(statement.lstrip().upper().startswith("SELECT") for statement in sent) >= 20
    written = [
        statement
        for statement in sent
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and not re.match(r"\s*UPDATE (user_session|api_token) SET last_", statement)
    ]
    assert written == [], written


def test_after_a_pause_reads_note_the_sign_ins_use_once_and_writes_go_through(
    pg_app: PgApp,
) -> None:
    """On PostgreSQL too: the first page and API read after a pause write the last use once in
    their own short transaction, and a form and an API write after a pause go through at once."""
    rt, client, headers = pg_app.runtime, pg_app.client, pg_app.headers
    age_last_use(rt, UserSession, "last_seen_at")
    age_last_use(rt, ApiToken, "last_used_at")
    with counting(rt.engine) as sent:
        for page in PAGES:
            assert client.get(page).status_code == 200, page
        for _ in range(3):
            assert client.get("/api/v1/people", headers=headers).status_code == 200
    writes = writes_in(sent)
    assert len(writes) == 2, writes
    assert "user_session" in writes[0] and "api_token" in writes[1], writes

    age_last_use(rt, UserSession, "last_seen_at")
    age_last_use(rt, ApiToken, "last_used_at")
    with counting(rt.engine) as sent:
        added = client.post("/people/new", data={"name": "Lena Berg"})
        assert added.status_code == 302, added.get_data(as_text=True)[:300]
        api = client.post("/api/v1/people", json={"name": "Åsa Öberg"}, headers=headers)
        assert api.status_code == 201, api.get_json()
    writes = writes_in(sent)
    assert any("user_session" in w for w in writes) and any("api_token" in w for w in writes)
    assert sum("INSERT INTO person " in w for w in writes) == 2, writes
