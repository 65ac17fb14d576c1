"""Web hardening: security headers and CSP, secure cookies, a clear 413, and sign-in rate limits."""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, render_template_string, request
from flask.wrappers import Request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

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

#: Sign-in attempts allowed per IP address and e-mail address, as (count, seconds) windows.
DEFAULT_LOGIN_LIMITS = "5/minute;20/hour"
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


TOO_LARGE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><link rel="stylesheet" href="{{ url_for('static', filename='app.css') }}">
</head><body><main class="container"><h1>{{ title }}</h1><p>{{ message }}</p>
<p><a href="/">{{ back }}</a></p></main></body></html>"""


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


class Counter(Protocol):
    def hit(self, key: str, limits: list[tuple[int, int]]) -> int | None:
        """Count one attempt; return seconds to wait when a limit is exceeded, else None."""


class MemoryCounter:
    """Sliding windows in this process (one web process; the default)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limits: list[tuple[int, int]]) -> int | None:
        now = time.monotonic()
        longest = max(seconds for _, seconds in limits)
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - longest:
                hits.popleft()
            for count, seconds in limits:
                recent = [t for t in hits if t > now - seconds]
                if len(recent) >= count:
                    return max(1, int(recent[0] + seconds - now) + 1)
            hits.append(now)
            if len(self._hits) > 50_000:  # bound memory under a spray of addresses
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - longest}
        return None


class RedisCounter:
    """Fixed windows in Redis, shared by every web process on every machine."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def hit(self, key: str, limits: list[tuple[int, int]]) -> int | None:
        now = int(time.time())
        keys = [f"consentcam:limit:{key}:{seconds}:{now // seconds}" for _, seconds in limits]
        counts = [int(c or 0) for c in self._redis.mget(keys)]
        for (count, seconds), used in zip(limits, counts, strict=True):
            if used >= count:
                return seconds - now % seconds
        pipe = self._redis.pipeline()
        for (_, seconds), k in zip(limits, keys, strict=True):
            pipe.incr(k)
            pipe.expire(k, seconds + 5)
        pipe.execute()
        return None


@dataclass
class LoginLimiter:
    counter: Counter
    limits: list[tuple[int, int]]

    def check(self, ip: str, email: str) -> int | None:
        if not self.limits:
            return None
        return self.counter.hit(f"login:{ip}:{email.strip().lower()}", self.limits)


def make_limiter(app: Flask) -> LoginLimiter:
    limits = parse_limits(str(app.config.get("LOGIN_RATE_LIMIT", DEFAULT_LOGIN_LIMITS)))
    queue = str(app.config.get("QUEUE_URL") or "")
    storage = str(app.config.get("RATE_LIMIT_STORAGE") or "")
    url = storage or (queue if queue.startswith(("redis://", "rediss://")) else "")
    counter: Counter = RedisCounter(url) if url.startswith(("redis", "unix")) else MemoryCounter()
    return LoginLimiter(counter, limits)


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
    page = render_template_string(
        TOO_LARGE_PAGE, title=_("Too large"), message=message, back=_("Back to the start page")
    )
    return page, 413


def _secure_cookies(app: Flask) -> bool:
    setting = app.config.get("SECURE_COOKIES")
    if setting is not None and setting != "":
        return str(setting).lower() in ("1", "true", "yes", "on")
    return str(app.config.get("PUBLIC_URL") or "").startswith("https://")


def init_app(app: Flask) -> None:
    """Wire headers, cookies, proxies, the 413 page and the sign-in limit into the app."""
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
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # Behind a reverse proxy the scheme and client address come from its X-Forwarded-* headers.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.request_class = ClosingRequest
    limiter = make_limiter(app)
    app.extensions["login_limiter"] = limiter
    max_mb = int(app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)

    @app.before_request
    def _limits() -> Any:
        request.environ["consentcam.max_mb"] = max_mb
        if request.endpoint == "auth.login" and request.method == "POST":
            email = request.form.get("email", "")
            wait = limiter.check(request.remote_addr or "?", email)
            if wait is not None:
                return _too_many(wait)
        return None

    @app.url_value_preprocessor
    def _ids_in_range(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        # No row has an id past 31 bits (PostgreSQL would overflow comparing one): a plain 404.
        for value in (values or {}).values():
            if isinstance(value, int) and not 0 <= value <= MAX_ID:
                from flask import abort

                abort(404)

    @app.after_request
    def _headers(response: Response) -> Response:
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

    @app.teardown_request
    def _close_uploads(_exc: BaseException | None) -> None:
        for stream in request.environ.pop("consentcam.upload_files", []):
            try:
                stream.close()
            except OSError:
                pass

    app.register_error_handler(RequestEntityTooLarge, too_large)


def _too_many(wait: int) -> Any:
    from flask_babel import gettext as _

    minutes = max(1, (wait + 59) // 60)
    message = _(
        "Too many sign-in attempts. Wait %(minutes)s minute(s) and try again.", minutes=minutes
    )
    if wants_json():
        response = jsonify({"error": message})
    else:
        response = Response(
            render_template_string(
                TOO_LARGE_PAGE,
                title=_("Wait a moment"),
                message=message,
                back=_("Back to the start page"),
            ),
            mimetype="text/html",
        )
    response.status_code = 429
    response.headers["Retry-After"] = str(wait)
    return response
