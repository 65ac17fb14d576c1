"""Tests of the publish gate: random cases against a restated rule, and one example per reason."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from domain_strategies import (
    T0,
    at,
    by_person,
    channels,
    consent_allows,
    consent_lists,
    face_covered,
    moments,
    permission_allows,
    photos,
    supplier_permission_lists,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from consentcam.domain import (
    BlockReason,
    Channel,
    ClearedBy,
    Consent,
    FaceState,
    FaceView,
    GateDecision,
    PhotoView,
    ScanState,
    Scope,
    SupplierPermission,
    evaluate_gate,
)

IG = Channel.INSTAGRAM
FB = Channel.FACEBOOK
ANNA = 7
NAMES = {ANNA: "Anna Berg"}


def consent(
    *,
    id: int = 1,
    person_id: int = ANNA,
    channels: dict[Channel, datetime | None] | None = None,
    scope: Scope = Scope.ALL,
    photo_ids: frozenset[int] = frozenset(),
    given_at: datetime = T0,
    expires_at: datetime | None = None,
) -> Consent:
    return Consent(
        id=id,
        person_id=person_id,
        channels={IG: None} if channels is None else channels,
        scope=scope,
        photo_ids=photo_ids,
        given_at=given_at,
        expires_at=expires_at,
        biometric=False,
        biometric_withdrawn_at=None,
    )


def face(number: int = 1, state: FaceState = FaceState.CONFIRMED, **kw: Any) -> FaceView:
    if state is FaceState.CONFIRMED:
        kw.setdefault("person_id", ANNA)
    return FaceView(id=500 + number, number=number, state=state, **kw)


def photo(
    *faces: FaceView,
    scan: ScanState = ScanState.DONE,
    supplier: int | None = None,
    confirmed: bool = True,
) -> PhotoView:
    """A photo a person has confirmed as fully marked, unless ``confirmed`` says otherwise."""
    return PhotoView(
        id=42, scan_state=scan, faces=faces, supplier_id=supplier, faces_confirmed=confirmed
    )


def decide(
    p: PhotoView,
    consents: list[Consent] | None = None,
    when: datetime | None = None,
    channel: Channel = IG,
    permissions: list[SupplierPermission] | None = None,
) -> GateDecision:
    grouped = by_person(consents or [])
    return evaluate_gate(p, channel, when or at(5), grouped, permissions or [], names=NAMES)


def only_code(d: GateDecision) -> BlockReason:
    assert not d.cleared
    assert len(d.blockers) == 1
    return d.blockers[0].code


# ---------------------------------------------------------------- properties


@settings(max_examples=250, deadline=None)
@given(
    p=photos(),
    channel=channels,
    t=moments,
    consents=consent_lists(),
    permissions=supplier_permission_lists(),
)
def test_gate_clears_exactly_the_covered_faces(
    p: PhotoView,
    channel: Channel,
    t: datetime,
    consents: list[Consent],
    permissions: list[SupplierPermission],
) -> None:
    grouped = by_person(consents)
    d = evaluate_gate(p, channel, t, grouped, permissions)

    assert d.cleared == (not d.blockers)
    assert (d.photo_id, d.channel, d.at) == (p.id, channel, t)
    if p.scan_state is not ScanState.DONE:
        assert not d.cleared
        assert len(d.blockers) == 1 and d.blockers[0].face_id is None
        assert d.clearances == ()
        return

    uncovered = {f.id for f in p.faces if not face_covered(f, p, channel, t, grouped, permissions)}
    photo_blockers = [b for b in d.blockers if b.face_id is None]
    if p.faces_confirmed:
        assert photo_blockers == []
    else:
        assert [b.code for b in photo_blockers] == [BlockReason.FACES_UNCONFIRMED]
    face_blockers = [b for b in d.blockers if b.face_id is not None]
    assert {b.face_id for b in face_blockers} == uncovered
    assert len(face_blockers) == len(uncovered)
    cleared_ids = [c.face_id for c in d.clearances]
    assert len(cleared_ids) == len(set(cleared_ids))
    assert set(cleared_ids) == {f.id for f in p.faces} - uncovered
    assert d.cleared == (not uncovered and p.faces_confirmed)

    by_id = {f.id: f for f in p.faces}
    for c in d.clearances:
        f = by_id[c.face_id]
        if c.how is ClearedBy.CONSENT:
            assert f.state is FaceState.CONFIRMED
            used = next(x for x in consents if x.id == c.consent_id)
            assert used.person_id == f.person_id
            assert consent_allows(used, channel, t, p.id)
        elif c.how is ClearedBy.SUPPLIER:
            used_p = next(x for x in permissions if x.id == c.supplier_permission_id)
            assert used_p.supplier_id == p.supplier_id
            assert permission_allows(used_p, channel, t)
        elif c.how is ClearedBy.BLUR:
            assert f.blur
        else:
            assert f.state is FaceState.NOT_IDENTIFIABLE
            assert (f.not_identifiable_reason or "").strip()
        # A suggestion alone never clears: only a blur or a supplier can cover such a face.
        if f.state is FaceState.SUGGESTED:
            assert c.how in (ClearedBy.BLUR, ClearedBy.SUPPLIER)

    for b in face_blockers:
        assert b.face_id is not None
        f = by_id[b.face_id]
        assert b.face_number == f.number
        assert b.message.startswith(f"Face {f.number}")
        assert b.params["face"] == str(f.number)


@settings(max_examples=80, deadline=None)
@given(p=photos(), channel=channels, t=moments, consents=consent_lists())
def test_without_supplier_permissions_suggested_and_pending_faces_always_block(
    p: PhotoView, channel: Channel, t: datetime, consents: list[Consent]
) -> None:
    d = evaluate_gate(p, channel, t, by_person(consents), [])
    if p.scan_state is not ScanState.DONE:
        return
    blocked = {b.face_id for b in d.blockers}
    for f in p.faces:
        if f.state in (FaceState.PENDING, FaceState.SUGGESTED) and not f.blur:
            assert f.id in blocked


# ---------------------------------------------------------------- examples, one per reason


def test_scan_pending_and_scanning_block_the_whole_photo() -> None:
    for state in (ScanState.PENDING, ScanState.SCANNING):
        d = decide(photo(face(), scan=state), [consent()])
        assert only_code(d) is BlockReason.SCAN_PENDING
        assert d.blockers[0].face_id is None and d.blockers[0].face_number is None


def test_scan_failed_blocks_the_whole_photo() -> None:
    d = decide(photo(scan=ScanState.FAILED))
    assert only_code(d) is BlockReason.SCAN_FAILED
    assert "failed" in d.blockers[0].message


def test_scanned_photo_without_faces_is_cleared_once_confirmed() -> None:
    d = decide(photo())
    assert d.cleared and d.blockers == () and d.clearances == ()


def test_photo_without_faces_is_blocked_until_a_person_confirms_it() -> None:
    d = decide(photo(confirmed=False))
    assert only_code(d) is BlockReason.FACES_UNCONFIRMED
    blocker = d.blockers[0]
    assert blocker.face_id is None and blocker.face_number is None
    assert "everyone in this photo is marked" in blocker.message
    assert blocker.params["faces"] == "0"


def test_unconfirmed_photo_with_covered_faces_is_still_blocked() -> None:
    covered = photo(face(1), face(2, FaceState.PENDING, blur=True), confirmed=False)
    d = decide(covered, [consent()])
    assert only_code(d) is BlockReason.FACES_UNCONFIRMED
    # The faces are covered all the same: confirming is the one thing left to do.
    assert {c.face_id for c in d.clearances} == {501, 502}


def test_a_supplier_permission_does_not_stand_in_for_the_confirmation() -> None:
    permission = SupplierPermission(id=1, supplier_id=10, channels=frozenset({IG}), valid_from=T0)
    d = decide(
        photo(face(1, FaceState.PENDING), supplier=10, confirmed=False), permissions=[permission]
    )
    assert only_code(d) is BlockReason.FACES_UNCONFIRMED


def test_unconfirmed_photo_lists_the_confirmation_first_then_each_face() -> None:
    d = decide(photo(face(1, FaceState.PENDING), confirmed=False))
    assert [b.code for b in d.blockers] == [
        BlockReason.FACES_UNCONFIRMED,
        BlockReason.FACE_UNREVIEWED,
    ]


@settings(max_examples=200, deadline=None)
@given(
    p=photos(done_weight=8),
    channel=channels,
    t=moments,
    consents=consent_lists(),
    permissions=supplier_permission_lists(),
)
def test_the_gate_never_clears_an_unconfirmed_photo(
    p: PhotoView,
    channel: Channel,
    t: datetime,
    consents: list[Consent],
    permissions: list[SupplierPermission],
) -> None:
    unconfirmed = PhotoView(
        id=p.id,
        scan_state=p.scan_state,
        faces=p.faces,
        supplier_id=p.supplier_id,
        faces_confirmed=False,
    )
    d = evaluate_gate(unconfirmed, channel, t, by_person(consents), permissions)
    assert not d.cleared
    if p.scan_state is ScanState.DONE:
        assert d.blockers[0].code is BlockReason.FACES_UNCONFIRMED


def test_unreviewed_face_blocks() -> None:
    d = decide(photo(face(1, FaceState.PENDING)))
    assert only_code(d) is BlockReason.FACE_UNREVIEWED
    assert d.blockers[0].face_number == 1


def test_suggestion_never_clears_even_when_the_suggested_person_consented() -> None:
    f = face(2, FaceState.SUGGESTED, suggested_person_id=ANNA, distance=0.1)
    d = decide(photo(f), [consent()])
    assert only_code(d) is BlockReason.FACE_SUGGESTED_ONLY
    assert d.blockers[0].message == "Face 2: looks like Anna Berg, but nobody has confirmed it yet."


def test_confirmed_face_without_any_consent_blocks() -> None:
    d = decide(photo(face()))
    assert only_code(d) is BlockReason.NO_CONSENT
    assert d.blockers[0].person_id == ANNA


def test_consent_of_another_person_does_not_count() -> None:
    other = consent(person_id=ANNA + 1)
    d = evaluate_gate(photo(face()), IG, at(5), {ANNA: [other]}, [])
    assert only_code(d) is BlockReason.NO_CONSENT


def test_channel_not_covered_blocks() -> None:
    d = decide(photo(face()), [consent(channels={FB: None})])
    assert only_code(d) is BlockReason.CHANNEL_NOT_COVERED
    assert "Instagram" in d.blockers[0].message


def test_withdrawn_consent_blocks_from_the_moment_of_withdrawal() -> None:
    withdrawn = datetime.fromisoformat("2026-11-03T09:30:00+00:00")
    c = consent(channels={IG: withdrawn})
    before = decide(photo(face(2)), [c], when=withdrawn - timedelta(seconds=1))
    assert before.cleared
    d = decide(photo(face(2)), [c], when=withdrawn)
    assert only_code(d) is BlockReason.CONSENT_WITHDRAWN
    b = d.blockers[0]
    assert b.message == "Face 2 (Anna Berg): consent for Instagram was withdrawn on 2026-11-03."
    assert b.params["person"] == "Anna Berg" and b.params["date"] == "2026-11-03"
    assert b.params["channel_code"] == "instagram"


def test_expired_consent_blocks_at_the_expiry_moment() -> None:
    c = consent(expires_at=at(5))
    assert decide(photo(face()), [c], when=at(4)).cleared
    assert only_code(decide(photo(face()), [c], when=at(5))) is BlockReason.CONSENT_EXPIRED


def test_consent_counts_from_the_moment_it_is_given() -> None:
    c = consent(given_at=at(5))
    assert only_code(decide(photo(face()), [c], when=at(4))) is BlockReason.CONSENT_NOT_YET_GIVEN
    assert decide(photo(face()), [c], when=at(5)).cleared


def test_listed_scope_covers_only_listed_photos() -> None:
    outside = consent(scope=Scope.LISTED, photo_ids=frozenset({41}))
    assert only_code(decide(photo(face()), [outside])) is BlockReason.OUTSIDE_SCOPE
    inside = consent(scope=Scope.LISTED, photo_ids=frozenset({42}))
    d = decide(photo(face()), [inside])
    assert d.cleared and d.clearances[0].consent_id == inside.id


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_not_identifiable_needs_a_reason(reason: str | None) -> None:
    d = decide(photo(face(1, FaceState.NOT_IDENTIFIABLE, not_identifiable_reason=reason)))
    assert only_code(d) is BlockReason.NO_REASON_GIVEN


def test_not_identifiable_with_reason_clears() -> None:
    f = face(1, FaceState.NOT_IDENTIFIABLE, not_identifiable_reason="seen from behind")
    d = decide(photo(f))
    assert d.cleared and d.clearances[0].how is ClearedBy.NOT_IDENTIFIABLE


def test_blur_clears_any_face() -> None:
    d = decide(photo(face(1, FaceState.PENDING, blur=True), face(2, blur=True)))
    assert d.cleared
    assert [c.how for c in d.clearances] == [ClearedBy.BLUR, ClearedBy.BLUR]


def test_one_blocker_per_blocking_face_in_display_order() -> None:
    p = photo(face(3, FaceState.PENDING), face(1), face(2, blur=True))
    d = decide(p)
    assert [b.face_number for b in d.blockers] == [1, 3]
    assert [b.code for b in d.blockers] == [BlockReason.NO_CONSENT, BlockReason.FACE_UNREVIEWED]


# ---------------------------------------------------------------- several records, suppliers


def test_withdrawn_is_reported_over_channel_not_covered() -> None:
    facebook_only = consent(id=1, channels={FB: None})
    withdrawn = consent(id=2, channels={IG: at(1)})
    for order in ([facebook_only, withdrawn], [withdrawn, facebook_only]):
        d = decide(photo(face()), order)
        assert only_code(d) is BlockReason.CONSENT_WITHDRAWN
        assert d.blockers[0].params["consent"] == "2"


def test_expired_is_reported_over_outside_scope() -> None:
    listed = consent(id=1, scope=Scope.LISTED, photo_ids=frozenset({1}))
    expired = consent(id=2, expires_at=at(2))
    assert only_code(decide(photo(face()), [listed, expired])) is BlockReason.CONSENT_EXPIRED


def test_any_active_record_clears_despite_withdrawn_ones() -> None:
    withdrawn = consent(id=1, channels={IG: at(1)})
    active = consent(id=2)
    d = decide(photo(face()), [withdrawn, active])
    assert d.cleared and d.clearances[0].consent_id == 2


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


def test_active_supplier_permission_covers_every_face() -> None:
    p = photo(face(1, FaceState.PENDING), face(2, FaceState.SUGGESTED), face(3), supplier=3)
    d = decide(p, permissions=[permission()])
    assert d.cleared
    assert {c.how for c in d.clearances} == {ClearedBy.SUPPLIER}
    assert {c.supplier_permission_id for c in d.clearances} == {9}


@pytest.mark.parametrize(
    ("kw", "supplier", "channel"),
    [
        ({"supplier_id": 4}, 3, IG),  # another supplier's permission
        ({}, None, IG),  # photo not from a supplier
        ({}, 3, FB),  # channel not named
        ({"valid_from": at(6)}, 3, IG),  # not yet valid
        ({"valid_until": at(5)}, 3, IG),  # ended exactly now
        ({"revoked_at": at(5)}, 3, IG),  # revoked exactly now
    ],
)
def test_supplier_permission_that_does_not_apply_covers_nothing(
    kw: dict[str, object], supplier: int | None, channel: Channel
) -> None:
    d = decide(
        photo(face(1, FaceState.PENDING), supplier=supplier),
        channel=channel,
        permissions=[permission(**kw)],
    )
    assert only_code(d) is BlockReason.FACE_UNREVIEWED


# ---------------------------------------------------------------- input checks


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate_gate(photo(), IG, datetime(2026, 1, 1), {}, [])


def test_naive_consent_times_are_refused() -> None:
    with pytest.raises(ValueError):
        consent(given_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        consent(channels={IG: datetime(2026, 1, 1)})


def test_confirmed_face_must_name_a_person() -> None:
    with pytest.raises(ValueError):
        FaceView(id=1, number=1, state=FaceState.CONFIRMED, person_id=None)


def test_photo_refuses_duplicate_face_numbers() -> None:
    with pytest.raises(ValueError):
        photo(face(1), FaceView(id=99, number=1, state=FaceState.PENDING))


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_decision_is_the_same_whatever_order_consents_come_in(data: st.DataObject) -> None:
    consents = data.draw(consent_lists())
    p = data.draw(photos())
    t = data.draw(moments)
    shuffled = data.draw(st.permutations(consents))
    a = evaluate_gate(p, IG, t, by_person(consents), [])
    b = evaluate_gate(p, IG, t, by_person(shuffled), [])
    assert a == b
