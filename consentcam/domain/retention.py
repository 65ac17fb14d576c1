"""Retention: who has been inactive long enough to be erased, and who must be kept for now."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from consentcam.domain.types import require_aware

# Calendar-free lengths, so a period means the same everywhere: a year is 365 days and a month
# 30 days. "2y" is therefore 730 days, a day or so short of two calendar years.
DAYS_PER_UNIT = {"y": 365, "m": 30, "d": 1}
MAX_PERIOD = timedelta(days=100 * 365)
_PERIOD = re.compile(r"\s*(\d{1,6})\s*([ymdYMD])\s*")


def parse_period(text: str) -> timedelta:
    """Read a retention period such as ``2y``, ``18m`` or ``90d``.

    A year counts as 365 days and a month as 30 days. Zero, negative, unit-less, and periods
    over 100 years are refused with ValueError.
    """
    match = _PERIOD.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"not a retention period: {text!r}; write a whole number and a unit, "
            "y (years), m (months) or d (days), e.g. 2y"
        )
    amount = int(match.group(1))
    period = timedelta(days=amount * DAYS_PER_UNIT[match.group(2).lower()])
    if period <= timedelta(0):
        raise ValueError(f"a retention period must be longer than zero, got {text!r}")
    if period > MAX_PERIOD:
        raise ValueError(f"a retention period over 100 years is surely a mistake: {text!r}")
    return period


@dataclass(frozen=True)
class PersonActivity:
    """When a person was last active, and whether a live publication still shows them."""

    person_id: int
    last_activity_at: datetime
    shown_in_live_publication: bool

    def __post_init__(self) -> None:
        require_aware(self.last_activity_at, "last_activity_at")


@dataclass(frozen=True)
class PurgePlan:
    """People to erase now, and inactive people kept because a live publication shows them."""

    erase: tuple[int, ...]
    kept_live: tuple[int, ...]


def plan_purge(people: Sequence[PersonActivity], now: datetime, period: timedelta) -> PurgePlan:
    """Plan the purge of people with no activity for at least ``period`` before ``now``.

    A person still shown in a live publication is kept and listed in ``kept_live`` so the
    owner can take the post down first; erasing them would leave the post with no record of
    who is in it.
    """
    require_aware(now, "now")
    if period <= timedelta(0):
        raise ValueError(f"a retention period must be longer than zero, got {period}")
    ids = [p.person_id for p in people]
    if len(set(ids)) != len(ids):
        raise ValueError("each person may appear only once in a purge")
    cutoff = now - period
    inactive = [p for p in people if p.last_activity_at <= cutoff]
    erase = sorted(p.person_id for p in inactive if not p.shown_in_live_publication)
    kept = sorted(p.person_id for p in inactive if p.shown_in_live_publication)
    return PurgePlan(erase=tuple(erase), kept_live=tuple(kept))
