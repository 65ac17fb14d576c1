"""Error pages in the reader's language, styled like the rest of the app (JSON under /api/)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, SecurityError

from consentcam.web.translate import gettext as _

#: The pages of customers' own links and public copies, whose readers cannot sign in.
CUSTOMER_PATHS = ("/c/", "/m/", "/p/")


def page(
    status: int,
    title: str,
    message: str,
    exc: HTTPException | None = None,
    *,
    back: str | None = None,
) -> Any:
    """The error page (or JSON, for the API and scripts) for ``status``.

    JSON keeps the refusal's own words when it has some (``abort(403, description=...)``).
    ``back``, a path of this site, is offered as the way on (the form to open again).
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
            "errors/page.html",
            title=title,
            message=message,
            back=back,
            # A customer on their own link's pages has no start page here: it is the staff's.
            home=None if request.path.startswith(CUSTOMER_PATHS) else "/",
            current_language=language,
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


def _bad_request(exc: HTTPException) -> Any:
    if isinstance(exc, SecurityError):
        return exc  # an unknown Host: no page of this site can be addressed for it
    return page(
        400,
        _("The request could not be read"),
        _("Nothing was saved. Go back, check what you entered and send it again."),
        exc,
    )


def _form_expired(exc: HTTPException) -> Any:
    """A form whose security token no longer holds: sent after a long pause, after the browser
    was closed, or from a page opened before the last sign-in."""
    return page(
        400,
        _("The form has expired"),
        _(
            "Nothing was saved: the page was open for a long time, or the browser was closed "
            "in between. Open the form again and send it once more."
        ),
        exc,
        back=_page_it_came_from(),
    )


def _page_it_came_from() -> str | None:
    """The path of the page the request came from, when it is a page of this site."""
    from consentcam.security import safe_next

    try:
        parts = urlsplit(request.referrer or "")
    except ValueError:
        return None
    if parts.netloc != request.host or not parts.path:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_next(path, "") or None


def _wrong_method(exc: HTTPException) -> Any:
    """A form's address opened as a page (typed, or from a bookmark), or the like."""
    body, status = page(
        405,
        _("This address belongs to a form"),
        _("Nothing was changed. Open the page the form is on and use its button."),
        exc,
    )
    allowed = getattr(exc, "valid_methods", None) or []
    return body, status, {"Allow": ", ".join(allowed)} if allowed else {}


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
    """Register the 400, 403, 404, 405 and 500 pages (413 and 429 come from consentcam.security)."""
    app.register_error_handler(CSRFError, _form_expired)
    app.register_error_handler(BadRequest, _bad_request)
    app.register_error_handler(403, _forbidden)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _wrong_method)
    app.register_error_handler(InternalServerError, _server_error)
