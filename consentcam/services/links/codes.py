"""One-time e-mail codes: a customer proves they read their e-mail before getting a data copy."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import EmailCode, PersonalLink, utcnow
from consentcam.services.links.common import (
    CODE_MINUTES,
    CODE_TRIES,
    CodeRefused,
    LinkError,
    code_hash,
)
from consentcam.wording import N_


def new_code(session: so.Session, link: PersonalLink, now: datetime | None = None) -> str:
    """Make a one-time code for the data copy (ending earlier ones); returns the code to mail."""
    now = now or utcnow()
    if not link.person.email:
        raise LinkError(
            N_("No e-mail address is on record for you: ask the business for a copy of your data.")
        )
    session.execute(
        sa.update(EmailCode)
        .where(EmailCode.personal_link_id == link.id, EmailCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(
        EmailCode(
            personal_link_id=link.id,
            code_hash=code_hash(link.id, code),
            created_at=now,
            expires_at=now + timedelta(minutes=CODE_MINUTES),
        )
    )
    session.flush()
    return code


def check_code(
    session: so.Session, link: PersonalLink, code: str, now: datetime | None = None
) -> None:
    """Accept the current code once; a wrong try counts (the caller commits either way).

    After CODE_TRIES wrong tries the code is dead and only a new one works.
    """
    now = now or utcnow()
    current = session.scalar(
        sa.select(EmailCode)
        .where(EmailCode.personal_link_id == link.id, EmailCode.used_at.is_(None))
        .order_by(EmailCode.id.desc())
        .limit(1)
    )
    if current is None or current.expires_at <= now or current.attempts >= CODE_TRIES:
        raise CodeRefused(N_("This code can no longer be used: ask for a new one."))
    typed = "".join(ch for ch in (code or "") if ch.isdigit())
    if not hmac.compare_digest(code_hash(link.id, typed), current.code_hash):
        current.attempts += 1
        session.flush()
        left = CODE_TRIES - current.attempts
        if left <= 0:
            raise CodeRefused(N_("Wrong code five times: ask for a new one."))
        raise CodeRefused(N_("Wrong code. %(left)s tries left."), left=left)
    current.used_at = now
    link.last_used_at = now
    session.flush()
