"""Accounts and API tokens: create users, check passwords, issue and revoke bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
import sqlalchemy.orm as so
from werkzeug.security import check_password_hash, generate_password_hash

from consentcam.models import ApiToken, User, UserSession, utcnow
from consentcam.services import events
from consentcam.wording import N_, WordedError

MIN_PASSWORD = 12
ROLES = ("owner", "staff")
#: How long a sign-in lasts without use: a browser session, or "stay signed in on this device".
SESSION_IDLE = timedelta(hours=12)
REMEMBER_IDLE = timedelta(days=30)
#: A session's last use is written at most this often (not on every page view).
SEEN_EVERY = timedelta(minutes=5)
TOKEN_SCOPES = ("read", "write")


class UserError(WordedError, ValueError):
    pass


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    return None


#: Werkzeug's scrypt at its full strength (N=2**15, r=8, p=1): salted and deliberately slow.
PASSWORD_METHOD = "scrypt"
_password_method = PASSWORD_METHOD


def use_password_method(method: str) -> None:
    """Hash new passwords with another scrypt cost, such as "scrypt:256:8:1".

    Only the test suite calls this, to make its hundreds of accounts cheap; the app never does,
    so every process of the app hashes with PASSWORD_METHOD. Each stored hash names its own
    method, so checking a password works whichever method made the hash.
    """
    global _password_method
    if method.split(":", 1)[0] != "scrypt":
        raise ValueError(f"passwords are hashed with scrypt, not {method!r}")
    _password_method = method


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=_password_method)


def create_user(
    session: so.Session,
    email: str,
    name: str,
    password: str,
    role: str = "staff",
    actor: str | None = None,
) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise UserError(N_("%(email)s is not an e-mail address"), email=email)
    if role not in ROLES:
        raise UserError(N_("role must be one of %(roles)s"), roles=", ".join(ROLES))
    problem = password_problem(password)
    if problem:
        raise UserError(problem)
    if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise UserError(N_("there is already an account for %(email)s"), email=email)
    user = User(
        email=email, name=name.strip() or email, password_hash=hash_password(password), role=role
    )
    session.add(user)
    session.flush()
    events.record(
        session, "user.created", f"user:{user.id}", {"email": email, "role": role}, actor=actor
    )
    return user


def authenticate(session: so.Session, email: str, password: str) -> User | None:
    user = session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        # Spend the same time as a real check, so the answer does not reveal which e-mails exist.
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash() -> str:
    method = _password_method
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash("not a real password", method=method)
    return _DUMMY_HASHES[method]


def may_publish(user: object) -> bool:
    """May this user mark faces not identifiable or blurred, confirm photos, queue and publish?

    The owner always; a staff member only with the owner's grant (Settings, Users). Every web
    route, API endpoint and command that clears or publishes a photo asks this one question.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(getattr(user, "is_owner", False) or getattr(user, "may_publish", False))


def set_may_publish(session: so.Session, user: User, allowed: bool, actor: User) -> bool:
    """Give or take back a staff member's grant to publish; returns whether it changed."""
    if not actor.is_owner:
        raise UserError(N_("only the owner may grant publishing"))
    if user.is_owner or user.may_publish == allowed:
        return False
    user.may_publish = allowed
    events.record(
        session,
        "user.publish_granted" if allowed else "user.publish_revoked",
        f"user:{user.id}",
        {},
        actor=actor.email,
    )
    return True


def start_session(
    session: so.Session, user: User, *, remember: bool = False, user_agent: str | None = None
) -> str:
    """Open a server-side session for a sign-in; returns its clear token (sets user.session_token)."""
    clear = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=token_digest(clear),
            remember=remember,
            user_agent=(user_agent or "")[:200] or None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + (REMEMBER_IDLE if remember else SESSION_IDLE),
        )
    )
    session.flush()
    user.session_token = clear
    return clear


def parse_session_id(session_id: str) -> tuple[int, int, str] | None:
    """("user id", "session version", "token") from "12:0:token", or None."""
    parts = str(session_id).split(":")
    if len(parts) != 3:
        return None
    uid, version, token = parts
    for number in (uid, version):
        if not number.isascii() or not number.isdigit() or len(number) > 10:
            return None
    if not token or len(token) > 100:
        return None
    return int(uid), int(version), token


_SESSION_USER = (
    sa.select(UserSession, User)
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.token_hash == sa.bindparam("digest"))
)


def user_for_session(
    session: so.Session, session_id: str, at: datetime | None = None
) -> tuple[User, UserSession] | None:
    """The active user whose live session ``session_id`` ("user id:token") names, or None."""
    parsed = parse_session_id(session_id)
    if parsed is None:
        return None
    uid, version, token = parsed
    # One statement for both rows: every page view asks it first.
    found = session.execute(_SESSION_USER, {"digest": token_digest(token)}).one_or_none()
    if found is None:
        return None
    row, user = found
    if row.user_id != uid or row.expires_at <= (at or utcnow()):
        return None
    if not user.active or user.session_version != version:
        return None
    user.session_token = token
    return user, row


def session_use_due(row: UserSession, at: datetime | None = None) -> dict[str, datetime] | None:
    """A used session's new last use and expiry when they are due (every SEEN_EVERY), else None.

    The row is left as it is: a page view reads only, and `save_seen` writes the values in a
    short unit of work of its own.
    """
    now = at or utcnow()
    if now - row.last_seen_at < SEEN_EVERY:
        return None
    return {
        "last_seen_at": now,
        "expires_at": now + (REMEMBER_IDLE if row.remember else SESSION_IDLE),
    }


def save_seen(session: so.Session, row_id: int, values: dict[str, datetime]) -> None:
    """Write a session's last use and new expiry (from `session_use_due`)."""
    session.execute(sa.update(UserSession).where(UserSession.id == row_id).values(values))


def session_row(session: so.Session, row_id: int) -> UserSession | None:
    return session.get(UserSession, row_id)


def rotate_session(session: so.Session, user: User, row: UserSession) -> str:
    """Replace a session's token (a return through a remember-me cookie gets a new one)."""
    clear = secrets.token_urlsafe(32)
    row.token_hash = token_digest(clear)
    now = utcnow()
    row.last_seen_at = now
    row.expires_at = now + (REMEMBER_IDLE if row.remember else SESSION_IDLE)
    user.session_token = clear
    return clear


def end_session(session: so.Session, session_id: str) -> bool:
    """Sign-out: delete this session's row, so neither its cookie nor its remember-me works."""
    parsed = parse_session_id(session_id)
    if parsed is None:
        return False
    uid, _version, token = parsed
    result = session.execute(
        sa.delete(UserSession).where(
            UserSession.token_hash == token_digest(token), UserSession.user_id == uid
        )
    )
    return bool(cast("sa.CursorResult[Any]", result).rowcount)


def end_session_by_id(session: so.Session, user: User, row_id: int) -> bool:
    """Revoke one of a user's sessions (one device), by its row id."""
    result = session.execute(
        sa.delete(UserSession).where(UserSession.id == row_id, UserSession.user_id == user.id)
    )
    return bool(cast("sa.CursorResult[Any]", result).rowcount)


def sessions_of(session: so.Session, user: User) -> list[UserSession]:
    return list(
        session.scalars(
            sa.select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.expires_at > utcnow())
            .order_by(UserSession.last_seen_at.desc())
        )
    )


def purge_sessions(session: so.Session, at: datetime | None = None) -> int:
    result = session.execute(
        sa.delete(UserSession).where(UserSession.expires_at <= (at or utcnow()))
    )
    return int(cast("sa.CursorResult[Any]", result).rowcount or 0)


def change_password(session: so.Session, user: User, current: str, new: str) -> None:
    """A signed-in user's own password change; every other session of theirs ends."""
    if not check_password_hash(user.password_hash, current):
        raise UserError(N_("the current password is not right"))
    problem = password_problem(new)
    if problem:
        raise UserError(problem)
    user.password_hash = hash_password(new)
    keep = token_digest(user.session_token) if user.session_token else ""
    session.execute(
        sa.delete(UserSession).where(UserSession.user_id == user.id, UserSession.token_hash != keep)
    )
    events.record(session, "user.password_changed", f"user:{user.id}", {}, actor=user.email)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: so.Session,
    user: User,
    name: str,
    *,
    scope: str = "write",
    expires_in: timedelta | None = None,
) -> tuple[ApiToken, str]:
    """Create a bearer token; the clear token is returned once and only its hash is stored.

    ``scope`` "read" allows only GET; ``expires_in`` ends it by itself (None: until revoked).
    """
    if scope not in TOKEN_SCOPES:
        raise UserError(N_("scope must be one of %(scopes)s"), scopes=", ".join(TOKEN_SCOPES))
    clear = "cc_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip() or "token",
        token_hash=token_digest(clear),
        prefix=clear[:10],
        scope=scope,
        expires_at=(utcnow() + expires_in) if expires_in else None,
    )
    session.add(token)
    session.flush()
    events.record(
        session,
        "token.created",
        f"user:{user.id}",
        {"token": token.id, "name": token.name},
        actor=user.email,
    )
    return token, clear


def revoke_token(session: so.Session, token: ApiToken, actor: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        events.record(
            session,
            "token.revoked",
            f"user:{token.user_id}",
            {"token": token.id},
            actor=actor.email,
        )


def token_for(session: so.Session, clear: str) -> ApiToken | None:
    """The live token ``clear`` names (not revoked, not expired, its user active), or None."""
    token = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_digest(clear)))
    now = utcnow()
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    return token


def token_use_due(token: ApiToken, at: datetime | None = None) -> datetime | None:
    """The time to note as a token's last use when it is due (first use, then every
    SEEN_EVERY), else None; the token is left as it is (`save_token_use` writes it)."""
    now = at or utcnow()
    if token.last_used_at is not None and now - token.last_used_at < SEEN_EVERY:
        return None
    return now


def save_token_use(session: so.Session, token_id: int, at: datetime) -> None:
    session.execute(sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=at))


def deactivate_user(session: so.Session, user: User, actor: User) -> bool:
    """Close an account and end its sessions everywhere; returns False if it was closed already."""
    if user.id == actor.id:
        raise UserError(N_("you cannot deactivate your own account"))
    if not user.active:
        return False
    if user.is_owner:
        owners = session.scalar(
            sa.select(sa.func.count(User.id)).where(User.role == "owner", User.active.is_(True))
        )
        if (owners or 0) <= 1:
            raise UserError(N_("the last owner cannot be deactivated"))
    user.active = False
    user.session_version += 1
    session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))
    for token in session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = utcnow()
    events.record(
        session, "user.deactivated", f"user:{user.id}", {"email": user.email}, actor=actor.email
    )
    return True


def user_by_id(session: so.Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def user_by_email(session: so.Session, email: str) -> User | None:
    """The account of this e-mail address (in any case), or None."""
    return session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.strip().lower()))


def all_users(session: so.Session) -> list[User]:
    """Every account, the active ones first, by e-mail."""
    return list(session.scalars(sa.select(User).order_by(User.active.desc(), User.email)))


def all_tokens(session: so.Session) -> list[ApiToken]:
    """Every API token, the live ones first, newest first."""
    return list(
        session.scalars(
            sa.select(ApiToken).order_by(
                ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc()
            )
        )
    )


def token_by_id(session: so.Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def reset_password(session: so.Session, user: User, password: str) -> None:
    """Set a forgotten password anew (the command line's reset) and end every session."""
    problem = password_problem(password)
    if problem:
        raise UserError(problem)
    user.password_hash = hash_password(password)
    sign_out_everywhere(session, user)


def sign_out_everywhere(session: so.Session, user: User) -> None:
    """End every session and remember-me cookie of this user, on every device."""
    user.session_version += 1
    session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))
    events.record(session, "user.signed_out_everywhere", f"user:{user.id}", {}, actor=user.email)
