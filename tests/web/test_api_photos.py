"""The photos API: upload, list, faces, review actions, the gate's verdict, and its OpenAPI description."""

from __future__ import annotations

import io
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentcam.models import Photo, User
from consentcam.services import users as users_service
from tests.conftest import FACES
from tests.web.photo_helpers import person_with_consent, photo_with_faces


@pytest.fixture
def tokens(app: Flask, users: dict[str, int]) -> dict[str, str]:
    rt = app.extensions["runtime"]
    out = {}
    with rt.sessions() as s:
        for role, uid in users.items():
            _, clear = users_service.create_token(s, s.get(User, uid), "tests")
            out[role] = clear
        s.commit()
    return out


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/photos"),
        ("post", "/api/v1/photos"),
        ("get", "/api/v1/photos/1"),
        ("get", "/api/v1/photos/1/faces"),
        ("get", "/api/v1/photos/1/gate"),
        ("post", "/api/v1/faces/1/confirm"),
        ("post", "/api/v1/faces/1/assign"),
        ("post", "/api/v1/faces/1/not-identifiable"),
        ("post", "/api/v1/faces/1/blur"),
    ],
)
def test_anonymous_gets_401(client: FlaskClient, method: str, url: str) -> None:
    response = getattr(client, method)(url)
    assert response.status_code == 401
    assert "error" in response.get_json()


@pytest.mark.parametrize("role", ["owner", "publisher"])
def test_upload_then_review_until_cleared(
    app: Flask, client: FlaskClient, tokens: dict[str, str], role: str
) -> None:
    """The owner, or staff the owner allows to publish: plain staff may not clear faces or
    confirm photos (tests/security/test_attacks.py)."""
    if role == "publisher":
        with app.extensions["runtime"].sessions() as s:
            staff = s.scalar(sa.select(User).where(User.role == "staff"))
            staff.may_publish = True
            s.commit()
    h = _h(tokens["staff" if role == "publisher" else role])
    data = (FACES / "unknown/two_people.jpg").read_bytes()
    response = client.post(
        "/api/v1/photos",
        data={
            "photos": [(io.BytesIO(data), "two.jpg"), (io.BytesIO(b"not an image" * 40), "x.jpg")]
        },
        content_type="multipart/form-data",
        headers=h,
    )
    assert response.status_code == 200
    created, rejected = response.get_json()["results"]
    assert created["status"] == "created" and rejected["status"] == "rejected"
    pid = created["photo"]["id"]
    again = client.post(
        "/api/v1/photos",
        data={"photos": [(io.BytesIO(data), "again.jpg")]},
        content_type="multipart/form-data",
        headers=h,
    ).get_json()["results"][0]
    assert (again["status"], again["photo"]["id"]) == ("duplicate", pid)

    photo = client.get(f"/api/v1/photos/{pid}", headers=h).get_json()
    assert photo["scan_state"] == "done" and len(photo["faces"]) == 2
    faces = client.get(f"/api/v1/photos/{pid}/faces", headers=h).get_json()["faces"]
    assert [f["number"] for f in faces] == [1, 2]
    verdict = client.get(f"/api/v1/photos/{pid}/gate?channels=instagram", headers=h).get_json()
    assert verdict["verdicts"][0]["cleared"] is False
    assert {b["code"] for b in verdict["verdicts"][0]["blockers"]} == {
        "faces_unconfirmed",
        "face_unreviewed",
    }

    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        anna = person_with_consent(rt, s, "Anna", "instagram").id
    first = client.post(
        f"/api/v1/faces/{faces[0]['id']}/assign",
        json={"person_id": anna, "version": faces[0]["version"]},
        headers=h,
    )
    assert first.status_code == 200 and first.get_json()["person"]["id"] == anna
    stale = client.post(
        f"/api/v1/faces/{faces[0]['id']}/blur",
        json={"blur": True, "version": faces[0]["version"]},
        headers=h,
    )
    assert stale.status_code == 409 and "someone else" in stale.get_json()["error"]
    second = client.post(
        f"/api/v1/faces/{faces[1]['id']}/not-identifiable",
        json={"reason": "turned away"},
        headers=h,
    )
    assert second.status_code == 200 and second.get_json()["state"] == "not_identifiable"
    # Everyone in it is marked: the owner (or staff allowed to publish) says so, and it clears.
    confirm = client.post(f"/api/v1/photos/{pid}/confirmation", json={}, headers=h)
    assert confirm.status_code == 200 and confirm.get_json()["faces_confirmed_by"]
    verdicts = client.get(
        f"/api/v1/photos/{pid}/gate?channels=instagram,facebook", headers=h
    ).get_json()["verdicts"]
    assert [(v["channel"], v["cleared"]) for v in verdicts] == [
        ("instagram", True),
        ("facebook", False),
    ]
    assert verdicts[1]["blockers"][0]["code"] == "channel_not_covered"
    listed = client.get("/api/v1/photos?state=cleared", headers=h).get_json()
    assert [p["id"] for p in listed["photos"]] == [pid] and listed["total"] == 1


def test_bad_input_gives_clear_errors(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    # The owner: staff may not blur or mark faces (tests/security/test_attacks.py).
    h = _h(tokens["owner"])
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = photo_with_faces(rt, s, 1)
        pid, fid = photo.id, photo.faces[0].id
    cases = [
        ("get", "/api/v1/photos?state=bogus", None, 400),
        ("get", "/api/v1/photos?page=0", None, 400),
        ("get", "/api/v1/photos?per_page=abc", None, 400),
        ("get", f"/api/v1/photos/{pid}/gate?channels=tiktok", None, 400),
        ("get", "/api/v1/photos/99999", None, 404),
        ("get", "/api/v1/photos/99999999999999999999999", None, 404),
        ("post", "/api/v1/faces/99999/blur", {"blur": True}, 404),
        ("post", f"/api/v1/faces/{fid}/blur", {"blur": "yes"}, 422),
        ("post", f"/api/v1/faces/{fid}/assign", {"person_id": True}, 422),
        ("post", f"/api/v1/faces/{fid}/assign", {"person_id": 424242}, 422),
        ("post", f"/api/v1/faces/{fid}/not-identifiable", {"reason": " "}, 422),
        ("post", f"/api/v1/faces/{fid}/not-identifiable", {"reason": 5}, 422),
        ("post", f"/api/v1/faces/{fid}/confirm", {}, 409),  # no suggestion to confirm
        ("post", f"/api/v1/faces/{fid}/blur", {"blur": True, "version": 7}, 422),
        ("post", "/api/v1/photos", None, 400),
    ]
    for method, url, body, status in cases:
        kwargs: dict[str, Any] = {"headers": h}
        if body is not None:
            kwargs["json"] = body
        response = getattr(client, method)(url, **kwargs)
        assert response.status_code == status, (url, body, response.get_data(as_text=True))
        assert isinstance(response.get_json()["error"], str)
    raw = client.post(
        f"/api/v1/faces/{fid}/blur", data="[1]", content_type="application/json", headers=h
    )
    assert raw.status_code == 400
    only_bad = client.post(
        "/api/v1/photos",
        data={"photos": [(io.BytesIO(b"text" * 50), "a.jpg")]},
        content_type="multipart/form-data",
        headers=h,
    )
    assert only_bad.status_code == 422 and "a.jpg" in only_bad.get_json()["error"]
    with rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count(Photo.id))) == 1


def test_openapi_describes_every_photo_endpoint(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    spec = client.get("/api/v1/openapi.json", headers=_h(tokens["owner"])).get_json()
    expected = {
        ("/photos", "post"),
        ("/photos", "get"),
        ("/photos/{photo_id}", "get"),
        ("/photos/{photo_id}/faces", "get"),
        ("/photos/{photo_id}/gate", "get"),
        ("/faces/{face_id}/confirm", "post"),
        ("/faces/{face_id}/assign", "post"),
        ("/faces/{face_id}/not-identifiable", "post"),
        ("/faces/{face_id}/blur", "post"),
    }
    for path, method in expected:
        op = spec["paths"][path][method]
        ok = next(c for c in op["responses"] if c.startswith("2"))
        assert "schema" in op["responses"][ok]["content"]["application/json"], (path, method)
        for p in op.get("parameters", []):
            if p["in"] == "path":
                assert p["schema"] == {"type": "integer", "minimum": 1}
    face = spec["components"]["schemas"]["Face"]
    assert face["properties"]["state"]["enum"] == [
        "pending",
        "suggested",
        "confirmed",
        "not_identifiable",
    ]
    assert (
        "face_unreviewed" in spec["components"]["schemas"]["Blocker"]["properties"]["code"]["enum"]
    )


def test_a_signed_in_browser_may_read_but_not_write(
    client: FlaskClient, users: dict[str, int]
) -> None:
    from tests.conftest import login

    login(client, "staff")
    assert client.get("/api/v1/photos").status_code == 200
    assert client.post("/api/v1/faces/1/blur", json={"blur": True}).status_code == 401
