"""Migration 0010 on a database with photos in it, on SQLite and PostgreSQL: the photo counters
are filled from a count of the photos and their verdicts, the app's writes move them from
there, and a downgrade drops them (the photos stay as they were)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command

from consentcam.db import alembic_config, current_revision, make_engine, make_sessionmaker, upgrade
from consentcam.models import Photo
from consentcam.services import photo_list, photo_tally
from tests.web.photo_state_helpers import assert_tally_in_step, stored_tally

BEFORE = "0009_one_vocabulary_photo_state"
AFTER = "0010_photo_tally"
NOW = datetime.now(UTC).replace(microsecond=0)

#: Photo id: (review state, {channel: verdict}), as 0009 stores them.
PHOTOS: dict[int, tuple[str, dict[str, str]]] = {
    1: ("scanning", {}),
    2: ("failed", {}),
    3: ("needs_review", {}),
    4: ("needs_review", {"instagram": "cleared"}),  # a supplier's permission covers it
    5: ("reviewed", {"instagram": "cleared", "facebook": "blocked"}),
    6: ("reviewed", {"instagram": "cleared", "facebook": "cleared", "print": "blocked"}),
    7: ("reviewed", {"instagram": "blocked", "facebook": "blocked"}),
}


def _photo(n: int, review: str) -> dict[str, Any]:
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
        "scan_state": {"scanning": "pending", "failed": "failed"}.get(review, "done"),
        "scan_attempts": 1,
        "review_state": review,
        "face_count": 0,
        "undecided_faces": 0,
    }


def _fill_0009(engine: sa.Engine) -> None:
    meta = sa.MetaData()
    meta.reflect(engine)
    photo, verdicts = meta.tables["photo"], meta.tables["photo_channel_state"]
    with engine.begin() as conn:
        conn.execute(photo.insert(), [_photo(n, review) for n, (review, _) in PHOTOS.items()])
        conn.execute(
            verdicts.insert(),
            [
                {"photo_id": n, "channel": c, "state": v, "uploaded_at": NOW - timedelta(days=n)}
                for n, (_, channels) in PHOTOS.items()
                for c, v in channels.items()
            ],
        )


def _downgrade(engine: sa.Engine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_0010_fills_the_counters_from_the_rows_and_goes_back(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, BEFORE)
    _fill_0009(engine)
    upgrade(engine, AFTER)
    assert current_revision(engine) == AFTER
    sessions = make_sessionmaker(engine)
    expected = dict.fromkeys(photo_tally.KEYS, 0) | {
        "review:scanning": 1,
        "review:failed": 1,
        "review:needs_review": 2,
        "review:reviewed": 3,
        "verdict:instagram:cleared": 3,
        "verdict:instagram:blocked": 1,
        "verdict:facebook:cleared": 1,
        "verdict:facebook:blocked": 2,
        "verdict:print:blocked": 1,
    }
    with sessions() as s:
        assert stored_tally(s) == expected  # every counter has its row, 0 for none
        assert assert_tally_in_step(s) == expected
        assert photo_list.count_states(s, "facebook") == {
            "all": 7,
            "needs_review": 2,
            "cleared": 1,
            "blocked": 2,
            "scanning": 1,
            "failed": 1,
        }
        # A photo added through the app moves the counters on from the migration's count.
        row = _photo(8, "scanning")
        for column in ("review_state", "face_count", "undecided_faces"):
            del row[column]  # the model's defaults: waiting for its scan
        s.add(Photo(**row))
        s.commit()
        assert stored_tally(s)["review:scanning"] == 2
        assert_tally_in_step(s)

    _downgrade(engine, BEFORE)
    assert current_revision(engine) == BEFORE
    inspector = sa.inspect(engine)
    assert "photo_tally" not in inspector.get_table_names()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM photo")).scalar() == 8
    # And up again: counted afresh.
    upgrade(engine)
    with sessions() as s:
        assert assert_tally_in_step(s)["review:scanning"] == 2
    engine.dispose()
