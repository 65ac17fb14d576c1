"""SQLAlchemy models of the whole domain: people, consent, photos, faces, publishing, audit and events."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every back end (SQLite stores no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store UTC-aware timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(so.DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


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
    scope: so.Mapped[str] = so.mapped_column(sa.String(10), default="all")  # all | listed
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
    channel: so.Mapped[str] = so.mapped_column(
        sa.String(20)
    )  # instagram | facebook | website | print
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


class Supplier(Base):
    __tablename__ = "supplier"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200), unique=True)
    contact: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    permissions: so.Mapped[list[SupplierPermission]] = so.relationship(
        back_populates="supplier", order_by="SupplierPermission.valid_from"
    )


class SupplierPermission(Base):
    """A supplier's written permission to publish the people in the photos it provides."""

    __tablename__ = "supplier_permission"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    supplier_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("supplier.id"), index=True)
    channels: so.Mapped[str] = so.mapped_column(sa.String(100))  # space-separated channel names
    valid_from: so.Mapped[datetime]
    valid_until: so.Mapped[datetime | None]
    revoked_at: so.Mapped[datetime | None]
    document_key: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    document_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    document_mime: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    note: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    supplier: so.Mapped[Supplier] = so.relationship(back_populates="permissions")

    @property
    def channel_list(self) -> list[str]:
        return self.channels.split()


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
    uploaded_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
    scan_state: so.Mapped[str] = so.mapped_column(sa.String(20), default="pending", index=True)
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

    faces: so.Mapped[list[Face]] = so.relationship(
        back_populates="photo", order_by="Face.number", cascade="all, delete-orphan"
    )
    supplier: so.Mapped[Supplier | None] = so.relationship()


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
    source: so.Mapped[str] = so.mapped_column(
        sa.String(10), default="detected", server_default="detected"
    )
    state: so.Mapped[str] = so.mapped_column(sa.String(20), default="pending", index=True)
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
    state: so.Mapped[str] = so.mapped_column(
        sa.String(20), default="pending"
    )  # pending|done|failed
    error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    reference_face_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("reference_face.id", ondelete="SET NULL")
    )
    created_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    finished_at: so.Mapped[datetime | None]


class QueueItem(Base):
    """A photo waiting to be published on one or more channels."""

    __tablename__ = "queue_item"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    photo_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("photo.id"), index=True)
    channels: so.Mapped[str] = so.mapped_column(sa.String(100))  # space-separated
    caption: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    scheduled_for: so.Mapped[datetime | None]
    fit: so.Mapped[str] = so.mapped_column(sa.String(10), default="pad")  # pad | crop
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default="blocked", index=True)
    blockers: so.Mapped[str | None] = so.mapped_column(sa.Text)  # JSON list of the gate's reasons
    created_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)

    photo: so.Mapped[Photo] = so.relationship()

    @property
    def channel_list(self) -> list[str]:
        return self.channels.split()


class ChannelConnection(Base):
    """How the business reaches a channel: a Meta Page / Instagram account, or manual posting."""

    __tablename__ = "channel_connection"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    channel: so.Mapped[str] = so.mapped_column(sa.String(20), unique=True)
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
    channel: so.Mapped[str] = so.mapped_column(sa.String(20))
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
    how: so.Mapped[str] = so.mapped_column(
        sa.String(20)
    )  # consent | not_identifiable | blur | supplier
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
    method: so.Mapped[str] = so.mapped_column(sa.String(10))  # api | manual
    status: so.Mapped[str] = so.mapped_column(
        sa.String(10), default="open", index=True
    )  # open|done
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
    state: so.Mapped[str] = so.mapped_column(
        sa.String(10), default="queued", index=True
    )  # queued | sent | failed
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    sent_at: so.Mapped[datetime | None]


class CustomerRequest(Base):
    """Something a customer asked for on their own page that the owner must act on (erasure)."""

    __tablename__ = "customer_request"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    person_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    kind: so.Mapped[str] = so.mapped_column(sa.String(20))  # erasure
    status: so.Mapped[str] = so.mapped_column(
        sa.String(10), default="open", index=True
    )  # open | done
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    closed_at: so.Mapped[datetime | None]
    closed_by_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )

    person: so.Mapped[Person] = so.relationship()
