"""The publish gate: may this photo go out on this channel now, and if not, why not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from consentcam.domain.types import (
    BlockReason,
    Channel,
    Consent,
    FaceState,
    FaceView,
    PhotoView,
    ScanState,
    SupplierPermission,
    active_supplier_permission,
    check_consents,
    reason_moment,
    require_aware,
    utc_day,
)


class ClearedBy(StrEnum):
    """What makes one face safe to publish."""

    CONSENT = "consent"
    NOT_IDENTIFIABLE = "not_identifiable"
    BLUR = "blur"
    SUPPLIER = "supplier"


@dataclass(frozen=True)
class Blocker:
    """One thing that keeps a photo from being published: a face, or the photo as a whole.

    ``message`` is plain English for the owner; ``params`` carries the same facts by name
    (face, person, channel, date, ...) so the web layer can word it in another language.
    """

    face_id: int | None
    face_number: int | None
    person_id: int | None
    code: BlockReason
    message: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


@dataclass(frozen=True)
class Clearance:
    """How one face is covered."""

    face_id: int
    how: ClearedBy
    consent_id: int | None = None
    supplier_permission_id: int | None = None


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict for one photo, channel and moment, with its reasons."""

    photo_id: int
    channel: Channel
    at: datetime
    cleared: bool
    blockers: tuple[Blocker, ...]
    clearances: tuple[Clearance, ...]

    def __post_init__(self) -> None:
        if self.cleared == bool(self.blockers):
            raise ValueError("a decision is cleared exactly when it has no blockers")


def evaluate_gate(
    photo: PhotoView,
    channel: Channel,
    at: datetime,
    consents: Mapping[int, Sequence[Consent]],
    supplier_permissions: Sequence[SupplierPermission],
    *,
    names: Mapping[int, str] | None = None,
) -> GateDecision:
    """Decide whether ``photo`` may be published on ``channel`` at ``at``.

    ``consents`` holds each person's consent records by person id. ``names`` (person id to
    display name) only improves the messages. A scanned photo is blocked as a whole until a
    person has confirmed that everyone in it is marked. A face is covered, in this order, by a blur, a
    not-identifiable mark with a reason, an active consent of the confirmed person, or an active
    permission of the photo's supplier. A suggestion from face recognition never covers a face.
    """
    require_aware(at, "at")
    channel = Channel(channel)
    names = names or {}

    if photo.scan_state is not ScanState.DONE:
        failed = photo.scan_state is ScanState.FAILED
        code = BlockReason.SCAN_FAILED if failed else BlockReason.SCAN_PENDING
        message = (
            "The face scan of this photo failed; scan it again before publishing."
            if failed
            else "This photo has not been scanned for faces yet."
        )
        blocker = Blocker(None, None, None, code, message, {"state": str(photo.scan_state)})
        return GateDecision(photo.id, channel, at, False, (blocker,), ())

    supplier = active_supplier_permission(photo.supplier_id, supplier_permissions, channel, at)
    blockers: list[Blocker] = []
    clearances: list[Clearance] = []
    if not photo.faces_confirmed:
        # No photo goes out on the detector's word alone, not even one where it found nobody:
        # a scanner misses turned, small and covered faces. Every photo is looked at by a
        # person once, those a supplier's permission covers included.
        blockers.append(
            Blocker(
                None,
                None,
                None,
                BlockReason.FACES_UNCONFIRMED,
                "Nobody has confirmed yet that everyone in this photo is marked.",
                {"faces": str(len(photo.faces))},
            )
        )
    for face in photo.faces:
        outcome = _face_outcome(face, photo.id, channel, at, consents, names)
        if isinstance(outcome, Clearance):
            clearances.append(outcome)
        elif supplier is not None:
            clearances.append(Clearance(face.id, ClearedBy.SUPPLIER, None, supplier.id))
        else:
            blockers.append(outcome)
    return GateDecision(photo.id, channel, at, not blockers, tuple(blockers), tuple(clearances))


def person_label(person_id: int | None, names: Mapping[int, str]) -> str:
    """Name a person for a message, falling back to their number."""
    if person_id is None:
        return "unknown person"
    return names.get(person_id) or f"person #{person_id}"


def _face_outcome(
    face: FaceView,
    photo_id: int,
    channel: Channel,
    at: datetime,
    consents: Mapping[int, Sequence[Consent]],
    names: Mapping[int, str],
) -> Clearance | Blocker:
    """How one face stands: covered (blur, a reasoned not-identifiable mark, consent) or why not."""
    if face.blur:
        return Clearance(face.id, ClearedBy.BLUR)
    params = {"face": str(face.number), "channel": channel.label, "channel_code": str(channel)}
    unconfirmed = _unconfirmed_outcome(face, params, names)
    if unconfirmed is not None:
        return unconfirmed
    return _consent_outcome(face, photo_id, channel, at, consents, names, params)


def _block(
    face: FaceView,
    code: BlockReason,
    message: str,
    params: Mapping[str, str],
    person_id: int | None = None,
) -> Blocker:
    return Blocker(face.id, face.number, person_id, code, message, params)


def _unconfirmed_outcome(
    face: FaceView, params: dict[str, str], names: Mapping[int, str]
) -> Clearance | Blocker | None:
    """A face nobody has tied to a person: covered only by a reasoned not-identifiable mark.

    None for a confirmed face (its person's consent decides).
    """
    if face.state is FaceState.NOT_IDENTIFIABLE:
        if face.not_identifiable_reason and face.not_identifiable_reason.strip():
            return Clearance(face.id, ClearedBy.NOT_IDENTIFIABLE)
        return _block(
            face,
            BlockReason.NO_REASON_GIVEN,
            f"Face {face.number}: marked as not identifiable, but no reason was given.",
            params,
        )
    if face.state is FaceState.PENDING:
        return _block(
            face,
            BlockReason.FACE_UNREVIEWED,
            f"Face {face.number}: nobody has said yet who this is.",
            params,
        )
    if face.state is FaceState.SUGGESTED:
        suggested = face.suggested_person_id
        if suggested is None:
            text = f"Face {face.number}: a suggestion has not been confirmed yet."
        else:
            params["person"] = person_label(suggested, names)
            text = (
                f"Face {face.number}: looks like {params['person']}, "
                "but nobody has confirmed it yet."
            )
        return _block(face, BlockReason.FACE_SUGGESTED_ONLY, text, params, suggested)
    return None


def _consent_outcome(
    face: FaceView,
    photo_id: int,
    channel: Channel,
    at: datetime,
    consents: Mapping[int, Sequence[Consent]],
    names: Mapping[int, str],
    params: dict[str, str],
) -> Clearance | Blocker:
    """A confirmed face: covered by its person's active consent, or blocked saying why not."""
    person_id = face.person_id
    assert person_id is not None  # FaceView refuses a confirmed face without a person
    check = check_consents(consents.get(person_id, ()), person_id, channel, at, photo_id)
    if check.consent is not None:
        return Clearance(face.id, ClearedBy.CONSENT, consent_id=check.consent.id)

    who = person_label(person_id, names)
    params["person"] = who
    head = f"Face {face.number} ({who})"
    reason = check.reason
    assert reason is not None
    evidence = check.evidence
    moment = reason_moment(evidence, reason, channel) if evidence is not None else None
    if moment is not None:
        params["date"] = utc_day(moment)
        params["at"] = moment.isoformat()
    if evidence is not None:
        params["consent"] = str(evidence.id)
    messages = {
        BlockReason.NO_CONSENT: f"{head}: there is no consent on record.",
        BlockReason.CHANNEL_NOT_COVERED: f"{head}: the consent does not cover {channel.label}.",
        BlockReason.CONSENT_WITHDRAWN: (
            f"{head}: consent for {channel.label} was withdrawn on {params.get('date')}."
        ),
        BlockReason.CONSENT_EXPIRED: f"{head}: consent expired on {params.get('date')}.",
        BlockReason.CONSENT_NOT_YET_GIVEN: (
            f"{head}: consent only applies from {params.get('date')}."
        ),
        BlockReason.OUTSIDE_SCOPE: (
            f"{head}: consent covers only the photos listed on it, "
            "and this photo is not one of them."
        ),
    }
    return _block(face, reason, messages[reason], params, person_id)
