"""Accounts: users, their sign-ins on each device and their API tokens."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models.base import Base, utcnow


class User(Base):
    __tablename__ = "user"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(300))
    role: so.Mapped[str] = so.mapped_column(sa.String(20), default="staff")  # owner | staff
    active: so.Mapped[bool] = so.mapped_column(default=True)
    locale: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    session_version: so.Mapped[int] = so.mapped_column(default=0)
    # The owner's grant to a staff member: may clear faces, confirm photos, queue and publish.
    may_publish: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    # The interface Flask-Login expects of a user.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    #: The clear token of the sign-in being made (set by the sign-in service, never stored).
    session_token = None  # type: str | None

    def get_id(self) -> str:
        """User id, session version and the token of this sign-in's server-side session.

        Deleting the session's row (sign-out) or bumping the version (sign-out everywhere) ends it.
        """
        return f"{self.id}:{self.session_version}:{self.session_token or ''}"


class UserSession(Base):
    """One sign-in on one device: the cookie carries its token, the row makes it valid.

    Signing out deletes the row, so a saved session or remember-me cookie stops working; each
    sign-in (and each return through a remember-me cookie) gets a fresh token.
    """

    __tablename__ = "user_session"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    remember: so.Mapped[bool] = so.mapped_column(default=False)
    user_agent: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_seen_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    expires_at: so.Mapped[datetime] = so.mapped_column(index=True)


class ApiToken(Base):
    __tablename__ = "api_token"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    prefix: so.Mapped[str] = so.mapped_column(sa.String(12))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_used_at: so.Mapped[datetime | None]
    revoked_at: so.Mapped[datetime | None]
    expires_at: so.Mapped[datetime | None]
    # "read": GET only; "write": everything the user's role allows.
    scope: so.Mapped[str] = so.mapped_column(sa.String(10), default="write", server_default="write")

    user: so.Mapped[User] = so.relationship()
