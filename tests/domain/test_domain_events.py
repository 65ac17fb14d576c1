"""Tests of the hash-chained event log: canonical form, and tampering caught where it happened."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentcam.domain import (
    GENESIS,
    ChainProblem,
    EventView,
    canonical,
    event_hash,
    next_event,
    verify_chain,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def chain(n: int) -> list[EventView]:
    events: list[EventView] = []
    for i in range(n):
        prev = events[-1] if events else None
        payload = {"consent": i, "channels": ["instagram"], "note": f"ändrad {i}"}
        events.append(
            next_event(
                prev, "consent.withdrawn", f"person:{i % 3}", payload, T0 + timedelta(minutes=i)
            )
        )
    return events


def problem(events: list[EventView], head: str | None = None) -> ChainProblem:
    found = verify_chain(events, expected_head=head)
    assert found is not None
    return found


# ---------------------------------------------------------------- canonical form


def test_canonical_is_sorted_compact_utf8() -> None:
    assert canonical({"b": 1, "a": [1, "å"]}) == '{"a":[1,"å"],"b":1}'.encode()


def test_canonical_writes_one_spelling_per_moment() -> None:
    cet = timezone(timedelta(hours=1))
    same = datetime(2026, 3, 1, 13, 0, tzinfo=cet)
    assert canonical({"at": same}) == canonical({"at": T0}) == b'{"at":"2026-03-01T12:00:00+00:00"}'


@pytest.mark.parametrize(
    "bad", [{"at": datetime(2026, 1, 1)}, {"x": float("nan")}, {"x": object()}]
)
def test_canonical_refuses_what_it_cannot_write_faithfully(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        canonical(bad)


def test_event_hash_is_sha256_of_the_canonical_event() -> None:
    payload = {"k": "v"}
    expected = hashlib.sha256(
        json.dumps(
            {
                "at": "2026-03-01T12:00:00+00:00",
                "kind": "k",
                "payload": payload,
                "prev_hash": GENESIS,
                "seq": 1,
                "subject": "s",
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    assert event_hash(GENESIS, 1, "k", "s", payload, T0) == expected


def test_every_field_is_sealed() -> None:
    base = event_hash(GENESIS, 1, "k", "s", {"a": 1}, T0)
    variants = [
        event_hash("1" * 64, 1, "k", "s", {"a": 1}, T0),
        event_hash(GENESIS, 2, "k", "s", {"a": 1}, T0),
        event_hash(GENESIS, 1, "K", "s", {"a": 1}, T0),
        event_hash(GENESIS, 1, "k", "S", {"a": 1}, T0),
        event_hash(GENESIS, 1, "k", "s", {"a": 2}, T0),
        event_hash(GENESIS, 1, "k", "s", {"a": 1}, T0 + timedelta(microseconds=1)),
    ]
    assert base not in variants and len(set(variants)) == len(variants)


def test_bad_prev_hash_and_naive_time_are_refused() -> None:
    with pytest.raises(ValueError):
        event_hash("xyz", 1, "k", "s", {}, T0)
    with pytest.raises(ValueError):
        event_hash(GENESIS, 1, "k", "s", {}, datetime(2026, 1, 1))


# ---------------------------------------------------------------- verification


def test_intact_chain_verifies() -> None:
    events = chain(5)
    assert events[0].prev_hash == GENESIS and events[0].seq == 1
    assert verify_chain(events) is None
    assert verify_chain(events, expected_head=events[-1].hash) is None
    assert verify_chain([]) is None
    assert verify_chain([], expected_head=GENESIS) is None


def test_changed_payload_is_caught_at_that_event() -> None:
    events = chain(5)
    events[2] = replace(events[2], payload={**events[2].payload, "consent": 99})
    p = problem(events)
    assert (p.seq, p.kind) == (3, "changed")


def test_changed_time_is_caught() -> None:
    events = chain(4)
    events[3] = replace(events[3], at=events[3].at - timedelta(days=1))
    assert (problem(events).seq, problem(events).kind) == (4, "changed")


def test_removed_event_is_caught_where_it_was() -> None:
    events = chain(5)
    del events[2]
    p = problem(events)
    assert (p.seq, p.kind) == (3, "removed")


def test_removed_first_event_is_caught() -> None:
    p = problem(chain(3)[1:])
    assert (p.seq, p.kind) == (1, "removed")


def test_removal_hidden_by_renumbering_is_caught_by_the_broken_link() -> None:
    events = chain(5)
    later = events[3]
    # Remove event 3 and renumber event 4 as 3, resealing it so its own hash matches.
    forged_seq = 3
    forged_hash = event_hash(
        later.prev_hash, forged_seq, later.kind, later.subject, later.payload, later.at
    )
    forged = replace(later, seq=forged_seq, hash=forged_hash)
    p = problem(events[:2] + [forged])
    assert (p.seq, p.kind) == (3, "removed")


def test_swapped_events_are_caught_as_reordered() -> None:
    events = chain(5)
    events[1], events[2] = events[2], events[1]
    p = problem(events)
    assert (p.seq, p.kind) == (2, "reordered")


def test_duplicated_event_is_caught_as_reordered() -> None:
    events = chain(3)
    p = problem(events + [events[1]])
    assert (p.seq, p.kind) == (4, "reordered")


def test_removed_last_events_need_the_expected_head() -> None:
    events = chain(5)
    head = events[-1].hash
    assert verify_chain(events[:3]) is None  # the links alone cannot show a cut tail
    p = problem(events[:3], head=head)
    assert (p.seq, p.kind) == (4, "removed")
    assert (problem([], head=head).seq, problem([], head=head).kind) == (1, "removed")


def test_events_appended_after_the_recorded_head_are_fine() -> None:
    events = chain(5)
    assert verify_chain(events, expected_head=events[2].hash) is None


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_single_tampering_is_caught_at_the_right_place(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 8))
    events = chain(n)
    action = data.draw(st.sampled_from(["change", "remove", "swap", "cut_tail"]))
    i = data.draw(st.integers(0, n - 2)) if action == "swap" else data.draw(st.integers(0, n - 1))
    head = events[-1].hash
    if action == "change":
        events[i] = replace(events[i], subject=events[i].subject + "!")
        expected = (i + 1, "changed")
    elif action == "remove":
        del events[i]
        expected = (i + 1, "removed")
    elif action == "swap":
        events[i], events[i + 1] = events[i + 1], events[i]
        expected = (i + 1, "reordered")
    else:
        events = events[:i]
        expected = (i + 1, "removed")
    p = verify_chain(events, expected_head=head)
    assert p is not None and (p.seq, p.kind) == expected
    assert p.message
