"""Database engines and sessions: SQLite in WAL mode with foreign keys, or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
import sqlalchemy.orm as so

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"

#: The database session type, for code that only names it (the web layer imports no SQLAlchemy).
Session = so.Session


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """Create an engine; SQLite gets WAL, foreign keys, durable commits and a busy timeout."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("timeout", 30)
        kwargs["connect_args"].setdefault("check_same_thread", False)
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's BEGIN reach SQLite so that the pragmas apply outside a transaction.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # FULL: a consent or withdrawal that was acknowledged survives a power cut.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            # Deleted and overwritten rows are zeroed in the file, not left in free pages.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()
            # SQLite's own lower() folds only A-Z; name searches must also find "Åsa" from "åsa".
            dbapi_conn.create_function("lower", 1, _lower, deterministic=True)

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            # IMMEDIATE takes the write lock up front, so concurrent writers wait instead of
            # failing; read-only work (page views) asks for DEFERRED and never waits for writers.
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def rowcount(result: sa.Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (its result is a CursorResult)."""
    return int(cast("sa.CursorResult[Any]", result).rowcount or 0)


def first_and_total(
    session: so.Session, query: sa.Select[Any], limit: int
) -> tuple[int, list[Any]]:
    """How many rows ``query`` has, and its first ``limit``. They are counted only when they
    fill the limit: a short list (the usual case) is its own count."""
    rows = list(session.scalars(query.limit(limit)))
    if len(rows) < limit:
        return len(rows), rows
    counted = sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    return int(session.scalar(counted) or 0), rows


def make_sessionmaker(engine: sa.Engine) -> so.sessionmaker[so.Session]:
    return so.sessionmaker(bind=engine, expire_on_commit=False)


def checkpoint(engine: sa.Engine) -> None:
    """Write SQLite's WAL back into the database file and empty it (nothing on other back ends).

    After an erasure the old name, e-mail and phone are otherwise still in the WAL's page images.
    """
    if engine.dialect.name != "sqlite":
        return
    # On the driver's connection, outside any transaction (SQLAlchemy would BEGIN first, and a
    # checkpoint inside a transaction does nothing).
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.fetchall()
        cursor.close()
    finally:
        raw.close()


@sa.event.listens_for(so.Session, "after_commit")
def _checkpoint_after_commit(session: so.Session) -> None:
    # Set by a service (an erasure) that must not leave old values in the WAL.
    if session.info.pop("checkpoint_after_commit", False):
        bind = session.get_bind()
        engine = bind if isinstance(bind, sa.Engine) else bind.engine
        try:
            checkpoint(engine)
        except sa.exc.OperationalError:  # pragma: no cover - busy: the next checkpoint does it
            pass


# Alembic loads only where the schema is migrated or read (init, serve, migrate), not with every
# worker and command.
def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Migrate the database to the given revision (head by default)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
