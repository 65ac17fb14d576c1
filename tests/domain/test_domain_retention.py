"""Tests of retention periods and the purge plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentcam.domain import PersonActivity, parse_period, plan_purge

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "days"),
    [("2y", 730), ("18m", 540), ("90d", 90), (" 1Y ", 365), ("1d", 1), ("100y", 36500)],
)
def test_parse_period(text: str, days: int) -> None:
    assert parse_period(text) == timedelta(days=days)


@pytest.mark.parametrize(
    "text", ["", "2", "y", "0d", "-1y", "2 years", "1.5y", "2w", "101y", "9999999d", "2y3m"]
)
def test_parse_period_refuses_bad_input(text: str) -> None:
    with pytest.raises(ValueError):
        parse_period(text)


def person(pid: int, idle_days: float, live: bool = False) -> PersonActivity:
    return PersonActivity(pid, NOW - timedelta(days=idle_days), live)


def test_purge_erases_the_inactive_and_keeps_those_still_online() -> None:
    period = parse_period("2y")
    people = [
        person(1, 730),  # exactly two years: due
        person(2, 729.9),  # not yet
        person(3, 2000, live=True),  # due, but a live post shows them
        person(4, 800),
        person(5, -1),  # clock skew: activity "in the future"
    ]
    plan = plan_purge(people, NOW, period)
    assert plan.erase == (1, 4)
    assert plan.kept_live == (3,)


def test_purge_refuses_duplicates_naive_times_and_empty_periods() -> None:
    with pytest.raises(ValueError):
        plan_purge([person(1, 1000), person(1, 5)], NOW, timedelta(days=1))
    with pytest.raises(ValueError):
        plan_purge([], datetime(2026, 1, 1), timedelta(days=1))
    with pytest.raises(ValueError):
        plan_purge([], NOW, timedelta(0))
    with pytest.raises(ValueError):
        PersonActivity(1, datetime(2026, 1, 1), False)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-10, 2000), st.booleans()), max_size=10),
    st.integers(1, 1500),
)
def test_nobody_active_within_the_period_or_still_online_is_erased(
    rows: list[tuple[int, bool]], period_days: int
) -> None:
    people = [person(i, idle, live) for i, (idle, live) in enumerate(rows)]
    plan = plan_purge(people, NOW, timedelta(days=period_days))
    assert not set(plan.erase) & set(plan.kept_live)
    for p in people:
        idle_enough = NOW - p.last_activity_at >= timedelta(days=period_days)
        assert (p.person_id in plan.erase) == (idle_enough and not p.shown_in_live_publication)
        assert (p.person_id in plan.kept_live) == (idle_enough and p.shown_in_live_publication)
