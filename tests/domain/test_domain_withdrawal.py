"""Tests of withdrawal planning: what it changes, and that doing it twice changes nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from domain_strategies import PERSON_IDS, PHOTO_IDS, T0, at, channel_sets, consent_lists, moments
from hypothesis import given, settings
from hypothesis import strategies as st

from consentcam.domain import (
    Channel,
    Consent,
    PublicationView,
    QueueItemView,
    Scope,
    WithdrawalPlan,
    plan_withdrawal,
)

IG = Channel.INSTAGRAM
FB = Channel.FACEBOOK
ANNA = 1
STATUSES = ["ready", "blocked", "scheduled", "published", "cancelled"]

queue_item_lists = st.lists(
    st.builds(
        QueueItemView,
        id=st.integers(1, 1000),
        photo_id=st.sampled_from(PHOTO_IDS),
        channels=channel_sets,
        status=st.sampled_from(STATUSES),
        person_ids=st.frozensets(st.sampled_from(PERSON_IDS)),
    ),
    max_size=5,
    unique_by=lambda i: i.id,
)
publication_lists = st.lists(
    st.builds(
        PublicationView,
        id=st.integers(1, 1000),
        photo_id=st.sampled_from(PHOTO_IDS),
        channel=st.sampled_from(list(Channel)),
        live=st.booleans(),
        person_ids=st.frozensets(st.sampled_from(PERSON_IDS)),
        url=st.none() | st.just("https://example.com/p/1"),
        can_api_delete=st.booleans(),
    ),
    max_size=5,
    unique_by=lambda p: p.id,
)


def apply(
    plan: WithdrawalPlan,
    consents: Sequence[Consent],
    items: Sequence[QueueItemView],
    existing: frozenset[int],
) -> tuple[list[Consent], list[QueueItemView], frozenset[int]]:
    """Carry a plan out the way the service layer does, on plain values."""
    new_consents = []
    for c in consents:
        chans = dict(c.channels)
        for consent_id, channel in plan.withdraw:
            if consent_id == c.id:
                chans[channel] = plan.at
        bio = plan.at if c.id in plan.withdraw_biometric else c.biometric_withdrawn_at
        new_consents.append(replace(c, channels=chans, biometric_withdrawn_at=bio))
    new_items = [
        replace(i, status="blocked") if i.id in plan.block_queue_item_ids else i for i in items
    ]
    tasks = existing | {t.publication_id for t in plan.removal_tasks}
    return new_consents, new_items, frozenset(tasks)


def assert_empty(plan: WithdrawalPlan) -> None:
    assert not plan.changed
    assert plan.withdraw == ()
    assert plan.withdraw_biometric == ()
    assert plan.block_queue_item_ids == ()
    assert plan.removal_tasks == ()
    assert plan.delete_templates is False


@settings(max_examples=200, deadline=None)
@given(
    person=st.sampled_from(PERSON_IDS),
    chans=channel_sets,
    bio=st.booleans(),
    t=moments,
    later=st.integers(0, 30).map(lambda h: timedelta(hours=h)),
    consents=consent_lists(),
    items=queue_item_lists,
    pubs=publication_lists,
    existing=st.frozensets(st.integers(1, 1000), max_size=3),
    api_channels=channel_sets,
    due_days=st.integers(1, 31),
)
def test_withdrawal_twice_plans_nothing_new(
    person: int,
    chans: frozenset[Channel],
    bio: bool,
    t: datetime,
    later: timedelta,
    consents: list[Consent],
    items: list[QueueItemView],
    pubs: list[PublicationView],
    existing: frozenset[int],
    api_channels: frozenset[Channel],
    due_days: int,
) -> None:
    due = timedelta(days=due_days)
    args = (items, pubs)
    plan = plan_withdrawal(person, chans, bio, t, consents, *args, existing, api_channels, due)
    targets = chans or frozenset(Channel)

    # What the plan touches follows the rule.
    for consent_id, channel in plan.withdraw:
        c = next(c for c in consents if c.id == consent_id)
        assert c.person_id == person and channel in targets and channel in c.channels
    assert {p.publication_id for p in plan.removal_tasks} == {
        p.id
        for p in pubs
        if p.live and person in p.person_ids and p.channel in targets and p.id not in existing
    }
    for task in plan.removal_tasks:
        pub = next(p for p in pubs if p.id == task.publication_id)
        assert task.due_at == t + due
        assert (task.method == "api") == (pub.can_api_delete and pub.channel in api_channels)
    assert set(plan.block_queue_item_ids) == {
        i.id
        for i in items
        if i.status in ("ready", "scheduled") and person in i.person_ids and i.channels & targets
    }
    assert plan.delete_templates == bool(plan.withdraw_biometric)
    if not bio:
        assert not plan.delete_templates

    # Carried out, every consent of the person is withdrawn for the asked channels from t on.
    consents2, items2, existing2 = apply(plan, consents, items, existing)
    for c in consents2:
        if c.person_id == person:
            for channel in targets & c.channels.keys():
                withdrawn = c.channels[channel]
                assert withdrawn is not None and withdrawn <= t
                assert not c.is_active(channel, t, PHOTO_IDS[0])

    # Asked again, now or later, nothing more happens.
    for when in (t, t + later):
        again = plan_withdrawal(
            person, chans, bio, when, consents2, items2, pubs, existing2, api_channels, due
        )
        assert_empty(again)


def consent(id: int = 1, person_id: int = ANNA, **kw: Any) -> Consent:
    fields: dict[str, Any] = {
        "channels": {IG: None, FB: None},
        "scope": Scope.ALL,
        "photo_ids": frozenset(),
        "given_at": T0,
        "expires_at": None,
        "biometric": False,
        "biometric_withdrawn_at": None,
    }
    fields.update(kw)
    return Consent(id=id, person_id=person_id, **fields)


def plan(
    consents: Sequence[Consent] = (),
    chans: frozenset[Channel] = frozenset({IG}),
    items: Sequence[QueueItemView] = (),
    pubs: Sequence[PublicationView] = (),
    existing: frozenset[int] = frozenset(),
    bio: bool = False,
    api: frozenset[Channel] = frozenset({IG, FB}),
    due: timedelta = timedelta(days=7),
    when: datetime | None = None,
) -> WithdrawalPlan:
    t = when or at(5)
    return plan_withdrawal(ANNA, chans, bio, t, consents, items, pubs, existing, api, due)


def test_withdraws_only_the_named_channels_of_the_person() -> None:
    p = plan([consent(1), consent(2, person_id=2)], chans=frozenset({IG}))
    assert p.withdraw == ((1, IG),)
    assert p.changed


def test_empty_channel_set_means_every_channel() -> None:
    p = plan([consent(1, channels={IG: None, FB: None, Channel.PRINT: None})], chans=frozenset())
    assert set(p.withdraw) == {(1, IG), (1, FB), (1, Channel.PRINT)}
    assert p.channels == frozenset(Channel)


def test_already_withdrawn_channel_is_left_alone_but_a_later_date_is_brought_forward() -> None:
    c = consent(1, channels={IG: at(2), FB: at(9)})
    p = plan([c], chans=frozenset(), when=at(5))
    assert p.withdraw == ((1, FB),)


def test_blocks_queued_items_that_could_still_go_out() -> None:
    items = [
        QueueItemView(1, 100, frozenset({IG}), "ready", frozenset({ANNA})),
        QueueItemView(2, 100, frozenset({IG, FB}), "scheduled", frozenset({ANNA, 2})),
        QueueItemView(3, 100, frozenset({IG}), "published", frozenset({ANNA})),
        QueueItemView(4, 100, frozenset({IG}), "cancelled", frozenset({ANNA})),
        QueueItemView(5, 100, frozenset({FB}), "ready", frozenset({ANNA})),  # other channel
        QueueItemView(6, 100, frozenset({IG}), "ready", frozenset({2})),  # someone else
        QueueItemView(7, 100, frozenset({IG}), "blocked", frozenset({ANNA})),  # already held
    ]
    assert plan(items=items).block_queue_item_ids == (1, 2)


def test_opens_one_removal_task_per_live_publication_on_withdrawn_channels() -> None:
    pubs = [
        PublicationView(1, 100, IG, True, frozenset({ANNA}), "https://i/1", can_api_delete=True),
        PublicationView(2, 100, IG, True, frozenset({ANNA}), "https://i/2", can_api_delete=False),
        PublicationView(3, 100, IG, False, frozenset({ANNA}), None),  # taken down already
        PublicationView(4, 100, FB, True, frozenset({ANNA}), None),  # channel not withdrawn
        PublicationView(5, 100, IG, True, frozenset({2}), None),  # does not show her
        PublicationView(6, 100, IG, True, frozenset({ANNA}), None),  # task exists
    ]
    p = plan(pubs=pubs, existing=frozenset({6}), due=timedelta(days=3))
    assert [(t.publication_id, t.method) for t in p.removal_tasks] == [(1, "api"), (2, "manual")]
    assert all(t.due_at == at(5) + timedelta(days=3) for t in p.removal_tasks)


def test_api_method_needs_the_channel_to_allow_api_deletion() -> None:
    pubs = [PublicationView(1, 100, IG, True, frozenset({ANNA}), None, can_api_delete=True)]
    assert plan(pubs=pubs, api=frozenset({FB})).removal_tasks[0].method == "manual"


def test_removal_is_planned_even_without_a_consent_record() -> None:
    # The person's request decides; a post made under a supplier permission is taken down too.
    pubs = [PublicationView(1, 100, IG, True, frozenset({ANNA}), None)]
    p = plan(consents=[], pubs=pubs)
    assert p.withdraw == () and len(p.removal_tasks) == 1


def test_biometric_withdrawal_deletes_templates_once() -> None:
    c = consent(1, biometric=True)
    p = plan([c], bio=True)
    assert p.withdraw_biometric == (1,) and p.delete_templates
    assert not plan([c], bio=False).delete_templates
    done = replace(c, biometric_withdrawn_at=at(5))
    assert not plan([done], bio=True).delete_templates
    assert not plan([consent(1, biometric=False)], bio=True).delete_templates


def test_nothing_to_do_is_an_unchanged_plan() -> None:
    assert_empty(plan([consent(1, channels={FB: None})], chans=frozenset({IG})))


@pytest.mark.parametrize("days", [0, -1, 32, 60])
def test_removal_deadline_must_be_within_one_month(days: int) -> None:
    with pytest.raises(ValueError, match="deadline"):
        plan(due=timedelta(days=days))


def test_removal_deadline_of_31_days_is_allowed() -> None:
    pubs = [PublicationView(1, 100, IG, True, frozenset({ANNA}), None)]
    assert plan(pubs=pubs, due=timedelta(days=31)).removal_tasks[0].due_at == at(5) + timedelta(
        days=31
    )


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        plan(when=datetime(2026, 1, 1))


def test_unknown_queue_status_is_refused() -> None:
    with pytest.raises(ValueError):
        QueueItemView(1, 100, frozenset({IG}), "queued", frozenset())
