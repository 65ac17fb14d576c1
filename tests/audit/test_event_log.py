"""The event log catches changed, removed and reordered events, at the right place."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.runtime import Runtime
from consentcam.services import audit as audits
from consentcam.services import events


@pytest.fixture
def logged(session: so.Session, runtime: Runtime) -> so.Session:
    for n in range(1, 7):
        events.record(session, "test.step", f"thing:{n}", {"n": n, "who": "person:3"})
    session.commit()
    return session


def _raw(session: so.Session, sql: str, **params: object) -> None:
    session.execute(sa.text(sql), params)
    session.commit()


def test_intact(logged: so.Session, runtime: Runtime) -> None:
    check = audits.verify_log(logged, runtime)
    assert check.problem is None and check.count == 6
    head = audits.read_event_head(runtime)
    assert head is not None
    assert head[0] == 6


def test_changed_payload(logged: so.Session, runtime: Runtime) -> None:
    _raw(logged, "UPDATE event SET payload = :p WHERE seq = 3", p='{"n":33,"who":"person:3"}')
    check = audits.verify_log(logged, runtime)
    assert check.problem is not None
    assert check.problem.seq == 3 and check.problem.kind == "changed"


def test_deleted_middle_row(logged: so.Session, runtime: Runtime) -> None:
    _raw(logged, "DELETE FROM event WHERE seq = 4")
    check = audits.verify_log(logged, runtime)
    assert check.problem is not None
    assert check.problem.seq == 4 and check.problem.kind == "removed"


def test_swapped_rows(logged: so.Session, runtime: Runtime) -> None:
    # Swap the seq numbers of events 2 and 5: each row now sits in the other's place.
    for seq in (2, 5):
        _raw(logged, "UPDATE event SET seq = :tmp WHERE seq = :s", tmp=-seq, s=seq)
    _raw(logged, "UPDATE event SET seq = 5 WHERE seq = -2")
    _raw(logged, "UPDATE event SET seq = 2 WHERE seq = -5")
    check = audits.verify_log(logged, runtime, checkpoint=False)
    assert check.problem is not None and check.problem.seq == 2
    assert check.problem.kind in ("changed", "reordered")


def test_swapped_seq_numbers_only_is_reordered(logged: so.Session, runtime: Runtime) -> None:
    # Keep each row's hash but store them out of order: seq and hash move together.
    cols = "kind, subject, actor, payload, prev_hash, hash, at"
    r2 = logged.execute(sa.text(f"SELECT {cols} FROM event WHERE seq = 2")).one()
    r3 = logged.execute(sa.text(f"SELECT {cols} FROM event WHERE seq = 3")).one()
    for seq, r in ((2, r3), (3, r2)):
        _raw(
            logged,
            "UPDATE event SET kind=:k, subject=:s, actor=:a, payload=:p, prev_hash=:ph, "
            "hash=:h, at=:at WHERE seq=:seq",
            k=r.kind,
            s=r.subject,
            a=r.actor,
            p=r.payload,
            ph=r.prev_hash,
            h=r.hash + ("x" if seq == 2 else ""),
            at=r.at,
            seq=seq,
        )
    check = audits.verify_log(logged, runtime, checkpoint=False)
    assert check.problem is not None and check.problem.seq == 2


def test_removed_last_events_caught_by_the_kept_head(logged: so.Session, runtime: Runtime) -> None:
    assert audits.verify_log(logged, runtime).problem is None  # writes the head file (seq 6)
    _raw(logged, "DELETE FROM event WHERE seq >= 5")
    check = audits.verify_log(logged, runtime)
    assert check.problem is not None and check.problem.kind == "removed"
    assert check.head_source is not None
    assert check.problem.seq == 5 and "head" in check.head_source


def test_removed_last_events_caught_by_a_signed_audit(logged: so.Session, runtime: Runtime) -> None:
    from consentcam.services import users

    owner = users.create_user(logged, "o@example.com", "O", "owner-password-123", role="owner")
    run = audits.run_audit(logged, runtime, "2026Q4", user=owner)
    audits.sign(logged, runtime, run, owner, "O")
    logged.commit()
    head = audits.summary_of(run)["event_head_at_signing"]["seq"]
    audits.event_head_path(runtime).unlink(missing_ok=True)  # the file is lost too
    _raw(logged, "DELETE FROM event WHERE seq >= :s", s=head - 1)
    check = audits.verify_log(logged, runtime, checkpoint=False)
    assert check.problem is not None and check.head_source == f"signed audit {run.id}"
