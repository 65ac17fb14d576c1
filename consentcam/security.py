"""Web hardening: security headers and CSP, secure cookies, a clear 413, safe redirects, strict
numbers, and sign-in rate limits."""

from __future__ import annotations

import re
import time
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request
from flask.wrappers import Request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from consentcam.public_url import trusted_hosts

# No inline script and no inline style: an injected tag or attribute cannot run or restyle.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: Failed sign-ins allowed per account (e-mail address), from any address.
DEFAULT_LOGIN_LIMITS = "5/minute;20/hour"
#: Failed sign-ins allowed per client address, whatever the e-mail (password spraying).
DEFAULT_ADDRESS_LIMITS = "20/minute;100/hour"
#: The largest id a row can have (ids are INTEGER, 32 bits on PostgreSQL); larger path ids are
#: answered 404 before any query instead of overflowing the driver.
MAX_ID = 2**31 - 1
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

_ASCII_ID = re.compile(r"[0-9]{1,10}")


def parse_id(raw: object) -> int | None:
    """A row id from a query or form field: ASCII digits only, 1..MAX_ID, else None.

    ``str.isdigit()`` accepts "²" and other Unicode digits that ``int()`` then refuses (a 500);
    a strict pattern answers such input like any other non-number.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not _ASCII_ID.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def parse_int(raw: object, low: int, high: int) -> int | None:
    """A whole number in [low, high] written in ASCII digits (an optional leading minus), else None."""
    if not isinstance(raw, str) or not re.fullmatch(r"-?[0-9]{1,12}", raw.strip()):
        return None
    value = int(raw.strip())
    return value if low <= value <= high else None


def safe_next(target: object, default: str = "/") -> str:
    r"""A local path to send the browser to after a form, or ``default``.

    Browsers drop tabs and line breaks from a Location and read a backslash as a slash, so
    ``/\t/evil.example`` and ``/\\evil.example`` would leave the site; only a path that, once
    those are removed, parses with no scheme and no host (and starts with a single slash) is kept.
    """
    if not isinstance(target, str) or not target:
        return default
    cleaned = "".join(
        ch for ch in target if not ch.isspace() and unicodedata.category(ch)[0] != "C"
    )
    if cleaned != target or "\\" in target:
        return default
    if not cleaned.startswith("/") or cleaned.startswith("//"):
        return default
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return default
    if parts.scheme or parts.netloc:
        return default
    return cleaned


class ClosingRequest(Request):
    """A request that closes its spooled upload files at teardown, even after a refused body,
    and answers JSON nested too deep for the parser with 400 instead of a RecursionError."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            from werkzeug.exceptions import BadRequest

            raise BadRequest("the JSON body is nested too deeply") from None

    def _get_file_stream(self, *args: Any, **kwargs: Any) -> Any:
        stream = super()._get_file_stream(*args, **kwargs)
        self.environ.setdefault("consentcam.upload_files", []).append(stream)
        return stream


def parse_limits(text: str) -> list[tuple[int, int]]:
    """'5/minute;20/hour' -> [(5, 60), (20, 3600)]."""
    limits = []
    for part in text.replace(",", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        count, _, period = part.partition("/")
        seconds = _PERIODS.get(period.strip().rstrip("s"))
        if seconds is None or not count.strip().isdigit():
            raise ValueError(f"rate limit {part!r}: use e.g. 5/minute;20/hour")
        limits.append((int(count), seconds))
    return limits


def limiter_storage(app: Flask) -> str:
    """Where sign-in failures are counted: RATE_LIMIT_STORAGE, else a Redis queue, else memory."""
    storage = str(app.config.get("RATE_LIMIT_STORAGE") or "")
    queue = str(app.config.get("QUEUE_URL") or "")
    if storage:
        return storage
    if queue.startswith(("redis://", "rediss://", "unix://")):
        return queue
    return "memory://"


def _client_address() -> str:
    return "address:" + (request.remote_addr or "?")


def _account() -> str:
    return "account:" + str(request.form.get("email", "")).strip().lower()[:254]


def _failed(response: Response) -> bool:
    # A sign-in that works redirects; the form shown again (wrong password, bad input) is a failure.
    return response.status_code != 302


def limit_sign_in(app: Flask, endpoint: str = "auth.login") -> None:
    """Limit failed sign-ins per client address and, separately, per account (Flask-Limiter).

    Only failures count, so signing in does not use up the allowance; spraying many e-mails from
    one address hits the address limit, and many addresses against one account hit its limit.
    The counts live in Redis when QUEUE_URL (or RATE_LIMIT_STORAGE) is Redis, so every web
    process on every machine shares them; otherwise in this process's memory.
    """
    from flask_limiter import Limiter

    text = str(app.config.get("LOGIN_RATE_LIMIT", DEFAULT_LOGIN_LIMITS) or "")
    per_address = str(app.config.get("LOGIN_ADDRESS_RATE_LIMIT", DEFAULT_ADDRESS_LIMITS) or "")
    parse_limits(text)  # a clear error at start for a malformed setting
    parse_limits(per_address)
    limiter = Limiter(
        key_func=_client_address,
        app=app,
        storage_uri=limiter_storage(app),
        key_prefix=f"{app.config.get('QUEUE_NAME') or 'consentcam'}:signin",
        strategy="moving-window",
        headers_enabled=False,
        enabled=bool(text.strip() or per_address.strip()),
    )
    app.extensions["login_limiter"] = limiter
    view: Any = app.view_functions[endpoint]
    for key_func, limits in ((_client_address, per_address), (_account, text)):
        if not limits.strip():
            continue
        view = limiter.limit(
            limits.replace(",", ";"),
            key_func=key_func,
            methods=["POST"],
            deduct_when=_failed,
            scope=key_func.__name__,
        )(view)
    app.view_functions[endpoint] = view

    def too_many(_exc: Exception) -> Any:
        current = limiter.current_limit
        wait = int(current.reset_at - time.time()) + 1 if current is not None else 60
        return _too_many(max(1, wait))

    app.register_error_handler(429, too_many)


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.headers.get("X-Requested-With") == "fetch"


def too_large(exc: HTTPException) -> Any:
    """413 for a body over MAX_UPLOAD_MB, too many form parts or too much form memory."""
    from flask_babel import gettext as _

    limit_mb = int(request.environ.get("consentcam.max_mb") or 0) or None
    message = _("The upload is too large: send fewer or smaller files at a time.")
    if limit_mb:
        message += " " + _("The limit is %(mb)s MB per request.", mb=limit_mb)
    if wants_json():
        return jsonify({"error": message}), 413
    from consentcam.web.errors import page

    return page(413, _("Too large"), message)


def _secure_cookies(app: Flask) -> bool:
    setting = app.config.get("SECURE_COOKIES")
    if setting is not None and setting != "":
        return str(setting).lower() in ("1", "true", "yes", "on")
    return str(app.config.get("PUBLIC_URL") or "").startswith("https://")


def init_app(app: Flask) -> None:
    """Wire headers, cookies, proxies, the 413 page and the sign-in limit into the app."""
    _configure_limits_and_cookies(app)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # Behind a reverse proxy the scheme and client address come from its X-Forwarded-* headers.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.request_class = ClosingRequest
    # Flask answers a request whose Host is not listed with 400 (Flask's own TRUSTED_HOSTS).
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config)
    max_mb = int(app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)

    @app.before_request
    def _limits() -> Any:
        request.environ["consentcam.max_mb"] = max_mb
        return None

    app.url_value_preprocessor(_ids_in_range)
    secure = bool(app.config["SESSION_COOKIE_SECURE"])
    app.after_request(lambda response: _headers(response, secure))
    app.teardown_request(_close_uploads)
    app.register_error_handler(RequestEntityTooLarge, too_large)


def _configure_limits_and_cookies(app: Flask) -> None:
    """The largest request body, and cookies that are HTTP-only (and HTTPS-only when secure)."""
    if not app.config.get("MAX_CONTENT_LENGTH"):
        # Flask's defaults hold MAX_CONTENT_LENGTH=None, so a setdefault elsewhere never bites.
        app.config["MAX_CONTENT_LENGTH"] = int(app.config.get("MAX_UPLOAD_MB") or 64) * 1024 * 1024
    secure = _secure_cookies(app)
    app.config.update(
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_HTTPONLY=True,
    )


def _ids_in_range(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    # No row has an id past 31 bits (PostgreSQL would overflow comparing one): a plain 404.
    for value in (values or {}).values():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            from flask import abort

            abort(404)


def _headers(response: Response, secure: bool) -> Response:
    """Security headers on every answer; no-store on everything but the static files."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(self), geolocation=(), microphone=()")
    if request.is_secure or (secure and request.scheme == "https"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if not (request.endpoint or "").endswith("static"):
        # Pages, photos, JSON, CSV and PDF show people's names, faces and consent: nothing
        # but the static files may stay in any cache, the browser's own included.
        cache = headers.get("Cache-Control", "")
        if "no-store" not in cache:
            headers["Cache-Control"] = "no-store"
    return response


def _close_uploads(_exc: BaseException | None) -> None:
    for stream in request.environ.pop("consentcam.upload_files", []):
        try:
            stream.close()
        except OSError:
            pass


def _too_many(wait: int) -> Any:
    from flask_babel import gettext as _

    minutes = max(1, (wait + 59) // 60)
    message = _(
        "Too many sign-in attempts. Wait %(minutes)s minute(s) and try again.", minutes=minutes
    )
    from flask import make_response

    from consentcam.web.errors import page

    response = make_response(page(429, _("Wait a moment"), message))
    response.status_code = 429
    response.headers["Retry-After"] = str(wait)
    return response
