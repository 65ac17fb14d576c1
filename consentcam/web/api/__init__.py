"""The JSON API under /api/v1: bearer tokens (or a signed-in browser), JSON errors, and its OpenAPI document."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, g, jsonify, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from consentcam.models import User
from consentcam.services import users
from consentcam.web import csrf, db, roles

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

F = TypeVar("F", bound=Callable[..., Any])

# Modules that add routes and OpenAPI paths to this blueprint (each imports `bp` and `documented`).
API_MODULES: tuple[str, ...] = (
    "consentcam.web.api.withdrawals",
    "consentcam.web.api.photos",
    "consentcam.web.api.publishing",
    "consentcam.web.api.audits",
    "consentcam.web.api.people",
    "consentcam.web.api.suppliers",
    "consentcam.web.api.consent_links",
)

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "consentcam API",
        "version": "1",
        "description": "People, consent, supplier permissions, photos and faces, the publish gate, "
        "the queue, publications, removal tasks and audits. Authenticate with "
        "`Authorization: Bearer <token>`; the owner creates tokens under Settings.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}, "details": {}},
            }
        },
    },
}

_ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
ERROR_RESPONSES = {
    code: {"description": text, "content": _ERROR_BODY}
    for code, text in (
        ("400", "The request is malformed"),
        ("401", "No valid bearer token"),
        ("403", "Only the owner may do this"),
        ("404", "No such object"),
        ("409", "Conflicts with the current state"),
        ("413", "The request body is too large"),
        ("422", "The request is well-formed but not valid"),
    )
}


def schema(name: str, definition: dict[str, Any]) -> dict[str, str]:
    """Register a component schema and return a reference to it."""
    SPEC["components"]["schemas"][name] = definition
    return {"$ref": f"#/components/schemas/{name}"}


def documented(
    path: str,
    method: str,
    summary: str,
    *,
    tag: str,
    response: dict[str, Any] | None = None,
    status: int = 200,
    body: dict[str, Any] | None = None,
    body_type: str = "application/json",
    parameters: list[dict[str, Any]] | None = None,
    owner_only: bool = False,
) -> Callable[[F], F]:
    """Describe an endpoint in the OpenAPI document (path in OpenAPI form, e.g. /people/{person_id})."""

    def decorator(fn: F) -> F:
        op: dict[str, Any] = {
            "summary": summary,
            "operationId": fn.__name__,
            "tags": [tag],
            "responses": {
                str(status): {
                    "description": "OK",
                    **({"content": {"application/json": {"schema": response}}} if response else {}),
                },
                **{k: v for k, v in ERROR_RESPONSES.items() if k != "403" or owner_only},
            },
        }
        params = list(parameters or [])
        for part in path.split("/"):
            if part.startswith("{") and part.endswith("}"):
                params.append(
                    {
                        "name": part[1:-1],
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    }
                )
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = {"required": True, "content": {body_type: {"schema": body}}}
        if owner_only:
            op["description"] = "Owner only."
        SPEC["paths"].setdefault(path, {})[method.lower()] = op
        return fn

    return decorator


def api_user() -> User:
    return g.api_user  # type: ignore[no-any-return]


def require_owner() -> None:
    if not api_user().is_owner:
        abort(403, description="only the owner may do this")


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description="send a JSON object with Content-Type: application/json")
    return data


@bp.before_request
def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() == "bearer":  # the scheme is case-insensitive (RFC 9110, 11.1)
        token = users.token_for(db(), credentials.strip())
        if token is None:
            abort(401, description="the bearer token is unknown, expired or revoked")
        db().commit()
        if token.scope == "read" and request.method not in ("GET", "HEAD", "OPTIONS"):
            abort(403, description="this token may only read")
        g.api_user = token.user
        roles.require(request.endpoint, token.user)
        return
    # A signed-in browser may call the API too (its forms carry CSRF tokens elsewhere;
    # here only same-site cookies reach us, and writes need a token).
    if current_user.is_authenticated and request.method in ("GET", "HEAD", "OPTIONS"):
        g.api_user = current_user._get_current_object()
        roles.require(request.endpoint, g.api_user)
        return
    abort(401, description="send Authorization: Bearer <token>")


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    db().rollback()
    response = jsonify({"error": exc.description or exc.name})
    if exc.code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="consentcam"'
    return response, exc.code or 500


# Flask looks for a handler of the status code (the app's 403 and 404 pages) before one of the
# exception class, so the API names its codes: its errors stay JSON with their own reason.
for _code in (400, 401, 403, 404, 405, 409, 413, 422, 429):
    bp.register_error_handler(_code, _http_error)


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(SPEC)


def init_app(app: Any) -> None:
    for name in API_MODULES:
        importlib.import_module(name)


# Route modules attach to `bp`, so they must load before any app registers it (Flask refuses
# routes added to a blueprint after its first registration).
for _name in API_MODULES:
    importlib.import_module(_name)
