"""The Flask app: factory, extensions and the blueprints, one per noun."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, g, request, session
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from consentcam import config as config_mod
from consentcam.runtime import Runtime
from consentcam.uow import unit_of_work
from consentcam.web import translate, urls
from consentcam.wording import N_

if TYPE_CHECKING:
    from consentcam.db import Session

LANGUAGES = ("en", "sv")

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()

# Blueprints in the order their links appear; each module exposes `bp`.
BLUEPRINTS = (
    "consentcam.web.auth",
    "consentcam.web.dashboard",
    "consentcam.web.photos",
    "consentcam.web.people",
    "consentcam.web.suppliers",
    "consentcam.web.settings",
    "consentcam.web.withdrawals",
    "consentcam.web.removals",
    "consentcam.web.audits",
    "consentcam.web.privacy",
    "consentcam.web.queue",
    "consentcam.web.public",
    "consentcam.web.mine",
    "consentcam.web.mine.owner",
    "consentcam.web.api",
)

# Links of the main navigation: (endpoint, label); only registered endpoints are shown.
NAV: tuple[tuple[str, str], ...] = (
    ("dashboard.index", N_("Today")),
    ("photos.index", N_("Photos")),
    ("people.index", N_("People")),
    ("suppliers.index", N_("Suppliers")),
    ("queue.index", N_("Queue")),
    ("queue.publications", N_("Published")),
    ("removals.index", N_("Removals")),
    ("audits.index", N_("Audits")),
    ("settings.index", N_("Settings")),
)
# NAV entries only the owner may open: staff would only get a 403 there, so they are not shown.
OWNER_ONLY_NAV: frozenset[str] = frozenset({"audits.index", "settings.index"})
_NAV_LABELS = dict(NAV)


def create_app(
    test_config: dict[str, Any] | None = None, instance_path: str | Path | None = None
) -> Flask:
    """Create the app: defaults, then the instance config.toml, then CONSENTCAM_* env, then test_config."""
    path = Path(instance_path).resolve() if instance_path else config_mod.instance_path_from_env()
    app = Flask(__name__, instance_path=str(path), instance_relative_config=True)
    rt = Runtime.build(path, test_config)
    _configure(app, rt)
    _follow_settings(app, rt)
    _init_extensions(app)
    from consentcam import jobs

    app.extensions["jobs"] = jobs.start(rt)
    _register_blueprints(app)
    _add_request_hooks(app)
    return app


def _configure(app: Flask, rt: Runtime) -> None:
    """The instance's settings, and the cookie, CSRF and form limits every page relies on."""
    app.config.update(rt.settings)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError(
            f"no SECRET_KEY for instance {rt.instance_path}: run `consentcam init` first"
        )
    app.config.setdefault("MAX_CONTENT_LENGTH", int(rt.settings["MAX_UPLOAD_MB"]) * 1024 * 1024)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # A form's token lasts a working day (and ends with the sign-in's session in any case).
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        REMEMBER_COOKIE_DURATION=timedelta(days=30),
        MAX_FORM_PARTS=200,
        MAX_FORM_MEMORY_SIZE=2 * 1024 * 1024,
    )
    app.extensions["runtime"] = rt
    # Each blueprint keeps its own Swedish catalogue; Flask-Babel merges them all.
    catalogues = sorted(str(p) for p in Path(__file__).parent.glob("*/translations") if p.is_dir())
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(catalogues) or "translations"


def _init_extensions(app: Flask) -> None:
    """Sign-in, CSRF, languages and the web hardening of consentcam.security."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.login_message = N_("Sign in to open this page.")
    login_manager.localize_callback = _localize
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_time_zone)
    translate.install(app)
    from consentcam import security

    security.init_app(app)


def _register_blueprints(app: Flask) -> None:
    """The shared words and error pages, every blueprint, then the role checks over them all."""
    import importlib

    from consentcam.web import errors, roles, words

    words.init_app(app)
    errors.init_app(app)
    for name in BLUEPRINTS:
        module = importlib.import_module(name)
        app.register_blueprint(module.bp)
        if hasattr(module, "init_app"):
            module.init_app(app)
    roles.init_app(app)


def _follow_settings(app: Flask, rt: Runtime) -> None:
    """Before every request (first of all hooks): take in settings saved elsewhere."""

    @app.before_request
    def _follow_settings() -> None:
        # The owner may have saved settings in another web process or through the CLI.
        from consentcam.services.settings import follow_config_file

        app.config.update(follow_config_file(rt))


def _add_request_hooks(app: Flask) -> None:
    """Close the request's session at teardown, and give every template the page frame."""

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        db_session = g.pop("db", None)
        if db_session is not None:
            db_session.close()

    app.context_processor(_frame)
    urls.init_app(app)


@dataclass(frozen=True)
class NavLink:
    """One link of the main navigation, as the page frame shows it."""

    endpoint: str
    url: str
    label: str
    current: bool


def _frame() -> dict[str, Any]:
    """What every page's frame shows: languages, the navigation for this user, set-up notes."""
    from flask import current_app
    from flask_login import current_user

    from consentcam.public_url import public_base

    links = nav_links(current_user) if current_user.is_authenticated else []
    return {
        "LANGUAGES": LANGUAGES,
        "current_language": select_locale(),
        "nav_links": links,
        "nav_current": next((link.label for link in links if link.current), ""),
        "no_public_url": public_base(current_app.config) is None,
    }


def nav_links(user: Any) -> list[NavLink]:
    """The navigation for ``user``. The link of this page is current; else the first link of
    the same blueprint (Queue on a queue item, not Published)."""
    from flask import current_app, url_for

    from consentcam.web.translate import gettext

    owner = bool(getattr(user, "is_owner", False))
    views = current_app.view_functions
    shown = [ep for ep, _label in NAV if ep in views and (owner or ep not in OWNER_ONLY_NAV)]
    here = request.endpoint or ""
    area = here.split(".")[0]
    first_of_area = next((ep for ep in shown if ep.split(".")[0] == area), None)
    current = here if here in shown else first_of_area
    # The links take no arguments: under one script root their URLs never change.
    known = current_app.extensions.setdefault("consentcam.nav_urls", {})
    urls = known.get(request.script_root)
    if urls is None:
        urls = known[request.script_root] = {ep: url_for(ep) for ep, _label in NAV if ep in views}
    return [NavLink(ep, urls[ep], gettext(_NAV_LABELS[ep]), ep == current) for ep in shown]


def _localize(message: str) -> str:
    from consentcam.web.translate import gettext

    return str(gettext(message))


def db() -> Session:
    """The request's database session (created on first use, closed at teardown)."""
    if "db" not in g:
        from flask import current_app

        rt = current_app.extensions["runtime"]
        # A page view or an API read only reads: on SQLite it then need not wait for the write lock.
        reading = request.method in ("GET", "HEAD")
        g.db = rt.read_sessions() if reading else rt.sessions()
    return g.db  # type: ignore[no-any-return]


@contextmanager
def transaction() -> Iterator[Session]:
    """The request's unit of work: services change rows in it, the block's end commits once.

    Tasks the services hand to `consentcam.uow.later` are queued after that commit.
    """
    with unit_of_work(runtime(), session=db()) as session:
        yield session


def note_use(write: Callable[[Session], None]) -> None:
    """Write a sign-in's own bookkeeping (a session's or an API token's last use, a new token)
    and commit it at once.

    A read does it in a short transaction of its own, so the page reads only. A request that
    writes holds SQLite's write lock in its own session from its first statement on, so there
    the bookkeeping is committed by the request's own session before the view's work begins.
    """
    with unit_of_work(runtime()) if request.method in ("GET", "HEAD") else transaction() as session:
        write(session)


def runtime() -> Runtime:
    from flask import current_app

    return current_app.extensions["runtime"]  # type: ignore[no-any-return]


def select_locale() -> str:
    """Chosen language, else the browser's preference (Swedish when preferred), else the setting."""
    from flask import current_app

    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    return browser_language(
        request.accept_languages if request else None
    ) or current_app.config.get("LANGUAGE", "en")


def select_time_zone() -> str:
    """Times are shown in the business's time zone (the TIME_ZONE setting), stored in UTC."""
    from flask import current_app

    return str(current_app.config.get("TIME_ZONE") or "Europe/Stockholm")


def browser_language(accepted: Any) -> str | None:
    """The first of the browser's languages, by preference, that we speak.

    By language, not by exact tag: "sv-SE,en;q=0.5" (a Swedish phone) is Swedish, where an exact
    match first (Werkzeug's best_match) would pick the "en" it ranks lower.
    """
    if not accepted:
        return None
    for tag, quality in sorted(accepted, key=lambda item: -item[1]):
        primary = str(tag).split("-")[0].split("_")[0].lower()
        if quality > 0 and primary in LANGUAGES:
            return primary
    return None
