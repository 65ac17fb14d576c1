"""Accounts and API tokens: create users, check passwords, issue and revoke bearer tokens."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
import sqlalchemy.orm as so
from werkzeug.security import check_password_hash, generate_password_hash

from consentcam.models import ApiToken, User, utcnow
from consentcam.services import events
from consentcam.wording import N_, WordedError

MIN_PASSWORD = 12
ROLES = ("owner", "staff")


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


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: so.Session, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a bearer token; the clear token is returned once and only its hash is stored."""
    clear = "cc_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip() or "token",
        token_hash=token_digest(clear),
        prefix=clear[:10],
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


def user_for_token(session: so.Session, clear: str) -> User | None:
    token = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_digest(clear)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    token.last_used_at = utcnow()
    return token.user


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
    # The session id carries this version, so every open session of the user stops working.
    user.session_version += 1
    for token in session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = utcnow()
    events.record(
        session, "user.deactivated", f"user:{user.id}", {"email": user.email}, actor=actor.email
    )
    return True


def sign_out_everywhere(session: so.Session, user: User) -> None:
    """End every session and remember-me cookie of this user, on every device."""
    # The session id carries this version, so bumping it invalidates all of them at once.
    user.session_version += 1
    events.record(session, "user.signed_out_everywhere", f"user:{user.id}", {}, actor=user.email)
