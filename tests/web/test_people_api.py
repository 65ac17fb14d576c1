"""The people, consent and supplier API: access, validation with clear errors, and the OpenAPI document."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentcam.models import ConsentRecord, Event, User
from consentcam.services import users as users_service
from tests.web.people_helpers import PDF_SCAN, signature_png


@pytest.fixture
def tokens(app: Flask, users: dict[str, int]) -> dict[str, dict[str, str]]:
    rt = app.extensions["runtime"]
    out: dict[str, dict[str, str]] = {}
    with rt.sessions() as s:
        for role in ("owner", "staff"):
            _t, clear = users_service.create_token(s, s.get(User, users[role]), role)
            out[role] = {"Authorization": f"Bearer {clear}"}
        s.commit()
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ENDPOINTS = [
    ("GET", "/api/v1/people", None),
    ("POST", "/api/v1/people", {"name": "X"}),
    ("GET", "/api/v1/people/1", None),
    ("PATCH", "/api/v1/people/1", {"name": "Y"}),
    ("GET", "/api/v1/people/1/consents", None),
    ("POST", "/api/v1/people/1/consents", {}),
    ("GET", "/api/v1/consents/1", None),
    ("GET", "/api/v1/suppliers", None),
    ("POST", "/api/v1/suppliers", {"name": "S"}),
    ("GET", "/api/v1/suppliers/1/permissions", None),
    ("POST", "/api/v1/suppliers/1/permissions", {}),
    ("POST", "/api/v1/supplier-permissions/1/revoke", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_anonymous_gets_401(
    client: FlaskClient, users: dict[str, int], method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = client.open(path, method=method, json=body)
    assert response.status_code == 401 and "error" in response.get_json()


@pytest.mark.parametrize(("method", "path", "body"), [e for e in ENDPOINTS if e[0] != "GET"])
def test_staff_cannot_write(
    client: FlaskClient,
    tokens: dict[str, dict[str, str]],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    response = client.open(path, method=method, json=body, headers=tokens["staff"])
    assert response.status_code == 403


def test_people_and_consent_round_trip(
    client: FlaskClient, tokens: dict[str, dict[str, str]], app: Flask
) -> None:
    owner, staff = tokens["owner"], tokens["staff"]
    created = client.post(
        "/api/v1/people", json={"name": "Åsa Öberg", "email": "asa@example.com"}, headers=owner
    )
    assert created.status_code == 201
    person = created.get_json()
    assert person["name"] == "Åsa Öberg" and person["active_channels"] == 0
    pid = person["id"]
    listing = client.get("/api/v1/people?q=asa@", headers=staff).get_json()
    assert listing["total"] == 1 and listing["people"][0]["id"] == pid
    patched = client.patch(f"/api/v1/people/{pid}", json={"phone": "070-123"}, headers=owner)
    assert patched.status_code == 200 and patched.get_json()["phone"] == "070-123"
    png = signature_png()
    given = client.post(
        f"/api/v1/people/{pid}/consents",
        json={
            "channels": ["instagram", "facebook"],
            "evidence": _b64(png),
            "evidence_mime": "image/png",
            "evidence_kind": "signature",
            "biometric": True,
            "language": "sv",
            "expires_at": "2031-01-01T00:00:00Z",
        },
        headers=owner,
    )
    assert given.status_code == 201, given.get_json()
    consent = given.get_json()
    assert consent["state"] == "active" and consent["form"]["language"] == "sv"
    assert [c["channel"] for c in consent["channels"]] == ["facebook", "instagram"]
    assert consent["evidence_sha256"] == __import__("hashlib").sha256(png).hexdigest()
    assert client.get(f"/api/v1/consents/{consent['id']}", headers=staff).get_json() == consent
    assert client.get(f"/api/v1/people/{pid}/consents", headers=staff).get_json()["consents"] == [
        consent
    ]
    person = client.get(f"/api/v1/people/{pid}", headers=staff).get_json()
    assert (
        person["active_channels"] == 2
        and person["biometric"] is True
        and person["consent_count"] == 1
    )
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        assert "consent.given" in list(s.scalars(sa.select(Event.kind)))


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"evidence_mime": "image/png", "evidence_kind": "signature"}, 422, "evidence is required"),
        (
            {"evidence": "!!!", "evidence_mime": "image/png", "evidence_kind": "signature"},
            422,
            "base64",
        ),
        (
            {
                "evidence": _b64(signature_png(ink=False)),
                "evidence_mime": "image/png",
                "evidence_kind": "signature",
                "channels": ["instagram"],
            },
            422,
            "blank",
        ),
        (
            {
                "evidence": _b64(PDF_SCAN),
                "evidence_mime": "image/png",
                "evidence_kind": "signature",
                "channels": ["instagram"],
            },
            422,
            "not a PNG",
        ),
        (
            {
                "evidence": _b64(b"nope"),
                "evidence_mime": "application/pdf",
                "evidence_kind": "scan",
                "channels": ["instagram"],
            },
            422,
            "not a PDF",
        ),
        (
            {
                "evidence": _b64(PDF_SCAN),
                "evidence_mime": "application/pdf",
                "evidence_kind": "scan",
                "channels": ["tiktok"],
            },
            422,
            "channels",
        ),
        (
            {
                "evidence": _b64(PDF_SCAN),
                "evidence_mime": "application/pdf",
                "evidence_kind": "scan",
            },
            422,
            "at least one channel",
        ),
        (
            {
                "evidence": _b64(PDF_SCAN),
                "evidence_mime": "application/pdf",
                "evidence_kind": "scan",
                "channels": ["print"],
                "expires_at": "2030-01-01",
            },
            422,
            "time zone",
        ),
        (
            {
                "evidence": _b64(PDF_SCAN),
                "evidence_mime": "application/pdf",
                "evidence_kind": "scan",
                "channels": ["print"],
                "expires_at": "yesterday",
            },
            422,
            "ISO 8601",
        ),
        (
            {
                "evidence": _b64(PDF_SCAN),
                "evidence_mime": "application/pdf",
                "evidence_kind": "scan",
                "channels": ["print"],
                "scope": "listed",
                "photo_ids": [5],
            },
            422,
            "no such photo",
        ),
        (
            {
                "evidence": _b64(PDF_SCAN),
                "evidence_mime": "application/pdf",
                "evidence_kind": "scan",
                "channels": ["print"],
                "photo_ids": [2**40],
            },
            422,
            "photo_ids",
        ),
        (
            {
                "evidence": _b64(PDF_SCAN),
                "evidence_mime": "application/pdf",
                "evidence_kind": "scan",
                "channels": ["print"],
                "extra": 1,
            },
            422,
            "unknown field",
        ),
        (
            {
                "evidence": _b64(PDF_SCAN),
                "evidence_mime": "application/pdf",
                "evidence_kind": "scan",
                "channels": "print",
            },
            422,
            "must be an array",
        ),
        (
            {
                "evidence": _b64(PDF_SCAN),
                "evidence_mime": "application/pdf",
                "evidence_kind": "scan",
                "channels": ["print"],
                "biometric": "yes",
            },
            422,
            "boolean",
        ),
    ],
)
def test_bad_consent_requests_are_clear_422s(
    client: FlaskClient,
    tokens: dict[str, dict[str, str]],
    app: Flask,
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    pid = client.post("/api/v1/people", json={"name": "Bo"}, headers=tokens["owner"]).get_json()[
        "id"
    ]
    response = client.post(f"/api/v1/people/{pid}/consents", json=body, headers=tokens["owner"])
    assert response.status_code == status
    assert message in response.get_json()["error"]
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        assert s.scalar(sa.select(sa.func.count(ConsentRecord.id))) == 0
    assert list(rt.storage.keys("evidence")) == []


def test_bad_person_requests(client: FlaskClient, tokens: dict[str, dict[str, str]]) -> None:
    owner = tokens["owner"]
    assert client.post("/api/v1/people", data="not json", headers=owner).status_code == 400
    assert client.post("/api/v1/people", json=[1], headers=owner).status_code == 400
    assert client.post("/api/v1/people", json={}, headers=owner).status_code == 422
    assert client.post("/api/v1/people", json={"name": "  "}, headers=owner).status_code == 422
    assert client.post("/api/v1/people", json={"name": 5}, headers=owner).status_code == 422
    assert (
        client.post(
            "/api/v1/people", json={"name": "A", "email": "nope"}, headers=owner
        ).status_code
        == 422
    )
    assert client.get("/api/v1/people/99", headers=owner).status_code == 404
    assert client.get(f"/api/v1/people/{2**70}", headers=owner).status_code == 404
    assert client.get("/api/v1/people?page=0", headers=owner).status_code == 400
    assert client.get("/api/v1/people?per_page=x", headers=owner).status_code == 400
    assert client.get("/api/v1/consents/4", headers=owner).status_code == 404


def test_minor_needs_guardian_via_api(
    client: FlaskClient, tokens: dict[str, dict[str, str]]
) -> None:
    owner = tokens["owner"]
    pid = client.post(
        "/api/v1/people", json={"name": "Kid", "is_minor": True}, headers=owner
    ).get_json()["id"]
    body = {
        "channels": ["website"],
        "evidence": _b64(PDF_SCAN),
        "evidence_mime": "application/pdf",
        "evidence_kind": "scan",
    }
    refused = client.post(f"/api/v1/people/{pid}/consents", json=body, headers=owner)
    assert refused.status_code == 422 and "guardian" in refused.get_json()["error"]
    ok = client.post(
        f"/api/v1/people/{pid}/consents", json={**body, "guardian_name": "Parent"}, headers=owner
    )
    assert ok.status_code == 201 and ok.get_json()["signed_by_guardian"] is True


def test_suppliers_api(client: FlaskClient, tokens: dict[str, dict[str, str]]) -> None:
    owner, staff = tokens["owner"], tokens["staff"]
    created = client.post("/api/v1/suppliers", json={"name": "Foto AB"}, headers=owner)
    assert created.status_code == 201
    sid = created.get_json()["id"]
    assert (
        client.post("/api/v1/suppliers", json={"name": "Foto AB"}, headers=owner).status_code == 409
    )
    assert [
        s["name"] for s in client.get("/api/v1/suppliers", headers=staff).get_json()["suppliers"]
    ] == ["Foto AB"]
    body = {
        "channels": ["instagram"],
        "valid_from": "2026-01-01T00:00:00+01:00",
        "document": _b64(PDF_SCAN),
        "document_mime": "application/pdf",
    }
    perm = client.post(f"/api/v1/suppliers/{sid}/permissions", json=body, headers=owner)
    assert perm.status_code == 201, perm.get_json()
    permission = perm.get_json()
    assert permission["state"] == "active" and permission["document_mime"] == "application/pdf"
    bad = client.post(
        f"/api/v1/suppliers/{sid}/permissions",
        json={**body, "valid_until": "2025-01-01T00:00:00Z"},
        headers=owner,
    )
    assert bad.status_code == 422 and "after" in bad.get_json()["error"]
    assert (
        client.post(
            f"/api/v1/suppliers/{sid}/permissions", json={**body, "channels": []}, headers=owner
        ).status_code
        == 422
    )
    revoked = client.post(f"/api/v1/supplier-permissions/{permission['id']}/revoke", headers=owner)
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    assert (
        client.post(
            f"/api/v1/supplier-permissions/{permission['id']}/revoke", headers=owner
        ).status_code
        == 200
    )
    listed = client.get(f"/api/v1/suppliers/{sid}/permissions", headers=staff).get_json()[
        "permissions"
    ]
    assert [p["state"] for p in listed] == ["revoked"]
    assert client.post("/api/v1/supplier-permissions/99/revoke", headers=owner).status_code == 404


def test_openapi_describes_these_endpoints(
    client: FlaskClient, tokens: dict[str, dict[str, str]]
) -> None:
    spec = client.get("/api/v1/openapi.json", headers=tokens["staff"]).get_json()
    for method, path, _body in ENDPOINTS:
        templated = path.replace("/api/v1", "").replace("/1", "/{x}")
        matches = [
            p
            for p in spec["paths"]
            if p.split("{")[0] == templated.split("{")[0] and p.count("{") == templated.count("{")
        ]
        assert any(method.lower() in spec["paths"][p] for p in matches), path
    consent_new = spec["components"]["schemas"]["ConsentNew"]
    assert consent_new["additionalProperties"] is False
    assert consent_new["properties"]["expires_at"]["format"] == "date-time"
    assert "201" in spec["paths"]["/people/{person_id}/consents"]["post"]["responses"]
