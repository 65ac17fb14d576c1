"""Error pages in the reader's language, styled like the rest of the app (JSON under /api/)."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, jsonify, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

from consentcam.web.translate import gettext as _


def page(status: int, title: str, message: str, exc: HTTPException | None = None) -> Any:
    """The error page (or JSON, for the API and scripts) for ``status``.

    JSON keeps the refusal's own words when it has some (``abort(403, description=...)``).
    """
    from consentcam.security import wants_json

    if wants_json():
        own = exc.description if exc is not None else None
        generic = type(exc).description if exc is not None else None
        return jsonify({"error": own if own and own != generic else message}), status
    try:
        from consentcam.web import select_locale

        language = select_locale()
    except Exception:  # noqa: BLE001 - an error page must render even when the app is broken
        language = "en"
    return (
        render_template(
            "errors/page.html", title=title, message=message, current_language=language
        ),
        status,
    )


def _forbidden(exc: HTTPException) -> Any:
    return page(403, _("Not for your account"), _("Only the owner can open this page."), exc)


def _not_found(exc: HTTPException) -> Any:
    return page(
        404,
        _("Page not found"),
        _("There is nothing here. It may have been removed, or the address is mistyped."),
        exc,
    )


def _server_error(_exc: HTTPException | Exception) -> Any:
    db_session = g.pop("db", None)
    if db_session is not None:
        # Nothing half-done is kept: closing the session rolls its unit of work back.
        db_session.close()
    return page(
        500,
        _("Something went wrong"),
        _("Nothing was saved. Try again; if it keeps happening, tell whoever runs this app."),
    )


def init_app(app: Flask) -> None:
    """Register the 403, 404 and 500 pages (413 and 429 come from consentcam.security)."""
    app.register_error_handler(403, _forbidden)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(InternalServerError, _server_error)
