"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from consentcam.db import current_revision, make_engine, make_sessionmaker, upgrade
from consentcam.models import Base, Person


def test_migrated_schema_equals_models(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    assert current_revision(engine) is not None
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert set(Base.metadata.tables) <= tables
    engine.dispose()


def test_migration_is_repeatable(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    first = current_revision(engine)
    upgrade(engine)
    assert current_revision(engine) == first
    engine.dispose()


def test_timestamps_come_back_as_utc(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    stockholm = timezone(timedelta(hours=1))
    with sessions() as s:
        p = Person(name="Anna", last_activity_at=datetime(2026, 11, 3, 10, 0, tzinfo=stockholm))
        s.add(p)
        s.commit()
        pid = p.id
    with sessions() as s:
        got = s.get(Person, pid)
        assert got is not None
        assert got.last_activity_at == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
        assert got.last_activity_at.tzinfo is not None
        got.last_activity_at = datetime(2026, 1, 1)  # naive: refused
        with pytest.raises(sa.exc.StatementError):
            s.commit()
    engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO consent_channel (consent_id, channel) VALUES (424242, 'instagram')"
            )
        )
    engine.dispose()
