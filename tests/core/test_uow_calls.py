"""The unit of work's calls around the end of a transaction: `after_commit` only after a
commit, `after_rollback` only when the transaction ends without one (rolled back or closed),
and a savepoint's end is neither."""

from __future__ import annotations

import pytest
import sqlalchemy.orm as so

from consentcam.runtime import Runtime
from consentcam.uow import after_commit, after_rollback


def _record(session: so.Session) -> list[str]:
    calls: list[str] = []
    after_commit(session, lambda: calls.append("committed"))
    after_rollback(session, lambda: calls.append("rolled back"))
    return calls


@pytest.mark.parametrize(
    ("end", "expected"),
    [("commit", ["committed"]), ("rollback", ["rolled back"]), ("close", ["rolled back"])],
)
def test_one_of_the_two_is_called_as_the_transaction_ends(
    runtime: Runtime, end: str, expected: list[str]
) -> None:
    session = runtime.sessions()
    session.connection()
    calls = _record(session)
    getattr(session, end)()
    assert calls == expected
    session.rollback()  # a later end of the same session calls nothing more
    session.close()
    assert calls == expected


def test_a_savepoint_ending_calls_neither(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        session.connection()
        calls = _record(session)
        with session.begin_nested():
            pass
        savepoint = session.begin_nested()
        savepoint.rollback()
        assert calls == []
        session.commit()
    assert calls == ["committed"]
