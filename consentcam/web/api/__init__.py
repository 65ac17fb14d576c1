"""The JSON API under /api/v1: bearer tokens (or a signed-in browser), JSON errors, and its OpenAPI document.

Each operation is declared once with ``bp.endpoint`` (see ``declare``): the route, the request
and response schemas and the summary; the document at /api/v1/openapi.json is written from them.
"""

from __future__ import annotations

import importlib
from typing import Any, NoReturn, TypeVar

from flask import Blueprint, Response, abort, current_app, g, jsonify, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from consentcam.models import User
from consentcam.services import users
from consentcam.web import csrf, db, note_use, roles
from consentcam.web.api.declare import ApiBlueprint, document

T = TypeVar("T")

bp = ApiBlueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

# Modules that declare operations on this blueprint (each imports `bp`).
API_MODULES: tuple[str, ...] = (
    "consentcam.web.api.withdrawals",
    "consentcam.web.api.removals",
    "consentcam.web.api.photos",
    "consentcam.web.api.faces",
    "consentcam.web.api.queue",
    "consentcam.web.api.publications",
    "consentcam.web.api.audits",
    "consentcam.web.api.people",
    "consentcam.web.api.consents",
    "consentcam.web.api.suppliers",
    "consentcam.web.api.consent_links",
)


def api_user() -> User:
    return g.api_user  # type: ignore[no-any-return]


def not_found(description: str) -> NoReturn:
    abort(404, description=description)


def found(row: T | None, description: str) -> T:
    """The row a look-up found; a 404 answer saying ``description`` when it found none."""
    if row is None:
        not_found(description)
    return row


@bp.before_request
def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() == "bearer":  # the scheme is case-insensitive (RFC 9110, 11.1)
        token = users.token_for(db(), credentials.strip())
        if token is None:
            abort(401, description="the bearer token is unknown, expired or revoked")
        if token.scope == "read" and request.method not in ("GET", "HEAD", "OPTIONS"):
            abort(403, description="this token may only read")
        used = users.token_use_due(token)
        if used is not None:
            note_use(lambda s: users.save_token_use(s, token.id, used))
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
    response = jsonify({"error": exc.description or exc.name})
    if exc.code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="consentcam"'
    return response, exc.code or 500


# Flask looks for a handler of the status code (the app's 403 and 404 pages) before one of the
# exception class, so the API names its codes: its errors stay JSON with their own reason.
for _code in (400, 401, 403, 404, 405, 409, 413, 422, 429):
    bp.register_error_handler(_code, _http_error)


def openapi() -> Response:
    return jsonify(document(current_app, bp))


# A plain Flask route: the document does not describe itself.
Blueprint.add_url_rule(bp, "/openapi.json", "openapi", openapi, methods=["GET"])


def init_app(app: Any) -> None:
    for name in API_MODULES:
        importlib.import_module(name)


# Route modules attach to `bp`, so they must load before any app registers it (Flask refuses
# routes added to a blueprint after its first registration).
for _name in API_MODULES:
    importlib.import_module(_name)
