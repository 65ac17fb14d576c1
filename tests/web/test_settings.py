"""Settings: users, API tokens and the business settings; owner only."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentcam.models import ApiToken, Event, User
from tests.conftest import OWNER_PASSWORD, STAFF_PASSWORD


@pytest.mark.parametrize("path", ["/settings/", "/settings/users", "/settings/tokens"])
def test_access(client: FlaskClient, users: dict[str, int], path: str) -> None:
    from tests.conftest import login

    anonymous = client.get(path)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    login(client, "staff")
    assert client.get(path).status_code == 403
    assert client.post(path, data={}).status_code == 403
    client.post("/logout")
    login(client, "owner")
    assert client.get(path).status_code == 200


def test_add_and_deactivate_a_user(
    owner_client: FlaskClient, app: Flask, users: dict[str, int]
) -> None:
    short = owner_client.post(
        "/settings/users",
        data={"email": "new@example.com", "name": "New", "password": "short", "role": "staff"},
    )
    assert short.status_code == 422 and "at least 12" in short.get_data(as_text=True)
    ok = owner_client.post(
        "/settings/users",
        data={
            "email": "new@example.com",
            "name": "New",
            "password": "a-long-password-1",
            "role": "staff",
        },
    )
    assert ok.status_code == 302
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        new = s.scalar(sa.select(User).where(User.email == "new@example.com"))
        assert new.role == "staff" and new.active
    # A signed-in staff member is signed out when deactivated.
    staff = app.test_client()
    staff.post("/login", data={"email": "staff@example.com", "password": STAFF_PASSWORD})
    assert staff.get("/people/").status_code == 200
    assert owner_client.post(f"/settings/users/{users['staff']}/deactivate").status_code == 302
    assert staff.get("/people/").status_code == 302
    with rt.sessions() as s:
        user = s.get(User, users["staff"])
        assert not user.active and user.session_version == 1
        assert (
            s.scalar(
                sa.select(Event.kind)
                .where(Event.subject == f"user:{user.id}")
                .order_by(Event.seq.desc())
                .limit(1)
            )
            == "user.deactivated"
        )
    own = owner_client.post(f"/settings/users/{users['owner']}/deactivate", follow_redirects=True)
    assert "your own account" in own.get_data(as_text=True)


def test_tokens_shown_once_and_revoked(owner_client: FlaskClient, app: Flask) -> None:
    created = owner_client.post("/settings/tokens", data={"name": "phone"})
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and "shown only this once" in html
    assert created.headers["Cache-Control"] == "no-store"
    clear = html.split('id="new-token">')[1].split("<")[0]
    assert clear.startswith("cc_")
    assert (
        owner_client.get(
            "/api/v1/openapi.json", headers={"Authorization": f"Bearer {clear}"}
        ).status_code
        == 200
    )
    listing = owner_client.get("/settings/tokens").get_data(as_text=True)
    assert clear not in listing and clear[:10] in listing
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        token_id = s.scalar(sa.select(ApiToken.id))
    assert owner_client.post(f"/settings/tokens/{token_id}/revoke").status_code == 302
    fresh = app.test_client()
    assert (
        fresh.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {clear}"}).status_code
        == 401
    )


def test_business_settings_written_to_config(
    owner_client: FlaskClient, app: Flask, instance: Path
) -> None:
    (instance / "config.toml").write_text('secret_key = "keep-me"\nremoval_due_days = 5\n')
    page = owner_client.get("/settings/").get_data(as_text=True)
    assert "Kraftkällan" in page and "ENCRYPTION_KEY" not in page
    response = owner_client.post(
        "/settings/",
        data={"business_name": "Kraftkällan Yoga", "responsible_person": "Ann", "language": "sv"},
    )
    assert response.status_code == 302
    data = tomllib.loads((instance / "config.toml").read_text())
    assert data["business_name"] == "Kraftkällan Yoga" and data["language"] == "sv"
    assert data["secret_key"] == "keep-me" and data["removal_due_days"] == 5
    assert app.extensions["runtime"].settings["BUSINESS_NAME"] == "Kraftkällan Yoga"


def test_swedish_settings(owner_client: FlaskClient) -> None:
    owner_client.post("/language/sv", data={"next": "/settings/"})
    html = owner_client.get("/settings/users").get_data(as_text=True)
    assert "Inställningar" in html and "Användare" in html


def _nav(html: str) -> str:
    return html.split('class="main-nav"')[1].split("</nav>")[0]


def test_main_menu_shows_owner_only_entries_to_the_owner_alone(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    from consentcam.web import NAV, OWNER_ONLY_NAV
    from tests.conftest import login

    assert {"settings.index", "audits.index"} <= OWNER_ONLY_NAV
    assert OWNER_ONLY_NAV <= {endpoint for endpoint, _label in NAV}
    login(client, "staff")
    staff_menu = _nav(client.get("/people/").get_data(as_text=True))
    assert 'href="/people/"' in staff_menu and 'href="/photos/"' in staff_menu
    assert 'href="/settings/"' not in staff_menu and "Settings" not in staff_menu
    assert 'href="/audits/"' not in staff_menu
    # What the menu hides, staff cannot open either.
    assert client.get("/settings/").status_code == 403
    assert client.get("/audits/").status_code == 403
    client.post("/logout")
    login(client, "owner")
    owner_menu = _nav(client.get("/people/").get_data(as_text=True))
    assert 'href="/settings/"' in owner_menu and "Settings" in owner_menu
    assert 'href="/audits/"' in owner_menu


def test_sign_out_on_every_device_from_settings(app: Flask, users: dict[str, int]) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    phone, laptop = app.test_client(), app.test_client()
    for device in (phone, laptop):
        page = device.get("/login").get_data(as_text=True)
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert found is not None
        token = found.group(1)
        response = device.post(
            "/login",
            data={"email": "owner@example.com", "password": OWNER_PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 302
    html = laptop.get("/settings/").get_data(as_text=True)
    form = html.split('action="/logout/everywhere"')[1].split("</form>")[0]
    assert "Sign out on every device" in form
    found = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert found is not None
    token = found.group(1)
    # Without the CSRF token the button does nothing.
    assert laptop.post("/logout/everywhere").status_code == 400
    assert phone.get("/settings/").status_code == 200
    response = laptop.post("/logout/everywhere", data={"csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    for device in (laptop, phone):
        gone = device.get("/settings/")
        assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    with app.extensions["runtime"].sessions() as s:
        assert s.get(User, users["owner"]).session_version == 1
        kinds = s.scalars(sa.select(Event.kind).where(Event.subject == f"user:{users['owner']}"))
        assert "user.signed_out_everywhere" in list(kinds)


def test_every_business_setting_changes_in_the_app(
    owner_client: FlaskClient, app: Flask, instance: Path
) -> None:
    response = owner_client.post(
        "/settings/",
        data={
            "business_name": 'Studio "Kraft" & Källan',
            "responsible_person": "Ann-Christin Sundell",
            "language": "sv",
            "time_zone": "Europe/Helsinki",
            "removal_due_days": "5",
            "retention_amount": "18",
            "retention_unit": "m",
        },
    )
    assert response.status_code == 302
    data = tomllib.loads((instance / "config.toml").read_text())
    assert data["business_name"] == 'Studio "Kraft" & Källan'
    assert data["time_zone"] == "Europe/Helsinki" and data["removal_due_days"] == 5
    assert data["retention"] == "18m"
    settings = app.extensions["runtime"].settings
    assert settings["RETENTION"] == "18m" and settings["REMOVAL_DUE_DAYS"] == 5
    page = owner_client.get("/settings/").get_data(as_text=True)
    assert 'value="18"' in page and "<option selected>Europe/Helsinki</option>" in page


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("business_name", "Kraft\nkällan", "line breaks"),
        ("responsible_person", "Ann\tSundell", "control characters"),
        ("business_name", "Kraft\x00", "control characters"),
        ("removal_due_days", "45", "at most one month"),
        ("removal_due_days", "a week", "from 1 to 31"),
        ("time_zone", "Mars/Olympus", "not a time zone"),
        ("retention_amount", "0", "retention period"),
        ("language", "de", "Swedish or English"),
    ],
)
def test_a_wrong_setting_is_refused_and_nothing_is_written(
    owner_client: FlaskClient, app: Flask, instance: Path, field: str, value: str, words: str
) -> None:
    path = instance / "config.toml"
    path.write_text('secret_key = "keep-me"\nbusiness_name = "Kraftkällan"\n')
    before = path.read_bytes()
    response = owner_client.post("/settings/", data={field: value})
    assert response.status_code == 422
    assert words in response.get_data(as_text=True)
    assert path.read_bytes() == before
    assert tomllib.loads(path.read_text())["business_name"] == "Kraftkällan"


def test_config_file_refuses_control_characters_and_stays_valid_toml(tmp_path: Path) -> None:
    from consentcam import config as config_mod

    with pytest.raises(ValueError, match="control characters"):
        config_mod.write_instance_config(tmp_path, {"business_name": "Kraft\nkällan"})
    assert not (tmp_path / "config.toml").exists()
    config_mod.write_instance_config(tmp_path, {"business_name": 'a "quoted" \\ name', "x": 3})
    assert config_mod.load(tmp_path)["BUSINESS_NAME"] == 'a "quoted" \\ name'


def test_settings_saved_in_one_process_reach_the_others(
    owner_client: FlaskClient,
    app: Flask,
    instance: Path,
    settings: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker and other web processes take in what the owner saved, at their next request or job."""
    from consentcam.runtime import Runtime
    from consentcam.services.settings import follow_config_file
    from consentcam.web import create_app

    other = create_app(dict(settings), instance_path=instance)  # another web process
    worker_rt = Runtime.build(instance, dict(settings))  # the worker's runtime
    try:
        other_rt = other.extensions["runtime"]
        assert follow_config_file(worker_rt) == {}  # nothing saved yet: nothing taken in
        before = other_rt.settings["BUSINESS_NAME"]
        monkeypatch.setenv("CONSENTCAM_TIME_ZONE", "Europe/Oslo")
        response = owner_client.post(
            "/settings/",
            data={
                "business_name": "Kraftkällan Norr",
                "responsible_person": "Ann-Christin Sundell",
                "language": "sv",
                "time_zone": "Europe/Helsinki",
                "removal_due_days": "9",
                "retention_amount": "2",
                "retention_unit": "y",
            },
        )
        assert response.status_code == 302
        assert other_rt.settings["BUSINESS_NAME"] == before  # not before its next request
        other.test_client().get("/login")
        assert other_rt.settings["BUSINESS_NAME"] == "Kraftkällan Norr"
        assert other.config["BUSINESS_NAME"] == "Kraftkällan Norr"
        assert other_rt.settings["REMOVAL_DUE_DAYS"] == 9
        # A setting the environment gives keeps the environment's value.
        assert other_rt.settings["TIME_ZONE"] != "Europe/Helsinki"
        taken = follow_config_file(worker_rt)
        assert taken["BUSINESS_NAME"] == "Kraftkällan Norr" and "TIME_ZONE" not in taken
        assert follow_config_file(worker_rt) == {}  # once only
    finally:
        other.extensions["runtime"].close()
        worker_rt.close()


@pytest.mark.parametrize("outcome", ["rolled back", "committed"])
def test_settings_come_back_when_their_unit_of_work_rolls_back(
    app: Flask, instance: Path, outcome: str
) -> None:
    """config.toml is written before the commit: a rollback puts the file and settings back."""
    from consentcam.models import Event
    from consentcam.services import settings as settings_service

    rt = app.extensions["runtime"]
    path = instance / "config.toml"
    path.write_text('secret_key = "keep-me"\nbusiness_name = "Kraftkällan"\n')
    rt.settings["BUSINESS_NAME"] = "Kraftkällan"
    before = path.read_bytes()
    with rt.sessions() as session:
        changed = settings_service.save(session, rt, {"BUSINESS_NAME": "Nytt namn"})
        assert changed == ["BUSINESS_NAME"]
        assert tomllib.loads(path.read_text())["business_name"] == "Nytt namn"
        if outcome == "committed":
            session.commit()
        else:
            session.rollback()
        # A later unit of work on the same session changes nothing more.
        session.rollback()
    with rt.sessions() as session:
        logged = session.scalar(sa.select(sa.func.count()).where(Event.kind == "settings.changed"))
    if outcome == "committed":
        assert tomllib.loads(path.read_text())["business_name"] == "Nytt namn"
        assert rt.settings["BUSINESS_NAME"] == "Nytt namn" and logged == 1
    else:
        assert path.read_bytes() == before
        assert rt.settings["BUSINESS_NAME"] == "Kraftkällan" and logged == 0
