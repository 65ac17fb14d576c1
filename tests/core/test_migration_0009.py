"""Migration 0009 on a database with rows in it, on SQLite and PostgreSQL: channel texts become
rows and back, and every photo gets its review state, face counts and (after the worker's job)
its verdicts; a downgrade gives 0008's schema and texts back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from consentcam.db import alembic_config, current_revision, make_engine, make_sessionmaker, upgrade
from consentcam.domain.types import Channel, GateState, ReviewState
from consentcam.models import Photo, QueueItem, SupplierPermission
from consentcam.services import photo_state
from tests.web.photo_state_helpers import assert_in_step

BEFORE = "0008_customer_links"
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
NOW = datetime.now(UTC).replace(microsecond=0)


def _downgrade(engine: sa.Engine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _photo(n: int, scan_state: str, confirmed: bool) -> dict[str, Any]:
    return {
        "id": n,
        "sha256": f"{n:064x}",
        "original_key": f"originals/{n}.jpg",
        "original_name": f"IMG_{n}.jpg",
        "format": "JPEG",
        "size_bytes": 1000,
        "width": 800,
        "height": 600,
        "source": "upload",
        "uploaded_at": NOW - timedelta(days=n),
        "scan_state": scan_state,
        "scan_attempts": 1,
        "faces_confirmed_at": NOW if confirmed else None,
        "supplier_id": 1 if n == 5 else None,
    }


def _face(photo_id: int, number: int, state: str, **extra: Any) -> dict[str, Any]:
    row = {
        "photo_id": photo_id,
        "number": number,
        "left": 10 * number,
        "top": 10,
        "right": 10 * number + 8,
        "bottom": 18,
        "source": "detected",
        "state": state,
        "blur": False,
        "blurry": False,
        "person_id": None,
    }
    return row | extra


def _fill_0008(engine: sa.Engine) -> None:
    """Rows as a 0008 instance has them: channels as texts, photos in every review state."""
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(
            t["person"].insert(),
            [
                {
                    "id": 1,
                    "name": "Anna",
                    "is_minor": False,
                    "created_at": NOW,
                    "last_activity_at": NOW,
                }
            ],
        )
        conn.execute(
            t["consent_record"].insert(),
            [
                {
                    "id": 1,
                    "person_id": 1,
                    "scope": "all",
                    "given_at": NOW - timedelta(days=10),
                    "expires_at": NOW + timedelta(days=100),
                    "signer_name": "Anna",
                    "signed_by_guardian": False,
                    "biometric": False,
                    "created_at": NOW,
                }
            ],
        )
        conn.execute(t["consent_channel"].insert(), [{"consent_id": 1, "channel": "facebook"}])
        conn.execute(t["supplier"].insert(), [{"id": 1, "name": "Studio", "created_at": NOW}])
        conn.execute(
            t["supplier_permission"].insert(),
            [
                {
                    "id": 1,
                    "supplier_id": 1,
                    "channels": "facebook instagram",
                    "valid_from": NOW - timedelta(days=1),
                    "created_at": NOW,
                }
            ],
        )
    _fill_photos(engine, t)


def _fill_photos(engine: sa.Engine, t: Any) -> None:
    """Photos in every review state, their faces, and a queue item with its channels as text."""
    with engine.begin() as conn:
        conn.execute(
            t["photo"].insert(),
            [
                _photo(1, "pending", False),
                _photo(2, "failed", False),
                _photo(3, "done", False),
                _photo(4, "done", True),
                _photo(5, "done", True),
            ],
        )
        conn.execute(
            t["face"].insert(),
            [
                _face(3, 1, "suggested"),
                _face(4, 1, "confirmed", person_id=1),
                _face(4, 2, "pending", blur=True),
                _face(5, 1, "pending"),
            ],
        )
        conn.execute(
            t["queue_item"].insert(),
            [
                {
                    "id": 1,
                    "photo_id": 4,
                    "channels": "print instagram",
                    "caption": "",
                    "fit": "pad",
                    "status": "blocked",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            ],
        )


def _texts(engine: sa.Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return {
            "permission": conn.execute(
                sa.text("SELECT channels FROM supplier_permission")
            ).scalar(),
            "item": conn.execute(sa.text("SELECT channels FROM queue_item")).scalar(),
        }


def test_0009_converts_rows_both_ways(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, BEFORE)
    _fill_0008(engine)
    upgrade(engine)  # through 0009 to the newest schema, which the services below write
    assert current_revision(engine) == HEAD
    sessions = make_sessionmaker(engine)
    with sessions() as s:
        permission = s.get(SupplierPermission, 1)
        item = s.get(QueueItem, 1)
        assert permission is not None and item is not None
        assert permission.channel_list == [Channel.INSTAGRAM, Channel.FACEBOOK]
        assert item.channels == "instagram print"
        photos = {p.id: p for p in s.scalars(sa.select(Photo))}
        assert {
            i: (p.review_state, p.face_count, p.undecided_faces) for i, p in photos.items()
        } == {
            1: (ReviewState.SCANNING, 0, 0),
            2: (ReviewState.FAILED, 0, 0),
            3: (ReviewState.NEEDS_REVIEW, 1, 1),
            4: (ReviewState.REVIEWED, 2, 0),  # the blurred face needs no decision
            5: (ReviewState.NEEDS_REVIEW, 1, 1),
        }
        # The confirmed photos' verdicts are due at once; the worker's job works them out.
        due = [p.id for p in photo_state.due_photos(s)]
        assert due == [4, 5]
        photo_state.refresh(s, due)
        s.commit()
    # A stand-in for a Runtime: the helper only opens sessions.
    states = assert_in_step(cast(Any, SimpleNamespace(sessions=sessions)))
    assert states[4]["channels"][Channel.FACEBOOK] is GateState.CLEARED
    assert states[4]["channels"][Channel.INSTAGRAM] is GateState.BLOCKED
    # Photo 5's supplier covers its open face on Instagram and Facebook.
    assert states[5]["channels"] == {
        Channel.INSTAGRAM: GateState.CLEARED,
        Channel.FACEBOOK: GateState.CLEARED,
    }
    _downgrade(engine, BEFORE)
    assert current_revision(engine) == BEFORE
    assert _texts(engine) == {"permission": "instagram facebook", "item": "instagram print"}
    inspector = sa.inspect(engine)
    assert "photo_channel_state" not in inspector.get_table_names()
    assert "queue_item_channel" not in inspector.get_table_names()
    assert "review_state" not in {c["name"] for c in inspector.get_columns("photo")}
    # And up again, as an instance upgraded twice would be.
    upgrade(engine)
    with sessions() as s:
        item = s.get(QueueItem, 1)
        assert item is not None
        assert item.channel_list == [Channel.INSTAGRAM, Channel.PRINT]
    engine.dispose()
