"""Photos and their faces, where each photo stands, and the suppliers who provide photos."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import (
    Channel,
    FaceSource,
    FaceState,
    GateState,
    ReviewState,
    ScanState,
)
from consentcam.models.base import Base, ChannelChoice, EnumText, utcnow
from consentcam.models.people import Person


class Supplier(Base):
    __tablename__ = "supplier"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200), unique=True)
    contact: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    permissions: so.Mapped[list[SupplierPermission]] = so.relationship(
        back_populates="supplier", order_by="SupplierPermission.valid_from"
    )


class SupplierPermission(ChannelChoice, Base):
    """A supplier's written permission to publish the people in the photos it provides."""

    __tablename__ = "supplier_permission"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    supplier_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("supplier.id"), index=True)
    valid_from: so.Mapped[datetime]
    valid_until: so.Mapped[datetime | None]
    revoked_at: so.Mapped[datetime | None]
    document_key: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    document_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    document_mime: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    note: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    supplier: so.Mapped[Supplier] = so.relationship(back_populates="permissions")
    channel_rows: so.Mapped[list[SupplierPermissionChannel]] = so.relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @staticmethod
    def _channel_row(channel: Channel) -> SupplierPermissionChannel:
        return SupplierPermissionChannel(channel=channel)


class SupplierPermissionChannel(Base):
    """One channel a supplier's permission covers."""

    __tablename__ = "supplier_permission_channel"

    permission_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("supplier_permission.id", ondelete="CASCADE"), primary_key=True
    )
    channel: so.Mapped[Channel] = so.mapped_column(EnumText(Channel), primary_key=True)


class Photo(Base):
    __tablename__ = "photo"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    sha256: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    original_key: so.Mapped[str] = so.mapped_column(sa.String(300))
    original_name: so.Mapped[str] = so.mapped_column(sa.String(300))
    format: so.Mapped[str] = so.mapped_column(sa.String(10))
    size_bytes: so.Mapped[int]
    width: so.Mapped[int]
    height: so.Mapped[int]
    source: so.Mapped[str] = so.mapped_column(sa.String(20), default="upload")  # upload | api | cli
    supplier_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("supplier.id"), index=True)
    uploaded_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    uploaded_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    scan_state: so.Mapped[ScanState] = so.mapped_column(
        EnumText(ScanState), default=ScanState.PENDING, index=True
    )
    scan_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    scan_attempts: so.Mapped[int] = so.mapped_column(default=0)
    # Who is scanning it and since when: a claim expires, so a dead worker's photo is taken over.
    scan_claimed_at: so.Mapped[datetime | None]
    scan_claimed_by: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    scanned_at: so.Mapped[datetime | None]
    scan_seconds: so.Mapped[float | None]
    reviewed_at: so.Mapped[datetime | None]
    thumbnail_key: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    # A person's word that everyone in the photo is marked; the gate clears nothing without it.
    # Undone (set back to None) whenever the photo's faces change.
    faces_confirmed_at: so.Mapped[datetime | None]
    faces_confirmed_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    # Who confirmed, by name, so the record outlives the user's account.
    faces_confirmed_by: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    # Where the photo stands, kept by every write that changes it (services.photo_state), so the
    # photo list and its counts read columns instead of asking the gate about every photo: the
    # review state, how many faces it has and how many still need a decision, and until when
    # the gate's verdicts in photo_channel_state hold (a consent or permission that starts,
    # ends or expires then; None: until the data changes).
    review_state: so.Mapped[ReviewState] = so.mapped_column(
        EnumText(ReviewState), default=ReviewState.SCANNING, server_default="scanning"
    )
    face_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    undecided_faces: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    gate_due_at: so.Mapped[datetime | None] = so.mapped_column(index=True)

    __table_args__ = (
        sa.Index("ix_photo_list", "uploaded_at", "id"),
        sa.Index("ix_photo_review_list", "review_state", "uploaded_at", "id"),
        # The review list: photos nobody has confirmed yet, oldest first.
        sa.Index("ix_photo_waiting", "review_state", "faces_confirmed_at", "uploaded_at", "id"),
    )

    faces: so.Mapped[list[Face]] = so.relationship(
        back_populates="photo", order_by="Face.number", cascade="all, delete-orphan"
    )
    supplier: so.Mapped[Supplier | None] = so.relationship()


class PhotoChannelState(Base):
    """Whether a scanned, confirmed photo is cleared or blocked on one channel (the gate's word).

    Kept with the photo's review state by services.photo_state; a photo neither cleared nor
    blocked on a channel (still waiting for its scan or its review) has no row for it. The
    upload time is the photo's, copied so the list's filter pages along one index.
    """

    __tablename__ = "photo_channel_state"
    __table_args__ = (
        sa.Index("ix_photo_channel_state_list", "channel", "state", "uploaded_at", "photo_id"),
    )

    photo_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("photo.id", ondelete="CASCADE"), primary_key=True
    )
    channel: so.Mapped[Channel] = so.mapped_column(EnumText(Channel), primary_key=True)
    state: so.Mapped[GateState] = so.mapped_column(EnumText(GateState, 10))
    uploaded_at: so.Mapped[datetime]


class PhotoTally(Base):
    """How many photos are in one review state, or have one verdict on one channel.

    Keys are ``review:<state>`` and ``verdict:<channel>:<state>``. Kept in step with the photos'
    own columns and verdict rows by services.photo_state (services.photo_tally), in the same
    unit of work, so the photo list and the start page read a dozen rows instead of counting.
    """

    __tablename__ = "photo_tally"

    key: so.Mapped[str] = so.mapped_column(sa.String(60), primary_key=True)
    n: so.Mapped[int] = so.mapped_column(default=0, server_default="0")


class Face(Base):
    __tablename__ = "face"
    __table_args__ = (sa.UniqueConstraint("photo_id", "number"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    photo_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("photo.id", ondelete="CASCADE"), index=True
    )
    number: so.Mapped[int]
    left: so.Mapped[int]
    top: so.Mapped[int]
    right: so.Mapped[int]
    bottom: so.Mapped[int]
    # detected (by the scanner) | manual (drawn by hand around a face the scanner missed)
    source: so.Mapped[FaceSource] = so.mapped_column(
        EnumText(FaceSource, 10), default=FaceSource.DETECTED, server_default="detected"
    )
    state: so.Mapped[FaceState] = so.mapped_column(
        EnumText(FaceState), default=FaceState.PENDING, index=True
    )
    person_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("person.id"), index=True)
    suggested_person_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("person.id", ondelete="SET NULL")
    )
    distance: so.Mapped[float | None]
    gap: so.Mapped[float | None]
    not_identifiable_reason: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    blur: so.Mapped[bool] = so.mapped_column(default=False)
    blurry: so.Mapped[bool] = so.mapped_column(default=False)
    sharpness: so.Mapped[float | None]
    # Biometric data: kept only until the photo is reviewed, or for people with biometric consent.
    template: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary)
    reviewed_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    reviewed_at: so.Mapped[datetime | None]

    photo: so.Mapped[Photo] = so.relationship(back_populates="faces")
    person: so.Mapped[Person | None] = so.relationship(foreign_keys=[person_id])
    suggested_person: so.Mapped[Person | None] = so.relationship(foreign_keys=[suggested_person_id])

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.right, self.bottom)
