"""Quarterly audit: re-check every live publication against consent as it stands now."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from consentcam.domain.gate import person_label
from consentcam.domain.types import (
    BlockReason,
    Channel,
    Consent,
    ConsentCheck,
    FaceState,
    SupplierPermission,
    active_supplier_permission,
    check_consents,
    reason_moment,
    require_aware,
    utc_day,
)

_QUARTER = re.compile(r"\s*(\d{4})\s*-?\s*[Qq]\s*([1-4])\s*")


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter in UTC, written like ``2026Q4``. ``end`` is exclusive."""

    year: int
    quarter: int

    def __post_init__(self) -> None:
        if not 1 <= self.quarter <= 4:
            raise ValueError(f"a quarter is numbered 1 to 4, got {self.quarter}")
        if not 1 <= self.year <= 9998:
            raise ValueError(f"year {self.year} is out of range")

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """Read a quarter written like ``2026Q4`` (also ``2026-Q4`` or ``2026q4``)."""
        match = _QUARTER.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"not a quarter: {text!r}; write it like 2026Q4")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def current(cls, at: datetime) -> Quarter:
        """Give the quarter that contains ``at`` (in UTC)."""
        utc = require_aware(at, "at").astimezone(UTC)
        return cls(utc.year, (utc.month - 1) // 3 + 1)

    @property
    def start(self) -> datetime:
        """The first moment of the quarter."""
        return datetime(self.year, 3 * self.quarter - 2, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the quarter."""
        if self.quarter == 4:
            return datetime(self.year + 1, 1, 1, tzinfo=UTC)
        return datetime(self.year, 3 * self.quarter + 1, 1, tzinfo=UTC)

    def next(self) -> Quarter:
        """Give the following quarter."""
        if self.quarter == 4:
            return Quarter(self.year + 1, 1)
        return Quarter(self.year, self.quarter + 1)

    def previous(self) -> Quarter:
        """Give the quarter before."""
        if self.quarter == 1:
            return Quarter(self.year - 1, 4)
        return Quarter(self.year, self.quarter - 1)

    def __contains__(self, at: object) -> bool:
        return isinstance(at, datetime) and self.start <= require_aware(at, "at") < self.end

    def __str__(self) -> str:
        return f"{self.year:04d}Q{self.quarter}"


class FindingKind(StrEnum):
    """What the audit found wrong with a publication or removal task."""

    CONSENT_WITHDRAWN_ONLINE = "consent_withdrawn_online"
    CONSENT_EXPIRED_ONLINE = "consent_expired_online"
    NO_CONSENT_ONLINE = "no_consent_online"
    REMOVAL_OPEN = "removal_open"
    REMOVAL_OVERDUE = "removal_overdue"
    FACE_NOT_CONFIRMED = "face_not_confirmed"
    SUPPLIER_PERMISSION_LAPSED = "supplier_permission_lapsed"
    CLEARED_COPY_MISSING = "cleared_copy_missing"
    UNACCOUNTED_FACE = "unaccounted_face"
    PUBLISHED_UNCONFIRMED = "published_unconfirmed"


Severity = Literal["high", "medium"]


class ConsentStatus(StrEnum):
    """Where a face's person stands with consent for one channel at one moment."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    NOT_YET_GIVEN = "not_yet_given"
    OUTSIDE_SCOPE = "outside_scope"
    CHANNEL_NOT_COVERED = "channel_not_covered"
    NO_CONSENT = "no_consent"
    NO_PERSON = "no_person"


_STATUS_BY_REASON: Mapping[BlockReason, ConsentStatus] = {
    BlockReason.CONSENT_WITHDRAWN: ConsentStatus.WITHDRAWN,
    BlockReason.CONSENT_EXPIRED: ConsentStatus.EXPIRED,
    BlockReason.CONSENT_NOT_YET_GIVEN: ConsentStatus.NOT_YET_GIVEN,
    BlockReason.OUTSIDE_SCOPE: ConsentStatus.OUTSIDE_SCOPE,
    BlockReason.CHANNEL_NOT_COVERED: ConsentStatus.CHANNEL_NOT_COVERED,
    BlockReason.NO_CONSENT: ConsentStatus.NO_CONSENT,
}


@dataclass(frozen=True)
class AuditFace:
    """A face on a publication, with the consent it was published under."""

    face_id: int
    number: int
    state: FaceState
    person_id: int | None
    blur: bool
    not_identifiable_reason: str | None
    consent_id_at_publish: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", FaceState(self.state))


@dataclass(frozen=True)
class AuditPublication:
    """A publication as the audit sees it.

    ``unaccounted_faces_on_rescan`` counts faces a fresh scan found that the publication's
    review does not account for; None when no rescan was made. ``faces_confirmed_at_publish``
    tells whether a person had confirmed that everyone in the photo was marked when it went out
    (posts from before that rule have no confirmation); ``faces_confirmed_now`` whether the
    photo is confirmed today.
    """

    id: int
    photo_id: int
    channel: Channel
    published_at: datetime
    live: bool
    cleared_copy_present: bool
    supplier_id: int | None
    faces: tuple[AuditFace, ...]
    supplier_permission_id_at_publish: int | None = None
    unaccounted_faces_on_rescan: int | None = None
    faces_confirmed_at_publish: bool = False
    faces_confirmed_now: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel", Channel(self.channel))
        object.__setattr__(self, "faces", tuple(sorted(self.faces, key=lambda f: f.number)))
        require_aware(self.published_at, "published_at")


@dataclass(frozen=True)
class RemovalTaskView:
    """A removal task: open until ``closed_at``."""

    id: int
    publication_id: int
    due_at: datetime
    closed_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.due_at, "due_at")
        if self.closed_at is not None:
            require_aware(self.closed_at, "closed_at")

    def is_open(self, at: datetime) -> bool:
        """Tell whether the task is still open at ``at``."""
        return self.closed_at is None or at < self.closed_at


@dataclass(frozen=True)
class Finding:
    """One thing the audit asks the responsible person to act on or explain."""

    kind: FindingKind
    severity: Severity
    publication_id: int
    message: str
    face_id: int | None = None
    task_id: int | None = None
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


def consent_status_now(
    face: AuditFace,
    consents: Mapping[int, Sequence[Consent]],
    channel: Channel,
    at: datetime,
    photo_id: int,
) -> ConsentStatus:
    """Say where the face's person stands with consent for ``channel`` at ``at``.

    Pass the publishing moment as ``at`` to get the status as it stood then. Blur and
    not-identifiable marks are not consent and do not change the answer.
    """
    require_aware(at, "at")
    if face.person_id is None:
        return ConsentStatus.NO_PERSON
    pid = face.person_id
    check = check_consents(consents.get(pid, ()), pid, channel, at, photo_id)
    if check.active:
        return ConsentStatus.ACTIVE
    assert check.reason is not None
    return _STATUS_BY_REASON[check.reason]


def consent_status_then(
    consent: Consent | None, channel: Channel, at: datetime, photo_id: int
) -> ConsentStatus:
    """Say where one consent record stood for ``channel`` at ``at`` (e.g. the one a post was
    published under, at its publishing moment); no record is no consent."""
    if consent is None:
        return ConsentStatus.NO_CONSENT
    reason = consent.why_inactive(channel, at, photo_id)
    return ConsentStatus.ACTIVE if reason is None else _STATUS_BY_REASON[reason]


PermissionState = Literal["active", "lapsed", "missing"]


def permission_state(
    perm: SupplierPermission | None, channel: Channel, at: datetime
) -> PermissionState:
    """Say whether a supplier's permission covers ``channel`` at ``at`` (missing: none on record)."""
    if perm is None:
        return "missing"
    return "active" if perm.is_active(channel, at) else "lapsed"


def audit_findings(
    publications: Sequence[AuditPublication],
    consents: Mapping[int, Sequence[Consent]],
    supplier_permissions: Sequence[SupplierPermission],
    removal_tasks: Sequence[RemovalTaskView],
    at: datetime,
    *,
    names: Mapping[int, str] | None = None,
) -> list[Finding]:
    """List what is wrong at ``at`` with live publications and open removal tasks, high first.

    A live publication is checked as the gate would check it now, except that a face covered
    by a blur, by a not-identifiable mark with a reason, or by an active permission of the
    photo's supplier needs no consent. Withdrawn consent still online counts as medium rather
    than high while a removal task for that publication is open and not overdue.
    """
    require_aware(at, "at")
    names = names or {}
    still_open = [t for t in sorted(removal_tasks, key=lambda t: t.id) if t.is_open(at)]
    findings = [_task_finding(task, at) for task in still_open]
    open_tasks: dict[int, list[RemovalTaskView]] = {}
    for task in still_open:
        open_tasks.setdefault(task.publication_id, []).append(task)
    for pub in publications:
        if pub.live:
            removal_under_way = any(t.due_at > at for t in open_tasks.get(pub.id, ()))
            findings.extend(
                _publication_findings(
                    pub, consents, supplier_permissions, at, names, removal_under_way
                )
            )
    findings.sort(key=_order)
    return findings


def _task_finding(task: RemovalTaskView, at: datetime) -> Finding:
    """An open removal task: overdue (high) or still within its deadline (medium)."""
    params = {"task": str(task.id), "due": utc_day(task.due_at)}
    if task.due_at <= at:
        return Finding(
            FindingKind.REMOVAL_OVERDUE,
            "high",
            task.publication_id,
            f"Removal task {task.id} was due on {params['due']} and is still open.",
            task_id=task.id,
            params=params,
        )
    return Finding(
        FindingKind.REMOVAL_OPEN,
        "medium",
        task.publication_id,
        f"Removal task {task.id} is open; it is due on {params['due']}.",
        task_id=task.id,
        params=params,
    )


def _order(f: Finding) -> tuple[int, int, int, int, str]:
    return (
        0 if f.severity == "high" else 1,
        f.publication_id,
        f.face_id if f.face_id is not None else -1,
        f.task_id if f.task_id is not None else -1,
        str(f.kind),
    )


class _Post:
    """A live publication being checked, with the words its findings start with."""

    def __init__(
        self,
        pub: AuditPublication,
        at: datetime,
        names: Mapping[int, str],
        removal_under_way: bool,
    ) -> None:
        self.pub = pub
        self.at = at
        self.names = names
        self.removal_under_way = removal_under_way
        channel = pub.channel
        self.base = {
            "publication": str(pub.id),
            "channel": channel.label,
            "channel_code": str(channel),
        }
        self.where = f"Post {pub.id} on {channel.label}"


def _publication_findings(
    pub: AuditPublication,
    consents: Mapping[int, Sequence[Consent]],
    supplier_permissions: Sequence[SupplierPermission],
    at: datetime,
    names: Mapping[int, str],
    removal_under_way: bool,
) -> list[Finding]:
    post = _Post(pub, at, names, removal_under_way)
    out = _copy_findings(post)
    supplier = active_supplier_permission(pub.supplier_id, supplier_permissions, pub.channel, at)
    if pub.supplier_permission_id_at_publish is not None and supplier is None:
        out.append(
            Finding(
                FindingKind.SUPPLIER_PERMISSION_LAPSED,
                "high",
                pub.id,
                f"{post.where}: the supplier's permission it was published under no longer "
                f"covers {pub.channel.label}.",
                params={**post.base, "permission": str(pub.supplier_permission_id_at_publish)},
            )
        )
    if supplier is not None:
        return out
    for face in pub.faces:
        found = _face_check(post, face, consents)
        if found is not None:
            out.append(found)
    return out


def _copy_findings(post: _Post) -> list[Finding]:
    """What is wrong with the post as a whole: its copy, its confirmation, its re-scan."""
    pub, where, base = post.pub, post.where, post.base
    out: list[Finding] = []
    if not pub.cleared_copy_present:
        out.append(
            Finding(
                FindingKind.CLEARED_COPY_MISSING,
                "medium",
                pub.id,
                f"{where}: the copy that was published is missing from storage.",
                params=base,
            )
        )
    if not pub.faces_confirmed_at_publish:
        # Nobody looked for people the scanner missed before it went out. Once someone has
        # confirmed the photo since, what is left to explain is the past, not a risk online.
        since = pub.faces_confirmed_now
        tail = (
            " The photo has been confirmed since."
            if since
            else " Look at the photo and confirm it on its review page."
        )
        out.append(
            Finding(
                FindingKind.PUBLISHED_UNCONFIRMED,
                "medium" if since else "high",
                pub.id,
                f"{where}: it went out before anyone confirmed that everyone in the photo "
                f"was marked.{tail}",
                params={**base, "confirmed_since": "yes" if since else "no"},
            )
        )
    unaccounted = pub.unaccounted_faces_on_rescan or 0
    if unaccounted > 0:
        what = "a face" if unaccounted == 1 else f"{unaccounted} faces"
        out.append(
            Finding(
                FindingKind.UNACCOUNTED_FACE,
                "high",
                pub.id,
                f"{where}: a new scan found {what} that nobody reviewed.",
                params={**base, "count": str(unaccounted)},
            )
        )
    return out


def _face_check(
    post: _Post, face: AuditFace, consents: Mapping[int, Sequence[Consent]]
) -> Finding | None:
    """What is wrong with one face of a live post with no supplier's permission (None: nothing)."""
    pub, where = post.pub, post.where
    params = {**post.base, "face": str(face.number)}
    if face.blur:
        return None
    if face.state is FaceState.NOT_IDENTIFIABLE:
        if face.not_identifiable_reason and face.not_identifiable_reason.strip():
            return None
        message = f"{where}, face {face.number}: marked not identifiable without a reason."
        return _face_finding(FindingKind.FACE_NOT_CONFIRMED, "high", pub, face, message, params)
    if face.state is not FaceState.CONFIRMED or face.person_id is None:
        message = f"{where}, face {face.number}: nobody has confirmed who this is."
        return _face_finding(FindingKind.FACE_NOT_CONFIRMED, "high", pub, face, message, params)
    pid = face.person_id
    check = check_consents(consents.get(pid, ()), pid, pub.channel, post.at, pub.photo_id)
    if check.active:
        return None
    return _consent_finding(post, face, check, params)


def _consent_finding(
    post: _Post, face: AuditFace, check: ConsentCheck, params: dict[str, str]
) -> Finding:
    """A confirmed face whose person's consent does not cover the live post."""
    pub, channel = post.pub, post.pub.channel
    who = person_label(face.person_id, post.names)
    params["person"] = who
    head = f"{post.where}, face {face.number} ({who})"
    reason = check.reason
    moment = (
        reason_moment(check.evidence, reason, channel)
        if check.evidence is not None and reason is not None
        else None
    )
    if moment is not None:
        params["date"] = utc_day(moment)
    if reason is BlockReason.CONSENT_WITHDRAWN:
        severity: Severity = "medium" if post.removal_under_way else "high"
        tail = " A removal task is under way." if post.removal_under_way else ""
        message = f"{head}: consent was withdrawn on {params.get('date')}, still online.{tail}"
        kind = FindingKind.CONSENT_WITHDRAWN_ONLINE
        return _face_finding(kind, severity, pub, face, message, params)
    if reason is BlockReason.CONSENT_EXPIRED:
        message = f"{head}: consent expired on {params.get('date')}, still online."
        return _face_finding(FindingKind.CONSENT_EXPIRED_ONLINE, "high", pub, face, message, params)
    status = _STATUS_BY_REASON[reason] if reason is not None else ConsentStatus.NO_CONSENT
    params["status"] = str(status)
    message = f"{head}: no consent covers this post ({_STATUS_WORDS[status]})."
    return _face_finding(FindingKind.NO_CONSENT_ONLINE, "high", pub, face, message, params)


_STATUS_WORDS: Mapping[ConsentStatus, str] = {
    ConsentStatus.ACTIVE: "active",
    ConsentStatus.WITHDRAWN: "withdrawn",
    ConsentStatus.EXPIRED: "expired",
    ConsentStatus.NOT_YET_GIVEN: "consent starts later",
    ConsentStatus.OUTSIDE_SCOPE: "this photo is not listed on the consent",
    ConsentStatus.CHANNEL_NOT_COVERED: "the consent does not name this channel",
    ConsentStatus.NO_CONSENT: "no consent on record",
    ConsentStatus.NO_PERSON: "no person named",
}


def _face_finding(
    kind: FindingKind,
    severity: Severity,
    pub: AuditPublication,
    face: AuditFace,
    message: str,
    params: Mapping[str, str] | None = None,
) -> Finding:
    return Finding(kind, severity, pub.id, message, face_id=face.face_id, params=params or {})
