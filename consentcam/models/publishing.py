"""The publish queue, the channels it reaches, what went out, and the removals that follow."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.gate import ClearedBy
from consentcam.domain.types import Channel, QueueStatus, RemovalMethod, RemovalStatus
from consentcam.models.base import Base, ChannelChoice, EnumText, utcnow
from consentcam.models.photos import Photo


class QueueItem(ChannelChoice, Base):
    """A photo waiting to be published on one or more channels."""

    __tablename__ = "queue_item"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    photo_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("photo.id"), index=True)
    caption: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    scheduled_for: so.Mapped[datetime | None]
    fit: so.Mapped[str] = so.mapped_column(sa.String(10), default="pad")  # pad | crop
    status: so.Mapped[QueueStatus] = so.mapped_column(
        EnumText(QueueStatus), default=QueueStatus.BLOCKED, index=True
    )
    blockers: so.Mapped[str | None] = so.mapped_column(sa.Text)  # JSON list of the gate's reasons
    created_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)

    photo: so.Mapped[Photo] = so.relationship()
    channel_rows: so.Mapped[list[QueueItemChannel]] = so.relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @staticmethod
    def _channel_row(channel: Channel) -> QueueItemChannel:
        return QueueItemChannel(channel=channel)


class QueueItemChannel(Base):
    """One channel a queue item is to be published on."""

    __tablename__ = "queue_item_channel"

    queue_item_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("queue_item.id", ondelete="CASCADE"), primary_key=True
    )
    channel: so.Mapped[Channel] = so.mapped_column(EnumText(Channel), primary_key=True)


class ChannelConnection(Base):
    """How the business reaches a channel: a Meta Page / Instagram account, or manual posting."""

    __tablename__ = "channel_connection"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    channel: so.Mapped[Channel] = so.mapped_column(EnumText(Channel), unique=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(20), default="manual")  # manual | meta
    account_id: so.Mapped[str | None] = so.mapped_column(sa.String(100))  # Page id or IG user id
    access_token_enc: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary)
    graph_url: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    can_delete: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)


class Publication(Base):
    """A photo as it went out on one channel."""

    __tablename__ = "publication"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    queue_item_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("queue_item.id"), index=True
    )
    photo_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("photo.id"), index=True)
    channel: so.Mapped[Channel] = so.mapped_column(EnumText(Channel))
    publisher: so.Mapped[str] = so.mapped_column(sa.String(20))  # manual | meta
    external_id: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    caption: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    published_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
    published_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    cleared_copy_key: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    cleared_copy_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    supplier_permission_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("supplier_permission.id")
    )
    live: so.Mapped[bool] = so.mapped_column(default=True, index=True)
    removed_at: so.Mapped[datetime | None]
    # The photo's confirmation that everyone in it was marked, as it stood when this went out;
    # None for a post that went out without one (the audit lists those).
    faces_confirmed_at: so.Mapped[datetime | None]

    photo: so.Mapped[Photo] = so.relationship()
    faces: so.Mapped[list[PublicationFace]] = so.relationship(cascade="all, delete-orphan")


class PublicationFace(Base):
    """How one face was covered at the moment of publishing (the audit's 'as it was')."""

    __tablename__ = "publication_face"

    publication_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("publication.id", ondelete="CASCADE"), primary_key=True
    )
    face_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("face.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("person.id"), index=True)
    how: so.Mapped[ClearedBy] = so.mapped_column(EnumText(ClearedBy))
    consent_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("consent_record.id"))


class PublicLink(Base):
    """A short-lived, unguessable URL to one cleared copy (Meta fetches the image from it)."""

    __tablename__ = "public_link"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    cleared_copy_key: so.Mapped[str] = so.mapped_column(sa.String(300))
    # The cleared copy by its SHA-256 (the link serves that copy, never a path read from the row)
    # and the photo it shows (a withdrawal revokes the links to photos of that person).
    cleared_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    photo_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("photo.id", ondelete="CASCADE"), index=True
    )
    expires_at: so.Mapped[datetime]
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)


class RemovalTask(Base):
    __tablename__ = "removal_task"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    publication_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("publication.id"), unique=True)
    person_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("person.id", ondelete="SET NULL")
    )
    method: so.Mapped[RemovalMethod] = so.mapped_column(EnumText(RemovalMethod, 10))
    status: so.Mapped[RemovalStatus] = so.mapped_column(
        EnumText(RemovalStatus, 10), default=RemovalStatus.OPEN, index=True
    )
    due_at: so.Mapped[datetime] = so.mapped_column(index=True)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    closed_at: so.Mapped[datetime | None]
    closed_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    closed_by_name: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    note: so.Mapped[str | None] = so.mapped_column(sa.Text)

    publication: so.Mapped[Publication] = so.relationship()
