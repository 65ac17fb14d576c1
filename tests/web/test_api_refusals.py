"""The declared schemas refuse a bad request in words that name every field at fault."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.hardening.helpers import owner_token


@pytest.fixture
def owner(app: Flask, users: dict[str, int]) -> dict[str, str]:
    return {"Authorization": f"Bearer {owner_token(app, users)}"}


def _error(response: TestResponse, status: int) -> str:
    assert response.status_code == status, response.get_json()
    return str(response.get_json()["error"])


def test_each_field_at_fault_is_named_and_unknown_ones_together(
    client: FlaskClient, owner: dict[str, str]
) -> None:
    unknown = client.post("/api/v1/people", json={"name": "A", "x": 1, "y": 2}, headers=owner)
    assert _error(unknown, 422) == "unknown field(s): x, y"
    several = client.post(
        "/api/v1/people", json={"name": 5, "is_minor": "yes", "email": "nope"}, headers=owner
    )
    words = _error(several, 422)
    for part in ("name must be a string", "is_minor must be a boolean", "email is not"):
        assert part in words


def test_a_list_item_is_named_by_its_place(client: FlaskClient, owner: dict[str, str]) -> None:
    pid = client.post("/api/v1/people", json={"name": "Bo"}, headers=owner).get_json()["id"]
    body = {
        "evidence": "!!",
        "evidence_mime": "application/pdf",
        "evidence_kind": "scan",
        "photo_ids": [3, "a"],
    }
    words = _error(client.post(f"/api/v1/people/{pid}/consents", json=body, headers=owner), 422)
    assert "photo_ids[1] must be an integer" in words and "evidence must be base64" in words


def test_a_body_that_is_not_a_json_object_is_400(
    client: FlaskClient, owner: dict[str, str]
) -> None:
    for kwargs in ({"json": [1]}, {"data": "nope", "content_type": "application/json"}, {}):
        response = client.post("/api/v1/people", headers=owner, **kwargs)
        assert "JSON object" in _error(response, 400)


def test_an_empty_body_is_an_empty_object_where_every_field_may_be_left_out(
    client: FlaskClient, owner: dict[str, str]
) -> None:
    assert _error(client.post("/api/v1/faces/1/blur", headers=owner), 422) == "blur is required"
    assert _error(client.post("/api/v1/faces/1/confirm", headers=owner), 404)


def test_a_bad_query_parameter_is_400_naming_it(client: FlaskClient, owner: dict[str, str]) -> None:
    response = client.get("/api/v1/publications?limit=0&live=maybe", headers=owner)
    words = _error(response, 400)
    assert "live must be true or false" in words
    assert "limit must be a whole number from 1 to 500" in words
    assert client.get("/api/v1/publications?limit=&offset=", headers=owner).status_code == 200
