"""The audit runs, the hash-chained event log and the outgoing e-mail."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import MailState
from consentcam.models.base import Base, EnumText, utcnow


class AuditRun(Base):
    __tablename__ = "audit_run"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    quarter: so.Mapped[str] = so.mapped_column(sa.String(6), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    created_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    rescan: so.Mapped[bool] = so.mapped_column(default=False)
    publication_count: so.Mapped[int] = so.mapped_column(default=0)
    finding_count: so.Mapped[int] = so.mapped_column(default=0)
    summary: so.Mapped[str | None] = so.mapped_column(sa.Text)  # JSON
    report_key: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    report_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    signed_at: so.Mapped[datetime | None]
    signed_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    signer_name: so.Mapped[str | None] = so.mapped_column(sa.String(200))


class Event(Base):
    """One entry of the append-only, hash-chained event log."""

    __tablename__ = "event"

    seq: so.Mapped[int] = so.mapped_column(primary_key=True, autoincrement=False)
    at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    kind: so.Mapped[str] = so.mapped_column(sa.String(50), index=True)
    subject: so.Mapped[str] = so.mapped_column(sa.String(100), index=True)  # e.g. "person:12"
    actor: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    payload: so.Mapped[str] = so.mapped_column(sa.Text)  # canonical JSON
    prev_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)


class OutgoingMail(Base):
    """An e-mail waiting for the worker, sent, or failed after its retries (shown on the dashboard).

    The body is stored encrypted while it waits (it may carry a link) and dropped once sent.
    """

    __tablename__ = "outgoing_mail"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(30))
    to_address: so.Mapped[str] = so.mapped_column(sa.String(254))
    subject: so.Mapped[str] = so.mapped_column(sa.String(300))
    body_enc: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary)
    person_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("person.id", ondelete="SET NULL")
    )
    state: so.Mapped[MailState] = so.mapped_column(
        EnumText(MailState, 10), default=MailState.QUEUED, index=True
    )
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    sent_at: so.Mapped[datetime | None]
