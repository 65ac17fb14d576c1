"""Tamper-evident event log: each event's SHA-256 covers its content and the previous hash."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from consentcam.domain.types import require_aware

GENESIS = "0" * 64
FIRST_SEQ = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")

ProblemKind = Literal["changed", "removed", "reordered"]


def _encode(value: object) -> Any:
    if isinstance(value, datetime):
        # One spelling per moment, whatever zone it was given in.
        return require_aware(value, "timestamp in payload").astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot put {type(value).__name__} into an event: {value!r}")


def canonical(payload: object) -> bytes:
    """Encode ``payload`` as canonical JSON: sorted keys, no whitespace, UTF-8.

    Datetimes become ISO-8601 in UTC (naive ones are refused), dates ISO-8601, sets sorted
    lists. NaN and infinities are refused, as JSON has no spelling for them.
    """
    _reject_non_finite(payload)
    text = json.dumps(
        payload,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_encode,
    )
    return text.encode("utf-8")


def _reject_non_finite(value: object) -> None:
    # json.dumps checks floats too, but only with an unhelpful message.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"an event cannot hold {value!r}")
    if isinstance(value, Mapping):
        for item in value.values():
            _reject_non_finite(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _reject_non_finite(item)


def event_hash(
    prev_hash: str, seq: int, kind: str, subject: str, payload: object, at: datetime
) -> str:
    """Compute the SHA-256 (hex) that seals one event and links it to the one before."""
    if not isinstance(prev_hash, str) or not _HEX64.fullmatch(prev_hash):
        raise ValueError(f"prev_hash must be 64 lowercase hex digits, got {prev_hash!r}")
    require_aware(at, "at")
    body = {
        "at": at,
        "kind": kind,
        "payload": payload,
        "prev_hash": prev_hash,
        "seq": seq,
        "subject": subject,
    }
    return hashlib.sha256(canonical(body)).hexdigest()


@dataclass(frozen=True)
class EventView:
    """One stored event of the log."""

    seq: int
    kind: str
    subject: str
    payload: Mapping[str, Any] = field(hash=False)
    at: datetime
    prev_hash: str
    hash: str


def next_event(
    previous: EventView | None,
    kind: str,
    subject: str,
    payload: Mapping[str, Any],
    at: datetime,
) -> EventView:
    """Build the event that follows ``previous`` (None for the first event of the log)."""
    prev_hash = previous.hash if previous is not None else GENESIS
    seq = previous.seq + 1 if previous is not None else FIRST_SEQ
    digest = event_hash(prev_hash, seq, kind, subject, payload, at)
    return EventView(seq, kind, subject, payload, at, prev_hash, digest)


@dataclass(frozen=True)
class ChainProblem:
    """The first place where the log is not as it was written.

    ``seq`` is the changed event's number, or the number where an event is missing or out of
    place.
    """

    seq: int
    kind: ProblemKind
    message: str


def verify_chain(
    events: Sequence[EventView], expected_head: str | None = None
) -> ChainProblem | None:
    """Check a whole log, given in stored order from its first event; None if it is intact.

    ``expected_head`` is a hash kept apart from the log (the head when it was last seen, e.g.
    in a signed audit). It must belong to an event in the log; if it does not, events at the
    end were removed or rewritten, which the links alone cannot show.
    """
    expected_seq = FIRST_SEQ
    prev_hash = GENESIS
    seen: set[str] = {GENESIS}
    all_seqs = [e.seq for e in events]
    for index, event in enumerate(events):
        problem = _sealed(event) or _placed(event, expected_seq, all_seqs, index)
        problem = problem or _linked(event, prev_hash, seen)
        if problem is not None:
            return problem
        prev_hash = event.hash
        seen.add(event.hash)
        expected_seq += 1
    if expected_head is not None and expected_head not in seen:
        return ChainProblem(
            expected_seq,
            "removed",
            f"The log ends at event {expected_seq - 1}, but the recorded head is not in it: "
            "events at the end were removed or rewritten.",
        )
    return None


def _sealed(event: EventView) -> ChainProblem | None:
    """The event's own hash still matches what it holds."""
    try:
        digest = event_hash(
            event.prev_hash, event.seq, event.kind, event.subject, event.payload, event.at
        )
    except (TypeError, ValueError) as exc:
        return ChainProblem(event.seq, "changed", f"Event {event.seq} cannot be read: {exc}")
    if digest != event.hash:
        return ChainProblem(
            event.seq,
            "changed",
            f"Event {event.seq} was changed after it was written: its hash does not match.",
        )
    return None


def _placed(
    event: EventView, expected_seq: int, all_seqs: Sequence[int], index: int
) -> ChainProblem | None:
    """The event, stored at ``index`` of the log whose numbers are ``all_seqs``, carries the
    number that comes next."""
    if event.seq == expected_seq:
        return None
    if event.seq > expected_seq and expected_seq not in all_seqs[index + 1 :]:
        missing = (
            f"Event {expected_seq} is missing"
            if event.seq == expected_seq + 1
            else f"Events {expected_seq} to {event.seq - 1} are missing"
        )
        return ChainProblem(expected_seq, "removed", f"{missing} from the log.")
    return ChainProblem(
        expected_seq,
        "reordered",
        f"Event {event.seq} is stored where event {expected_seq} should be.",
    )


def _linked(event: EventView, prev_hash: str, seen: set[str]) -> ChainProblem | None:
    """The event links to the one stored before it (``seen``: the hashes of all before it)."""
    if event.prev_hash == prev_hash:
        return None
    if event.prev_hash in seen:
        return ChainProblem(
            event.seq,
            "reordered",
            f"Event {event.seq} links to an earlier event than the one before it.",
        )
    return ChainProblem(
        event.seq,
        "removed",
        f"Event {event.seq} does not link to the event before it: an event was removed "
        "and the rest renumbered, or the event before it was rewritten.",
    )
