"""People, their signed consents and reference faces, and the links they sign and manage consent with."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import Channel, RequestStatus, Scope, UploadState
from consentcam.models.base import Base, EnumText, utcnow

if TYPE_CHECKING:
    from consentcam.models.accounts import User  # noqa: F401


class Person(Base):
    __tablename__ = "person"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200), index=True)
    email: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    is_minor: so.Mapped[bool] = so.mapped_column(default=False)
    note: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_activity_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
    erased_at: so.Mapped[datetime | None]

    consents: so.Mapped[list[ConsentRecord]] = so.relationship(
        back_populates="person", order_by="ConsentRecord.given_at"
    )
    reference_faces: so.Mapped[list[ReferenceFace]] = so.relationship(back_populates="person")


class PersonKey(Base):
    """The key that seals a person's personal data in the event log; deleted at erasure.

    Without it the sealed names, e-mails and notes in the log cannot be read again, while every
    event's hash (which covers the sealed bytes) still verifies: crypto-shredding.
    """

    __tablename__ = "person_key"

    person_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    key: so.Mapped[str] = so.mapped_column(sa.String(100))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)


class ConsentFormVersion(Base):
    """The exact text of a consent form as printed and signed; never edited, only superseded."""

    __tablename__ = "consent_form_version"
    __table_args__ = (sa.UniqueConstraint("language", "version"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    language: so.Mapped[str] = so.mapped_column(sa.String(10))
    version: so.Mapped[int]
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    sha256: so.Mapped[str] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)


class ConsentRecord(Base):
    __tablename__ = "consent_record"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    person_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("person.id"), index=True)
    scope: so.Mapped[Scope] = so.mapped_column(EnumText(Scope, 10), default=Scope.ALL)
    given_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    expires_at: so.Mapped[datetime | None]
    signer_name: so.Mapped[str] = so.mapped_column(sa.String(200))
    signed_by_guardian: so.Mapped[bool] = so.mapped_column(default=False)
    evidence_kind: so.Mapped[str | None] = so.mapped_column(sa.String(20))  # signature | scan
    evidence_key: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    evidence_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    evidence_mime: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    form_version_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("consent_form_version.id")
    )
    biometric: so.Mapped[bool] = so.mapped_column(default=False)
    biometric_withdrawn_at: so.Mapped[datetime | None]
    created_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    note: so.Mapped[str | None] = so.mapped_column(sa.Text)
    # How it was signed: on the owner's device (None) or by the customer through a consent link;
    # a link's signing keeps the phone's user agent (never its IP address).
    signed_via: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    user_agent: so.Mapped[str | None] = so.mapped_column(sa.String(300))

    person: so.Mapped[Person] = so.relationship(back_populates="consents")
    channels: so.Mapped[list[ConsentChannel]] = so.relationship(
        back_populates="consent", cascade="all, delete-orphan", order_by="ConsentChannel.channel"
    )
    photos: so.Mapped[list[ConsentPhoto]] = so.relationship(cascade="all, delete-orphan")
    form_version: so.Mapped[ConsentFormVersion | None] = so.relationship()


class ConsentChannel(Base):
    """One channel of a consent record; withdrawing ends it for that channel alone."""

    __tablename__ = "consent_channel"
    __table_args__ = (sa.UniqueConstraint("consent_id", "channel"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    consent_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("consent_record.id", ondelete="CASCADE")
    )
    channel: so.Mapped[Channel] = so.mapped_column(EnumText(Channel))
    withdrawn_at: so.Mapped[datetime | None]
    withdrawn_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )

    consent: so.Mapped[ConsentRecord] = so.relationship(back_populates="channels")


class ConsentPhoto(Base):
    """A photo named by a consent whose scope is `listed`."""

    __tablename__ = "consent_photo"

    consent_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("consent_record.id", ondelete="CASCADE"), primary_key=True
    )
    photo_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("photo.id", ondelete="CASCADE"), primary_key=True
    )


class ReferenceFace(Base):
    """A face template enrolled for automatic recognition; exists only under biometric consent."""

    __tablename__ = "reference_face"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    person_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    source_key: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    source_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    face_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("face.id", ondelete="SET NULL"))
    template: so.Mapped[bytes] = so.mapped_column(sa.LargeBinary)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    person: so.Mapped[Person] = so.relationship(back_populates="reference_faces")


class ReferenceUpload(Base):
    """A reference photo waiting for (or done with) enrolment by the background worker."""

    __tablename__ = "reference_upload"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    person_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    original_name: so.Mapped[str] = so.mapped_column(sa.String(300))
    # The encrypted image; deleted when enrolment fails or is refused.
    source_key: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    source_sha256: so.Mapped[str] = so.mapped_column(sa.String(64))
    state: so.Mapped[UploadState] = so.mapped_column(
        EnumText(UploadState), default=UploadState.PENDING
    )
    error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    reference_face_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("reference_face.id", ondelete="SET NULL")
    )
    created_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    finished_at: so.Mapped[datetime | None]


class ConsentLink(Base):
    """A one-time link (shown as a QR code or sent by e-mail) that lets a customer sign on their
    own phone. Only the SHA-256 of its token is stored."""

    __tablename__ = "consent_link"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    # None: a new customer whose name is not known yet; they are added when they sign.
    person_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    language: so.Mapped[str] = so.mapped_column(sa.String(10), default="sv")
    sent_to: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    created_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    expires_at: so.Mapped[datetime]
    used_at: so.Mapped[datetime | None]
    consent_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("consent_record.id", ondelete="SET NULL")
    )

    person: so.Mapped[Person | None] = so.relationship()


class PersonalLink(Base):
    """A customer's long-lived link to their own consent page; revocable, replaced on request."""

    __tablename__ = "personal_link"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    person_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    revoked_at: so.Mapped[datetime | None]
    last_used_at: so.Mapped[datetime | None]

    person: so.Mapped[Person] = so.relationship()


class EmailCode(Base):
    """A one-time code sent to a person's e-mail address before their data copy is handed out."""

    __tablename__ = "email_code"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    personal_link_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("personal_link.id", ondelete="CASCADE"), index=True
    )
    code_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    expires_at: so.Mapped[datetime]
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    used_at: so.Mapped[datetime | None]


class CustomerRequest(Base):
    """Something a customer asked for on their own page that the owner must act on (erasure)."""

    __tablename__ = "customer_request"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    person_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    kind: so.Mapped[str] = so.mapped_column(sa.String(20))  # erasure
    status: so.Mapped[RequestStatus] = so.mapped_column(
        EnumText(RequestStatus, 10), default=RequestStatus.OPEN, index=True
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    closed_at: so.Mapped[datetime | None]
    closed_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )

    person: so.Mapped[Person] = so.relationship()
