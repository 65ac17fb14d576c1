"""The one public route: a cleared copy behind a short-lived unguessable link (Meta fetches it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, send_file

from consentcam.services import publishing
from consentcam.storage import StorageError
from consentcam.web import db, runtime

bp = Blueprint("public", __name__)


@bp.route("/p/<token>")
def cleared_copy(token: str) -> Any:
    key = publishing.resolve_public_link(db(), token)
    if key is None:
        abort(404)
    try:
        path = runtime().storage.path(key)
    except StorageError:
        abort(404)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype="image/jpeg", conditional=False, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
