"""Public links: a short-lived unguessable URL to a cleared copy, for Meta to fetch."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.db import rowcount
from consentcam.models import PublicLink, utcnow
from consentcam.publishers.base import PublisherError
from consentcam.runtime import Runtime

PUBLIC_LINK_TTL = timedelta(hours=1)

_CLEARED_KEY = re.compile(r"cleared/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})\.jpg")


def cleared_digest(key: str) -> str | None:
    """The SHA-256 a cleared copy's storage key names, or None for anything else."""
    match = _CLEARED_KEY.fullmatch(key or "")
    if match is None or not match.group(3).startswith(match.group(1) + match.group(2)):
        return None
    return match.group(3)


def create_public_link(
    session: so.Session,
    rt: Runtime,
    cleared_key: str,
    ttl: timedelta = PUBLIC_LINK_TTL,
    *,
    photo_id: int | None = None,
) -> str:
    """A short-lived unguessable URL to a cleared copy; only the token's SHA-256 is stored."""
    from consentcam.public_url import public_base

    base = public_base(rt.settings, loopback=True) or ""
    digest = cleared_digest(cleared_key)
    if digest is None:
        raise PublisherError("only a cleared copy can have a public link", code="not_cleared")
    if not base:
        raise PublisherError(
            "Meta fetches the photo from this app, so PUBLIC_URL must be set to the address "
            "where the app can be reached from the internet.",
            code="no_public_url",
        )
    token = secrets.token_urlsafe(32)
    session.add(
        PublicLink(
            token_hash=hashlib.sha256(token.encode("ascii")).hexdigest(),
            cleared_copy_key=cleared_key,
            cleared_sha256=digest,
            photo_id=photo_id,
            expires_at=utcnow() + ttl,
        )
    )
    session.flush()
    return f"{base}/p/{token}"


def resolve_public_link(session: so.Session, token: str, at: datetime | None = None) -> str | None:
    """The cleared copy key behind a public token, or None when unknown or expired."""
    if not token or len(token) > 100:
        return None
    digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    link = session.scalar(sa.select(PublicLink).where(PublicLink.token_hash == digest))
    if link is None or link.expires_at <= (at or utcnow()):
        return None
    # By the copy's SHA-256, never by a path read from the row: a tampered row naming an
    # original (or "cleared/../originals/...") resolves to nothing.
    copy = link.cleared_sha256 or cleared_digest(link.cleared_copy_key)
    if copy is None or not re.fullmatch(r"[0-9a-f]{64}", copy):
        return None
    return f"cleared/{copy[:2]}/{copy[2:4]}/{copy}.jpg"


def revoke_public_links(session: so.Session, photo_ids: Iterable[int]) -> int:
    """End every public link to these photos at once (a withdrawal, an erasure)."""
    ids = sorted(set(photo_ids))
    if not ids:
        return 0
    result = session.execute(sa.delete(PublicLink).where(PublicLink.photo_id.in_(ids)))
    return rowcount(result)


def purge_public_links(session: so.Session, at: datetime | None = None) -> int:
    result = session.execute(
        sa.delete(PublicLink).where(PublicLink.expires_at < (at or utcnow()) - timedelta(days=1))
    )
    return rowcount(result)
