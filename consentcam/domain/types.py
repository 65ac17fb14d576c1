"""Value types the consent rules work on: channels, consent records, supplier permissions, faces."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType


class Channel(StrEnum):
    """A place a photo can be published."""

    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"
    WEBSITE = "website"
    PRINT = "print"

    @property
    def label(self) -> str:
        """Name the channel the way an owner would in a sentence."""
        return _CHANNEL_LABELS[self]

    @property
    def heading(self) -> str:
        """Name the channel as a heading or a badge."""
        return _CHANNEL_HEADINGS[self]


# The channels' English words, the only place they are written; pages translate them
# (consentcam.web.words), English documents such as the audit report use them as they are.
_CHANNEL_LABELS: Mapping[Channel, str] = {
    Channel.INSTAGRAM: "Instagram",
    Channel.FACEBOOK: "Facebook",
    Channel.WEBSITE: "the website",
    Channel.PRINT: "print",
}
_CHANNEL_HEADINGS: Mapping[Channel, str] = {
    Channel.INSTAGRAM: "Instagram",
    Channel.FACEBOOK: "Facebook",
    Channel.WEBSITE: "Website",
    Channel.PRINT: "Print",
}


class Scope(StrEnum):
    """Which photos a consent record covers."""

    ALL = "all"
    LISTED = "listed"


class FaceState(StrEnum):
    """How far the owner has come in reviewing one detected face."""

    PENDING = "pending"
    SUGGESTED = "suggested"
    CONFIRMED = "confirmed"
    NOT_IDENTIFIABLE = "not_identifiable"


class FaceSource(StrEnum):
    """Where a face's box came from: the scanner, or a person who drew it by hand."""

    DETECTED = "detected"
    MANUAL = "manual"


class ScanState(StrEnum):
    """Where a photo is in the face scan."""

    PENDING = "pending"
    SCANNING = "scanning"
    DONE = "done"
    FAILED = "failed"


class ReviewState(StrEnum):
    """Where a photo stands in review, as the photo list filters it.

    A scanned photo needs review while one of its faces has no decision yet (a blurred face
    needs none) or nobody has confirmed that everyone in it is marked.
    """

    SCANNING = "scanning"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"
    REVIEWED = "reviewed"


class GateState(StrEnum):
    """Where a scanned, confirmed photo stands on one channel in the photo list.

    Cleared: the gate lets it out. Blocked: every face has a decision and still the gate
    refuses it. A photo with a face still to decide and no supplier's permission covering it is
    neither (it needs review first).
    """

    CLEARED = "cleared"
    BLOCKED = "blocked"


class QueueStatus(StrEnum):
    """Where a queue item is on its way out (services.publishing says what each one means)."""

    BLOCKED = "blocked"
    READY = "ready"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RemovalStatus(StrEnum):
    """A removal task is open until the post is down (or closed by hand)."""

    OPEN = "open"
    DONE = "done"


class RemovalMethod(StrEnum):
    """How a post comes down: through the platform's API, or by hand."""

    API = "api"
    MANUAL = "manual"


class UploadState(StrEnum):
    """A reference photo waiting for enrolment, enrolled, or refused."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class MailState(StrEnum):
    """An outgoing e-mail waiting for the worker, sent, failed after its retries, or cancelled."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RequestStatus(StrEnum):
    """A customer's request the owner must act on: open until it is done."""

    OPEN = "open"
    DONE = "done"


class BlockReason(StrEnum):
    """Why a photo or one of its faces keeps the photo from being published."""

    SCAN_PENDING = "scan_pending"
    SCAN_FAILED = "scan_failed"
    FACES_UNCONFIRMED = "faces_unconfirmed"
    FACE_UNREVIEWED = "face_unreviewed"
    FACE_SUGGESTED_ONLY = "face_suggested_only"
    NO_CONSENT = "no_consent"
    CHANNEL_NOT_COVERED = "channel_not_covered"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_NOT_YET_GIVEN = "consent_not_yet_given"
    OUTSIDE_SCOPE = "outside_scope"
    NO_REASON_GIVEN = "no_reason_given"


# When none of a person's consent records is active, the record with the highest-ranked reason
# explains the refusal. An explicit "no" from the person tells the owner most, a record that never
# mentioned the channel tells the least.
_CONSENT_REASON_RANK: Mapping[BlockReason, int] = {
    BlockReason.CONSENT_WITHDRAWN: 5,
    BlockReason.CONSENT_EXPIRED: 4,
    BlockReason.CONSENT_NOT_YET_GIVEN: 3,
    BlockReason.OUTSIDE_SCOPE: 2,
    BlockReason.CHANNEL_NOT_COVERED: 1,
}


def require_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` unchanged, or raise ValueError if it carries no time zone."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got naive {value!r}")
    return value


def utc_day(value: datetime) -> str:
    """Format a moment as its UTC calendar day, e.g. ``2026-11-03``."""
    return value.astimezone(UTC).date().isoformat()


def _channels(values: Iterable[Channel | str]) -> frozenset[Channel]:
    return frozenset(Channel(v) for v in values)


@dataclass(frozen=True)
class Consent:
    """One signed consent record of a person.

    ``channels`` maps each channel the record covers to the moment consent for that channel was
    withdrawn, or None while it stands. A withdrawal takes effect at that moment: the consent is
    no longer active at any time at or after it.
    """

    id: int
    person_id: int
    channels: Mapping[Channel, datetime | None] = field(hash=False)
    scope: Scope
    photo_ids: frozenset[int]
    given_at: datetime
    expires_at: datetime | None = None
    biometric: bool = False
    biometric_withdrawn_at: datetime | None = None

    def __post_init__(self) -> None:
        channels: dict[Channel, datetime | None] = {}
        for channel, withdrawn_at in self.channels.items():
            if withdrawn_at is not None:
                require_aware(withdrawn_at, f"withdrawn_at for {channel}")
            channels[Channel(channel)] = withdrawn_at
        object.__setattr__(self, "channels", MappingProxyType(channels))
        object.__setattr__(self, "scope", Scope(self.scope))
        object.__setattr__(self, "photo_ids", frozenset(self.photo_ids))
        require_aware(self.given_at, "given_at")
        if self.expires_at is not None:
            require_aware(self.expires_at, "expires_at")
            if self.expires_at <= self.given_at:
                raise ValueError(f"consent {self.id} expires before it is given")
        if self.biometric_withdrawn_at is not None:
            require_aware(self.biometric_withdrawn_at, "biometric_withdrawn_at")

    def why_inactive(self, channel: Channel, at: datetime, photo_id: int) -> BlockReason | None:
        """Say why this record does not allow the photo on ``channel`` at ``at``; None if so."""
        require_aware(at, "at")
        if channel not in self.channels:
            return BlockReason.CHANNEL_NOT_COVERED
        withdrawn_at = self.channels[channel]
        if withdrawn_at is not None and withdrawn_at <= at:
            return BlockReason.CONSENT_WITHDRAWN
        if at < self.given_at:
            return BlockReason.CONSENT_NOT_YET_GIVEN
        if self.expires_at is not None and self.expires_at <= at:
            return BlockReason.CONSENT_EXPIRED
        if self.scope is Scope.LISTED and photo_id not in self.photo_ids:
            return BlockReason.OUTSIDE_SCOPE
        return None

    def is_active(self, channel: Channel, at: datetime, photo_id: int) -> bool:
        """Tell whether this record allows ``photo_id`` on ``channel`` at ``at``."""
        return self.why_inactive(channel, at, photo_id) is None

    def biometric_active(self, at: datetime) -> bool:
        """Tell whether the person agrees to automatic recognition at ``at``."""
        require_aware(at, "at")
        withdrawn = self.biometric_withdrawn_at
        return self.biometric and (withdrawn is None or at < withdrawn)


@dataclass(frozen=True)
class ConsentCheck:
    """The outcome of looking through one person's consent records for one use of one photo.

    ``consent`` is the active record chosen (None if none is active). Otherwise ``reason`` is
    the most informative refusal and ``evidence`` the record it came from (None when the person
    has no record at all).
    """

    consent: Consent | None
    reason: BlockReason | None
    evidence: Consent | None

    @property
    def active(self) -> bool:
        """Tell whether an active record was found."""
        return self.consent is not None


def check_consents(
    consents: Iterable[Consent], person_id: int, channel: Channel, at: datetime, photo_id: int
) -> ConsentCheck:
    """Find the consent record of ``person_id`` that allows ``photo_id`` on ``channel`` at ``at``.

    Records of other people are ignored. Among several active records, the one that lasts
    longest is chosen (no expiry first), then the lowest id, so the choice is stable.
    """
    require_aware(at, "at")
    own = [c for c in consents if c.person_id == person_id]
    active = [c for c in own if c.is_active(channel, at, photo_id)]
    if active:
        best = min(
            active,
            key=lambda c: (c.expires_at is not None, -(c.expires_at or at).timestamp(), c.id),
        )
        return ConsentCheck(consent=best, reason=None, evidence=None)
    if not own:
        return ConsentCheck(consent=None, reason=BlockReason.NO_CONSENT, evidence=None)

    def rank(c: Consent) -> tuple[int, float, int]:
        reason = c.why_inactive(channel, at, photo_id)
        assert reason is not None
        # Among equal reasons, the most recent event (withdrawal, expiry, start) is the news.
        moment = reason_moment(c, reason, channel)
        return (_CONSENT_REASON_RANK[reason], moment.timestamp() if moment else 0.0, -c.id)

    evidence = max(own, key=rank)
    reason = evidence.why_inactive(channel, at, photo_id)
    return ConsentCheck(consent=None, reason=reason, evidence=evidence)


def reason_moment(consent: Consent, reason: BlockReason, channel: Channel) -> datetime | None:
    """Give the moment behind a refusal: when consent was withdrawn, expired or starts."""
    if reason is BlockReason.CONSENT_WITHDRAWN:
        return consent.channels[channel]
    if reason is BlockReason.CONSENT_EXPIRED:
        return consent.expires_at
    if reason is BlockReason.CONSENT_NOT_YET_GIVEN:
        return consent.given_at
    return None


@dataclass(frozen=True)
class SupplierPermission:
    """A supplier's written permission to publish the people in the photos it provides."""

    id: int
    supplier_id: int
    channels: frozenset[Channel]
    valid_from: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", _channels(self.channels))
        require_aware(self.valid_from, "valid_from")
        if self.valid_until is not None:
            require_aware(self.valid_until, "valid_until")
            if self.valid_until <= self.valid_from:
                raise ValueError(f"supplier permission {self.id} ends before it starts")
        if self.revoked_at is not None:
            require_aware(self.revoked_at, "revoked_at")

    def is_active(self, channel: Channel, at: datetime) -> bool:
        """Tell whether this permission covers ``channel`` at ``at``."""
        require_aware(at, "at")
        return (
            channel in self.channels
            and self.valid_from <= at
            and (self.valid_until is None or at < self.valid_until)
            and (self.revoked_at is None or at < self.revoked_at)
        )


def active_supplier_permission(
    supplier_id: int | None,
    permissions: Iterable[SupplierPermission],
    channel: Channel,
    at: datetime,
) -> SupplierPermission | None:
    """Find the active permission of ``supplier_id`` for ``channel`` at ``at`` (lowest id wins)."""
    if supplier_id is None:
        return None
    active = [p for p in permissions if p.supplier_id == supplier_id and p.is_active(channel, at)]
    return min(active, key=lambda p: p.id) if active else None


@dataclass(frozen=True)
class FaceView:
    """One detected face as the rules see it.

    ``number`` is the 1-based number shown to the owner next to the face.
    """

    id: int
    number: int
    state: FaceState
    person_id: int | None = None
    blur: bool = False
    not_identifiable_reason: str | None = None
    suggested_person_id: int | None = None
    distance: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", FaceState(self.state))
        if self.number < 1:
            raise ValueError(f"face {self.id}: display numbers start at 1, got {self.number}")
        if self.state is FaceState.CONFIRMED and self.person_id is None:
            raise ValueError(f"face {self.id} is confirmed but names no person")


@dataclass(frozen=True)
class PhotoView:
    """A photo with its scan state and its faces (found by the scanner or drawn by hand).

    ``faces_confirmed`` tells whether a signed-in person has confirmed that everyone in the photo
    is marked. It is False until someone does, and again after the photo's faces change.
    """

    id: int
    scan_state: ScanState
    faces: tuple[FaceView, ...] = ()
    supplier_id: int | None = None
    faces_confirmed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "scan_state", ScanState(self.scan_state))
        faces = tuple(sorted(self.faces, key=lambda f: (f.number, f.id)))
        if len({f.id for f in faces}) != len(faces):
            raise ValueError(f"photo {self.id} lists the same face twice")
        if len({f.number for f in faces}) != len(faces):
            raise ValueError(f"photo {self.id} gives two faces the same number")
        object.__setattr__(self, "faces", faces)
