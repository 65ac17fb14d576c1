"""Where a photo stands: its review state, its verdict on each channel, and until when it holds.

The photo list files each photo under one review state (waiting for its scan, scan failed,
needs review, reviewed) and, per channel, under cleared or blocked. The verdicts are the gate's
own (`evaluate_gate`), so the list never disagrees with the gate; they change with the data and
with the clock alone (a consent that expires, a permission that starts), so a standing says
until when it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from consentcam.domain.gate import evaluate_gate
from consentcam.domain.types import (
    Channel,
    Consent,
    FaceState,
    FaceView,
    GateState,
    PhotoView,
    ReviewState,
    ScanState,
    SupplierPermission,
    require_aware,
)


def face_decided(state: FaceState | str, blur: bool) -> bool:
    """A face has a decision once someone said who it is, that nobody can tell, or to blur it."""
    return blur or FaceState(state) in (FaceState.CONFIRMED, FaceState.NOT_IDENTIFIABLE)


def review_state(photo: PhotoView) -> ReviewState:
    """The photo's place in review (the gate clears nothing before it is reviewed, bar a
    supplier's permission, and nothing at all before someone confirmed everyone is marked)."""
    if photo.scan_state is ScanState.FAILED:
        return ReviewState.FAILED
    if photo.scan_state is not ScanState.DONE:
        return ReviewState.SCANNING
    if not photo.faces_confirmed or undecided_faces(photo.faces):
        return ReviewState.NEEDS_REVIEW
    return ReviewState.REVIEWED


def undecided_faces(faces: Iterable[FaceView]) -> int:
    return sum(not face_decided(f.state, f.blur) for f in faces)


@dataclass(frozen=True)
class Standing:
    """Where one photo stands at ``at``; ``channels`` names the channels it is cleared or
    blocked on (a photo still to review is neither), and the verdicts hold until ``due``
    (None: until the data changes)."""

    photo_id: int
    at: datetime
    review: ReviewState
    faces: int
    undecided: int
    channels: Mapping[Channel, GateState] = field(default_factory=dict, hash=False)
    due: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", MappingProxyType(dict(self.channels)))

    def on(self, channel: Channel | str) -> GateState | None:
        """Cleared, blocked, or neither (None) on ``channel``."""
        return self.channels.get(Channel(channel))


def standing(
    photo: PhotoView,
    at: datetime,
    consents: Mapping[int, Sequence[Consent]],
    permissions: Sequence[SupplierPermission],
) -> Standing:
    """Where ``photo`` stands at ``at``, with the consents of its people and its supplier's
    permissions (the same the gate is asked with)."""
    require_aware(at, "at")
    review = review_state(photo)
    undecided = undecided_faces(photo.faces)
    channels: dict[Channel, GateState] = {}
    if photo.scan_state is ScanState.DONE and photo.faces_confirmed:
        for channel in Channel:
            if evaluate_gate(photo, channel, at, consents, permissions).cleared:
                channels[channel] = GateState.CLEARED
            elif not undecided:
                channels[channel] = GateState.BLOCKED
    due = next_change(photo, at, consents, permissions) if channels else None
    return Standing(photo.id, at, review, len(photo.faces), undecided, channels, due)


def next_change(
    photo: PhotoView,
    at: datetime,
    consents: Mapping[int, Sequence[Consent]],
    permissions: Sequence[SupplierPermission],
) -> datetime | None:
    """The first moment after ``at`` when a verdict on ``photo`` may change with no write: a
    consent of someone in it starts, expires or has its withdrawal take effect, or a permission
    of its supplier starts, ends or is revoked. None when there is no such moment."""
    people = {f.person_id for f in photo.faces if f.person_id is not None}
    moments: list[datetime | None] = []
    for person_id in people:
        for consent in consents.get(person_id, ()):
            moments += [consent.given_at, consent.expires_at, *consent.channels.values()]
    for permission in permissions:
        if permission.supplier_id == photo.supplier_id:
            moments += [permission.valid_from, permission.valid_until, permission.revoked_at]
    return min((m for m in moments if m is not None and m > at), default=None)
