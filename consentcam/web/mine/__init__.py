"""The customer's own pages, without an account: sign through a one-time link, and "my consent".

Every page here is public on purpose (no Flask-Login): the token in the URL is the key, and
every invalid token gets the same refusal. Pages never show the owner's menu, carry CSRF
tokens, and are rate-limited per address (Flask-Limiter).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from consentcam.domain.types import Channel
from consentcam.models import Person
from consentcam.services import mail
from consentcam.web import select_locale
from consentcam.web.outgoing import (
    NoPublicAddress,
    business_name,
    external_url,
    queue_templated_mail,
)

bp = Blueprint("mine", __name__)
log = logging.getLogger(__name__)
CHANNELS = tuple(c.value for c in Channel)

#: The limits of the customers' pages, per client address: (endpoint, which limit, methods).
LIMITED: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("mine.sign", "page", None),
    ("mine.receipt", "page", None),
    ("mine.receipt_pdf", "page", None),
    ("mine.page", "page", None),
    ("mine.withdraw", "page", None),
    ("mine.erase", "page", None),
    ("mine.copy", "page", ("GET",)),
    ("mine.copy", "code", ("POST",)),
    ("mine.send_code", "code", None),
    ("mine.new_link", "code", None),
)


def _page_limit() -> str:
    return str(current_app.config.get("CUSTOMER_RATE_LIMIT") or "30/minute;300/hour")


def _code_limit() -> str:
    return str(current_app.config.get("CODE_RATE_LIMIT") or "5/minute;20/hour")


def limit_storage(config: Any) -> str:
    """Where the counts live: RATE_LIMIT_STORAGE, else a Redis queue, else this process."""
    storage = str(config.get("RATE_LIMIT_STORAGE") or "")
    queue = str(config.get("QUEUE_URL") or "")
    if storage.startswith(("redis://", "rediss://", "memory://")):
        return storage
    if queue.startswith(("redis://", "rediss://")):
        return queue
    return "memory://"


def init_app(app: Flask) -> None:
    """Limit the customers' pages with a limiter of this app's own (Flask-Limiter)."""
    # Flask-Limiter reads RATELIMIT_ENABLED from the shared config: another limiter turned off
    # (no sign-in limit set) must not turn off the customers' pages' limits with it.
    other = app.config.pop("RATELIMIT_ENABLED", None)
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=limit_storage(app.config),
        key_prefix=f"{app.config.get('QUEUE_NAME') or 'consentcam'}:customer",
        strategy="fixed-window",
        headers_enabled=False,
        enabled=True,
    )
    if other is not None:
        app.config["RATELIMIT_ENABLED"] = other
    app.extensions["customer_limiter"] = limiter
    providers = {"page": _page_limit, "code": _code_limit}
    for endpoint, which, methods in LIMITED:
        view = app.view_functions[endpoint]
        limited: Any = limiter.limit(
            providers[which],
            methods=list(methods) if methods else None,
            scope=f"{endpoint}:{which}",
        )(view)
        app.view_functions[endpoint] = limited


# --- Helpers -----------------------------------------------------------------------------------


def queue_new_link_mail(session: Any, person: Person, token: str) -> list[int]:
    """Queue the e-mail that brings a person their new personal link; the mail ids (it is sent
    once the unit of work commits)."""
    if not person.email:
        return []
    return queue_templated_mail(
        session,
        "new_link",
        select_locale(),
        to=person.email,
        person_id=person.id,
        person=person,
        my_url=external_url("mine.page", token=token),
        business=business_name(),
    )


def owner_language() -> str:
    return str(current_app.config.get("LANGUAGE") or "en")


def notify_owner(session: Any, kind: str, person: Person, **context: Any) -> list[int]:
    """Queue a notice to each owner (in the instance's language); returns the mail ids."""
    try:
        person_url: str | None = external_url("people.detail", person_id=person.id)
    except NoPublicAddress:
        person_url = None  # the notice then says where to look, without a link
    ids = []
    for address in mail.owner_addresses(session):
        ids += queue_templated_mail(
            session,
            f"owner_{kind}",
            owner_language(),
            to=address,
            person_id=None,
            person=person,
            person_url=person_url,
            business=business_name(),
            **context,
        )
    return ids


def refused() -> Any:
    """The one answer for every link that cannot be used, whatever the reason."""
    return render_template("mine/refused.html"), 404


@bp.after_request
def _private(response: Response) -> Response:
    # The token is in the URL: never send it on as a referrer, and keep the pages out of indexes.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(429)
def _too_many(exc: Any) -> Any:
    return render_template("mine/too_many.html"), 429


# The pages themselves (imported last: they use the helpers above).
from consentcam.web.mine import own_page, signing  # noqa: E402, F401
