"""Tests of the quarterly audit: quarters, one example per finding, and agreement with the gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from domain_strategies import (
    PERSON_IDS,
    SUPPLIER_IDS,
    T0,
    at,
    by_person,
    channels,
    consent_lists,
    moments,
    supplier_permission_lists,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from consentcam.domain import (
    AuditFace,
    AuditPublication,
    Channel,
    Consent,
    ConsentStatus,
    FaceState,
    FaceView,
    Finding,
    FindingKind,
    PhotoView,
    Quarter,
    RemovalTaskView,
    ScanState,
    Scope,
    SupplierPermission,
    audit_findings,
    consent_status_now,
    evaluate_gate,
)

IG = Channel.INSTAGRAM
FB = Channel.FACEBOOK
ANNA = 7
NOW = at(10)

# ---------------------------------------------------------------- quarters


def test_quarter_parse_and_bounds() -> None:
    q = Quarter.parse("2026Q4")
    assert (q.year, q.quarter) == (2026, 4)
    assert q.start == datetime(2026, 10, 1, tzinfo=UTC)
    assert q.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert str(q) == "2026Q4"
    assert Quarter.parse("2026-q1").start == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "2026", "2026Q0", "2026Q5", "Q4 2026", "26Q4", "2026Q44"])
def test_quarter_parse_refuses_bad_input(text: str) -> None:
    with pytest.raises(ValueError, match="2026Q4"):
        Quarter.parse(text)


def test_quarter_current_uses_utc() -> None:
    stockholm_new_year = datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert str(Quarter.current(stockholm_new_year)) == "2026Q4"
    with pytest.raises(ValueError):
        Quarter.current(datetime(2026, 5, 1))


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
    )
)
def test_every_moment_falls_in_its_current_quarter(moment: datetime) -> None:
    q = Quarter.current(moment)
    assert q.start <= moment < q.end
    assert moment in q
    assert Quarter.parse(str(q)) == q
    assert q.next().start == q.end and q.next().previous() == q


# ---------------------------------------------------------------- findings, one per kind


def consent(id: int = 1, **kw: Any) -> Consent:
    fields: dict[str, Any] = {
        "person_id": ANNA,
        "channels": {IG: None},
        "scope": Scope.ALL,
        "photo_ids": frozenset(),
        "given_at": T0,
        "expires_at": None,
        "biometric": False,
        "biometric_withdrawn_at": None,
    }
    fields.update(kw)
    return Consent(id=id, **fields)


def aface(
    number: int = 1,
    state: FaceState = FaceState.CONFIRMED,
    person_id: int | None = ANNA,
    blur: bool = False,
    reason: str | None = None,
) -> AuditFace:
    return AuditFace(
        face_id=500 + number,
        number=number,
        state=state,
        person_id=person_id if state is FaceState.CONFIRMED else None,
        blur=blur,
        not_identifiable_reason=reason,
        consent_id_at_publish=1 if state is FaceState.CONFIRMED else None,
    )


def publication(*faces: AuditFace, **kw: Any) -> AuditPublication:
    fields: dict[str, Any] = {
        "id": 30,
        "photo_id": 42,
        "channel": IG,
        "published_at": at(1),
        "live": True,
        "cleared_copy_present": True,
        "supplier_id": None,
        "faces": faces or (aface(),),
        "supplier_permission_id_at_publish": None,
        "unaccounted_faces_on_rescan": 0,
        "faces_confirmed_at_publish": True,
        "faces_confirmed_now": True,
    }
    fields.update(kw)
    return AuditPublication(**fields)


def audit(
    pubs: list[AuditPublication],
    consents: list[Consent] | None = None,
    permissions: list[SupplierPermission] | None = None,
    tasks: list[RemovalTaskView] | None = None,
) -> list[Finding]:
    grouped = by_person([consent()] if consents is None else consents)
    return audit_findings(pubs, grouped, permissions or [], tasks or [], NOW, names={ANNA: "Anna"})


def kinds(findings: list[Finding]) -> list[FindingKind]:
    return [f.kind for f in findings]


def test_clean_publication_has_no_finding() -> None:
    assert audit([publication()]) == []


def test_post_that_went_out_unconfirmed_is_high_until_the_photo_is_confirmed() -> None:
    findings = audit([publication(faces_confirmed_at_publish=False, faces_confirmed_now=False)])
    assert kinds(findings) == [FindingKind.PUBLISHED_UNCONFIRMED]
    assert findings[0].severity == "high" and findings[0].face_id is None
    assert "before anyone confirmed that everyone in the photo was marked" in findings[0].message
    assert findings[0].params["confirmed_since"] == "no"


def test_post_that_went_out_unconfirmed_stays_listed_after_a_later_confirmation() -> None:
    findings = audit([publication(faces_confirmed_at_publish=False, faces_confirmed_now=True)])
    assert kinds(findings) == [FindingKind.PUBLISHED_UNCONFIRMED]
    assert findings[0].severity == "medium"
    assert "confirmed since" in findings[0].message


def test_post_of_a_photo_with_no_faces_that_went_out_unconfirmed_is_flagged() -> None:
    pub = publication(faces_confirmed_at_publish=False, faces_confirmed_now=False)
    empty = AuditPublication(**{**pub.__dict__, "faces": ()})
    assert kinds(audit([empty])) == [FindingKind.PUBLISHED_UNCONFIRMED]


def test_taken_down_post_that_went_out_unconfirmed_is_not_a_finding() -> None:
    pub = publication(live=False, faces_confirmed_at_publish=False)
    assert audit([pub]) == []


def test_withdrawn_consent_still_online() -> None:
    findings = audit([publication()], [consent(channels={IG: at(3)})])
    assert kinds(findings) == [FindingKind.CONSENT_WITHDRAWN_ONLINE]
    f = findings[0]
    assert f.severity == "high" and f.face_id == 501 and f.publication_id == 30
    assert "Anna" in f.message and "withdrawn" in f.message


def test_withdrawn_consent_with_removal_under_way_is_medium() -> None:
    task = RemovalTaskView(id=4, publication_id=30, due_at=NOW + timedelta(days=3))
    findings = audit([publication()], [consent(channels={IG: at(3)})], tasks=[task])
    assert sorted(kinds(findings)) == sorted(
        [FindingKind.CONSENT_WITHDRAWN_ONLINE, FindingKind.REMOVAL_OPEN]
    )
    assert {f.severity for f in findings} == {"medium"}


def test_expired_consent_still_online() -> None:
    findings = audit([publication()], [consent(expires_at=at(8))])
    assert kinds(findings) == [FindingKind.CONSENT_EXPIRED_ONLINE]
    assert findings[0].severity == "high"


def test_no_consent_for_a_confirmed_person_still_online() -> None:
    findings = audit([publication()], [consent(channels={FB: None})])
    assert kinds(findings) == [FindingKind.NO_CONSENT_ONLINE]
    assert findings[0].params["status"] == "channel_not_covered"


def test_open_and_overdue_removal_tasks() -> None:
    tasks = [
        RemovalTaskView(id=1, publication_id=30, due_at=NOW + timedelta(days=1)),
        RemovalTaskView(id=2, publication_id=31, due_at=NOW),  # due now: overdue
        RemovalTaskView(id=3, publication_id=32, due_at=at(1), closed_at=at(2)),  # closed
    ]
    findings = audit([], tasks=tasks)
    assert [(f.kind, f.task_id, f.severity) for f in findings] == [
        (FindingKind.REMOVAL_OVERDUE, 2, "high"),
        (FindingKind.REMOVAL_OPEN, 1, "medium"),
    ]


@pytest.mark.parametrize(
    "face",
    [
        aface(1, FaceState.PENDING),
        aface(1, FaceState.SUGGESTED),
        aface(1, FaceState.NOT_IDENTIFIABLE, reason=" "),
    ],
)
def test_face_not_confirmed(face: AuditFace) -> None:
    findings = audit([publication(face)])
    assert kinds(findings) == [FindingKind.FACE_NOT_CONFIRMED]
    assert findings[0].face_id == face.face_id


def test_blurred_and_not_identifiable_faces_need_no_consent() -> None:
    pub = publication(
        aface(1, FaceState.PENDING, blur=True),
        aface(2, FaceState.NOT_IDENTIFIABLE, reason="from behind"),
    )
    assert audit([pub], consents=[]) == []


def permission(**kw: Any) -> SupplierPermission:
    fields: dict[str, Any] = {
        "id": 9,
        "supplier_id": 3,
        "channels": frozenset({IG}),
        "valid_from": T0,
        "valid_until": None,
        "revoked_at": None,
    }
    fields.update(kw)
    return SupplierPermission(**fields)


def test_supplier_permission_lapsed() -> None:
    pub = publication(
        aface(1, FaceState.PENDING), supplier_id=3, supplier_permission_id_at_publish=9
    )
    lapsed = audit([pub], consents=[], permissions=[permission(valid_until=at(6))])
    assert FindingKind.SUPPLIER_PERMISSION_LAPSED in kinds(lapsed)
    # Without the permission the unreviewed face is exposed too.
    assert FindingKind.FACE_NOT_CONFIRMED in kinds(lapsed)
    assert audit([pub], consents=[], permissions=[permission()]) == []


def test_cleared_copy_missing() -> None:
    findings = audit([publication(cleared_copy_present=False)])
    assert kinds(findings) == [FindingKind.CLEARED_COPY_MISSING]
    assert findings[0].severity == "medium"


def test_unaccounted_face_on_rescan() -> None:
    findings = audit([publication(unaccounted_faces_on_rescan=2)])
    assert kinds(findings) == [FindingKind.UNACCOUNTED_FACE]
    assert findings[0].params["count"] == "2" and "2 faces" in findings[0].message
    assert audit([publication(unaccounted_faces_on_rescan=None)]) == []


def test_publications_no_longer_live_are_not_checked() -> None:
    pub = publication(aface(1, FaceState.PENDING), live=False, cleared_copy_present=False)
    assert audit([pub], consents=[]) == []


def test_high_findings_come_first() -> None:
    pubs = [
        publication(id=1, cleared_copy_present=False),
        publication(aface(1, FaceState.PENDING), id=2),
    ]
    findings = audit(pubs)
    assert [f.severity for f in findings] == ["high", "medium"]
    assert [f.publication_id for f in findings] == [2, 1]


def test_naive_audit_time_is_refused() -> None:
    with pytest.raises(ValueError):
        audit_findings([], {}, [], [], datetime(2026, 1, 1))


# ---------------------------------------------------------------- consent status


def test_consent_status_now_and_at_publishing() -> None:
    grouped = by_person([consent(channels={IG: at(3)})])
    face = aface()
    assert consent_status_now(face, grouped, IG, at(1), 42) is ConsentStatus.ACTIVE
    assert consent_status_now(face, grouped, IG, NOW, 42) == "withdrawn"
    assert consent_status_now(face, grouped, FB, NOW, 42) == "channel_not_covered"
    assert consent_status_now(face, {}, IG, NOW, 42) == "no_consent"
    assert consent_status_now(aface(1, FaceState.PENDING), grouped, IG, NOW, 42) == "no_person"
    expired = by_person([consent(expires_at=at(5))])
    assert consent_status_now(face, expired, IG, NOW, 42) == "expired"


# ---------------------------------------------------------------- agreement with the gate

_FACE_KINDS = {
    FindingKind.CONSENT_WITHDRAWN_ONLINE,
    FindingKind.CONSENT_EXPIRED_ONLINE,
    FindingKind.NO_CONSENT_ONLINE,
    FindingKind.FACE_NOT_CONFIRMED,
}


@st.composite
def audit_faces(draw: st.DrawFn) -> tuple[AuditFace, ...]:
    out = []
    for n in range(1, draw(st.integers(0, 4)) + 1):
        state = draw(st.sampled_from(list(FaceState)))
        out.append(
            AuditFace(
                face_id=n,
                number=n,
                state=state,
                person_id=draw(st.sampled_from(PERSON_IDS))
                if state is FaceState.CONFIRMED
                else None,
                blur=draw(st.booleans()),
                not_identifiable_reason=draw(st.sampled_from([None, "", "far away"])),
            )
        )
    return tuple(out)


@settings(max_examples=150, deadline=None)
@given(
    faces=audit_faces(),
    channel=channels,
    t=moments,
    supplier=st.none() | st.sampled_from(SUPPLIER_IDS),
    consents=consent_lists(),
    permissions=supplier_permission_lists(),
)
def test_audit_flags_exactly_the_faces_the_gate_would_block_now(
    faces: tuple[AuditFace, ...],
    channel: Channel,
    t: datetime,
    supplier: int | None,
    consents: list[Consent],
    permissions: list[SupplierPermission],
) -> None:
    pub = AuditPublication(
        id=1,
        photo_id=100,
        channel=channel,
        published_at=T0,
        live=True,
        cleared_copy_present=True,
        supplier_id=supplier,
        faces=faces,
        faces_confirmed_at_publish=True,
        faces_confirmed_now=True,
    )
    grouped = by_person(consents)
    findings = audit_findings([pub], grouped, permissions, [], t)
    photo = PhotoView(
        id=100,
        scan_state=ScanState.DONE,
        supplier_id=supplier,
        faces=tuple(
            FaceView(f.face_id, f.number, f.state, f.person_id, f.blur, f.not_identifiable_reason)
            for f in faces
        ),
        faces_confirmed=True,
    )
    decision = evaluate_gate(photo, channel, t, grouped, permissions)
    flagged = {f.face_id for f in findings if f.kind in _FACE_KINDS}
    assert flagged == {b.face_id for b in decision.blockers}
    assert len(flagged) == len([f for f in findings if f.kind in _FACE_KINDS])
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, key=lambda s: s != "high")
