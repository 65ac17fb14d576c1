"""Route tests: the withdrawal form, removal pages, the start page and the JSON API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentcam.domain.types import QueueStatus
from consentcam.models import ConsentChannel, Publication, QueueItem, RemovalTask, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import users as users_service

from .helpers import consenting_person, photo_with, publish, queue, stored

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture
def seeded(app: Flask, users: dict[str, int]) -> dict[str, int]:
    """Lena, posted by hand on Instagram and queued for Facebook; Omar with an overdue removal."""
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        lena = consenting_person(s, rt, "Lena Berg")
        omar = consenting_person(s, rt, "Omar Said")
        photo = photo_with(s, lena)
        item = queue(s, photo, "facebook")
        pub = publish(s, photo, "instagram", person=lena, publisher="manual", external_id=None)
        omars = publish(
            s, photo_with(s, omar), "facebook", person=omar, publisher="manual", external_id=None
        )
        late = RemovalTask(
            publication_id=omars.id,
            person_id=omar.id,
            method="manual",
            due_at=utcnow() - timedelta(days=2),
        )
        s.add(late)
        s.commit()
        return {"lena": lena.id, "omar": omar.id, "item": item.id, "pub": pub.id, "late": late.id}


def token(app: Flask, role: str, users: dict[str, int]) -> str:
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        user = stored(s, User, users[role])
        _row, secret = users_service.create_token(s, user, "test")
        s.commit()
        return secret


@pytest.mark.parametrize(
    ("path", "anon", "staff"),
    [
        ("/withdrawals/new", 302, 403),
        ("/removals/", 302, 200),
        ("/", 302, 200),
    ],
)
def test_access_control(
    client: FlaskClient, users: dict[str, int], path: str, anon: int, staff: int
) -> None:
    from tests.conftest import login

    assert client.get(path).status_code == anon
    login(client, "staff")
    assert client.get(path).status_code == staff


def test_staff_may_neither_withdraw_nor_close(
    staff_client: FlaskClient, seeded: dict[str, int]
) -> None:
    assert staff_client.get(f"/people/{seeded['lena']}/withdraw").status_code == 403
    assert (
        staff_client.post(
            f"/people/{seeded['lena']}/withdraw", data={"everything": "y"}
        ).status_code
        == 403
    )
    assert staff_client.post(f"/removals/{seeded['late']}/close", data={}).status_code == 403
    assert staff_client.get(f"/removals/{seeded['late']}").status_code == 200


def test_the_form_withdraws_in_one_step_and_says_what_happened(
    app: Flask, owner_client: FlaskClient, seeded: dict[str, int]
) -> None:
    from flask import url_for

    with app.test_request_context():
        assert (
            url_for("withdrawals.new", person_id=seeded["lena"])
            == f"/people/{seeded['lena']}/withdraw"
        )
    page = owner_client.get(f"/withdrawals/new?person_id={seeded['lena']}")
    assert page.status_code == 200 and "Lena Berg" in page.get_data(as_text=True)
    response = owner_client.post(
        f"/people/{seeded['lena']}/withdraw", data={"everything": "y"}, follow_redirects=True
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Withdrawn for every channel." in html
    assert "1 queued post blocked." in html
    assert "1 post must come down by" in html and "1 needs you (links below)" in html
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        assert stored(s, QueueItem, seeded["item"]).status == "blocked"
        assert all(
            c.withdrawn_at is not None
            for c in s.scalars(sa.select(ConsentChannel))
            if c.consent.person_id == seeded["lena"]
        )
    # The list below shows the post's link.
    assert "https://example.com/instagram/" in html
    again = owner_client.post(
        f"/people/{seeded['lena']}/withdraw", data={"everything": "y"}, follow_redirects=True
    )
    assert "Nothing left to change" in again.get_data(as_text=True)


def test_the_form_refuses_an_empty_choice_and_unknown_people(
    owner_client: FlaskClient, seeded: dict[str, int]
) -> None:
    response = owner_client.post(f"/people/{seeded['lena']}/withdraw", data={})
    assert response.status_code == 200
    assert "Choose the channels" in response.get_data(as_text=True)
    assert owner_client.get("/people/999999/withdraw").status_code == 404
    assert (
        owner_client.post(
            f"/people/{seeded['lena']}/withdraw", data={"channels": "myspace"}
        ).status_code
        == 200
    )
    chooser = owner_client.get("/withdrawals/new")
    assert chooser.status_code == 200 and "Omar Said" in chooser.get_data(as_text=True)


def test_overdue_removals_stand_out_in_the_list_the_nav_and_the_start_page(
    owner_client: FlaskClient, seeded: dict[str, int]
) -> None:
    listing = owner_client.get("/removals/").get_data(as_text=True)
    assert "removal-overdue" in listing and "Omar Said" in listing
    assert 'class="badge badge-bad" title="Overdue removals">1<' in listing
    start = owner_client.get("/").get_data(as_text=True)
    assert "1 post is overdue for removal." in start
    assert 'class="badge badge-bad" title="Overdue removals">1<' in start
    assert owner_client.get("/removals/?status=done").status_code == 200
    assert owner_client.get("/removals/?status=nonsense").status_code == 200
    assert owner_client.get("/removals/999999").status_code == 404


def test_closing_a_manual_task_shows_who_and_when(
    app: Flask, owner_client: FlaskClient, seeded: dict[str, int]
) -> None:
    response = owner_client.post(
        f"/removals/{seeded['late']}/close",
        data={"note": "Deleted on the phone"},
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "Taken down by Ann-Christin on" in html and "Deleted on the phone" in html
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        task = stored(s, RemovalTask, seeded["late"])
        assert task.status == "done" and task.closed_at is not None
        assert stored(s, Publication, task.publication_id).live is False
    assert "badge-bad" not in owner_client.get("/").get_data(as_text=True).split("</header>")[0]
    twice = owner_client.post(f"/removals/{seeded['late']}/close", data={}, follow_redirects=True)
    assert "already closed" in twice.get_data(as_text=True)


def test_the_start_page_counts_with_a_fixed_number_of_queries(
    app: Flask, owner_client: FlaskClient, seeded: dict[str, int]
) -> None:
    rt: Runtime = app.extensions["runtime"]
    engine = rt.engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    owner_client.get("/")
    # The start page remembers its counts for a few seconds: count both requests cold.
    cache = rt.cache
    cache.clear()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        html = owner_client.get("/").get_data(as_text=True)
        small = len(statements)
        with rt.sessions() as s:
            for i in range(15):
                person = consenting_person(s, rt, f"Person {i}")
                photo = photo_with(s, person)
                queue(s, photo, status=QueueStatus.BLOCKED)
                pub = publish(
                    s, photo, "instagram", person=person, publisher="manual", external_id=None
                )
                s.add(
                    RemovalTask(
                        publication_id=pub.id, person_id=person.id, method="manual", due_at=utcnow()
                    )
                )
            s.commit()
        statements.clear()
        cache.clear()
        html = owner_client.get("/").get_data(as_text=True)
        assert len(statements) == small
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    # Omar's and the 15 new ones are all open and all due: both tiles say 16.
    assert html.count('<span class="num">16</span>') == 2
    assert html.count('<span class="num">15</span>') == 1  # blocked queue items


# -- JSON API --------------------------------------------------------------------------------


def test_api_withdraws_and_lists_and_closes(
    app: Flask, client: FlaskClient, users: dict[str, int], seeded: dict[str, int]
) -> None:
    headers = {"Authorization": f"Bearer {token(app, 'owner', users)}"}
    r = client.post(
        f"/api/v1/people/{seeded['lena']}/withdrawals",
        json={"channels": ["instagram"]},
        headers=headers,
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["changed"] is True and body["channels"] == ["instagram"]
    assert [t["method"] for t in body["removal_tasks"]] == ["manual"]
    task_id = body["removal_tasks"][0]["id"]
    again = client.post(
        f"/api/v1/people/{seeded['lena']}/withdrawals",
        json={"channels": ["instagram"]},
        headers=headers,
    ).get_json()
    assert again["changed"] is False and again["removal_tasks"] == []

    listing = client.get("/api/v1/removal-tasks?status=overdue", headers=headers).get_json()
    assert [t["id"] for t in listing["tasks"]] == [seeded["late"]]
    assert listing["counts"] == {"open": 2, "overdue": 1, "done": 0}
    one = client.get(f"/api/v1/removal-tasks/{task_id}", headers=headers).get_json()
    assert one["status"] == "open" and one["url"].startswith("https://example.com/instagram/")
    closed = client.post(
        f"/api/v1/removal-tasks/{task_id}/close", json={"note": "gone"}, headers=headers
    )
    assert closed.status_code == 200
    assert closed.get_json()["closed_by"] == "Ann-Christin" and closed.get_json()["note"] == "gone"
    assert (
        client.post(f"/api/v1/removal-tasks/{task_id}/close", json={}, headers=headers).status_code
        == 409
    )
    done = client.get("/api/v1/removal-tasks?status=done", headers=headers).get_json()
    assert [t["id"] for t in done["tasks"]] == [task_id]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/api/v1/people/{lena}/withdrawals", {"channels": ["myspace"]}, 422),
        ("post", "/api/v1/people/{lena}/withdrawals", {"channels": 5}, 422),
        ("post", "/api/v1/people/{lena}/withdrawals", {"channels": [1]}, 422),
        ("post", "/api/v1/people/{lena}/withdrawals", {"channels": [], "biometric": False}, 422),
        ("post", "/api/v1/people/{lena}/withdrawals", {"channels": "all", "biometric": "yes"}, 422),
        ("post", "/api/v1/people/{lena}/withdrawals", {"biometric": True}, 422),
        ("post", "/api/v1/people/{lena}/withdrawals", {"channels": "all", "extra": 1}, 422),
        ("post", "/api/v1/people/{lena}/withdrawals", ["all"], 400),
        ("post", "/api/v1/people/999999/withdrawals", {"channels": "all"}, 404),
        ("post", "/api/v1/people/99999999999999999999999/withdrawals", {"channels": "all"}, 404),
        ("get", "/api/v1/removal-tasks?status=late", None, 400),
        ("get", "/api/v1/removal-tasks?limit=0", None, 400),
        ("get", "/api/v1/removal-tasks?limit=abc", None, 400),
        ("get", "/api/v1/removal-tasks?person_id=-1", None, 400),
        ("get", "/api/v1/removal-tasks/999999", None, 404),
        ("get", "/api/v1/removal-tasks/99999999999999999999999", None, 404),
        ("post", "/api/v1/removal-tasks/{late}/close", {"note": 5}, 422),
        ("post", "/api/v1/removal-tasks/{late}/close", {"note": "x" * 2001}, 422),
        ("post", "/api/v1/removal-tasks/{late}/close", {"who": "me"}, 422),
        ("post", "/api/v1/removal-tasks/999999/close", {}, 404),
    ],
)
def test_api_bad_input_gets_a_clear_json_error(
    app: Flask,
    client: FlaskClient,
    users: dict[str, int],
    seeded: dict[str, int],
    method: str,
    path: str,
    body: Any,
    status: int,
) -> None:
    headers = {"Authorization": f"Bearer {token(app, 'owner', users)}"}
    url = path.format(**seeded)
    response = (
        getattr(client, method)(url, json=body, headers=headers)
        if body is not None
        else getattr(client, method)(url, headers=headers)
    )
    assert response.status_code == status
    assert isinstance(response.get_json()["error"], str)


def test_api_access(
    app: Flask, client: FlaskClient, users: dict[str, int], seeded: dict[str, int]
) -> None:
    assert client.get("/api/v1/removal-tasks").status_code == 401
    staff = {"Authorization": f"Bearer {token(app, 'staff', users)}"}
    assert client.get("/api/v1/removal-tasks", headers=staff).status_code == 200
    assert (
        client.post(
            f"/api/v1/people/{seeded['lena']}/withdrawals", json={"channels": "all"}, headers=staff
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/removal-tasks/{seeded['late']}/close", json={}, headers=staff
        ).status_code
        == 403
    )


def test_the_openapi_document_describes_every_endpoint(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    headers = {"Authorization": f"Bearer {token(app, 'owner', users)}"}
    spec = client.get("/api/v1/openapi.json", headers=headers).get_json()
    paths = spec["paths"]
    assert "post" in paths["/people/{person_id}/withdrawals"]
    assert paths["/people/{person_id}/withdrawals"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"] == {"$ref": "#/components/schemas/WithdrawalRequest"}
    assert {"/removal-tasks", "/removal-tasks/{task_id}", "/removal-tasks/{task_id}/close"} <= set(
        paths
    )
    assert "RemovalTask" in spec["components"]["schemas"]


def test_the_pages_speak_swedish(owner_client: FlaskClient, seeded: dict[str, int]) -> None:
    sv = {"Accept-Language": "sv"}
    start = owner_client.get("/", headers=sv).get_data(as_text=True)
    assert "1 inlägg är försenat för borttagning." in start and "Borttagningar" in start
    listing = owner_client.get("/removals/", headers=sv).get_data(as_text=True)
    assert "Inlägg att ta bort" in listing and "Försenad" in listing
    form = owner_client.get(f"/people/{seeded['lena']}/withdraw", headers=sv).get_data(as_text=True)
    assert "Återkalla samtycke för Lena Berg" in form
    done = owner_client.post(
        f"/people/{seeded['lena']}/withdraw",
        data={"channels": ["instagram"]},
        headers=sv,
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Återkallat för Instagram." in done and "1 behöver dig (länkar nedan)" in done


def test_removal_filter_counts_match_the_list_of_one_person(
    owner_client: FlaskClient, seeded: dict[str, int]
) -> None:
    import re

    def tab_counts(html: str) -> list[int]:
        return [int(n) for n in re.findall(r'<span class="count[^"]*">(\d+)</span>', html)]

    everyone = owner_client.get("/removals/?status=open").get_data(as_text=True)
    assert tab_counts(everyone)[:2] == [1, 1]  # Omar's overdue task
    lena = owner_client.get(f"/removals/?status=open&person_id={seeded['lena']}")
    html = lena.get_data(as_text=True)
    # Lena has no removal task: her counts are zero, as her list is empty.
    assert tab_counts(html)[:3] == [0, 0, 0]
    assert "removal-task" not in html or html.count('class="card removal') == 0
    omar = owner_client.get(f"/removals/?status=open&person_id={seeded['omar']}")
    assert tab_counts(omar.get_data(as_text=True))[:3] == [1, 1, 0]
    # The menu's badge still counts everyone's overdue tasks.
    assert 'class="badge badge-bad"' in html
