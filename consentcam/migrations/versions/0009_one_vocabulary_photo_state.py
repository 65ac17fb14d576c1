"""Channels in child tables everywhere; where each photo stands, kept in columns.

A supplier's permission and a queue item named their channels in one space-separated text; they
get a row per channel, as a consent's channels always had (`consent_channel`). Existing texts
become rows, and a downgrade writes the rows back as text.

Each photo gets its review state, its number of faces and of faces still to decide, and the
time until which its stored gate verdicts hold; `photo_channel_state` holds those verdicts (cleared
or blocked, per channel). The review state and the counts are filled here from the faces. The
verdicts need the gate's rules: every scanned, confirmed photo starts with its verdicts due, so the
worker's periodic job works them out (and until it has, the pages ask the gate about those
photos themselves).

Revision ID: 0009_one_vocabulary_photo_state
Revises: 0008_customer_links
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import consentcam.models

revision = "0009_one_vocabulary_photo_state"
down_revision = "0008_customer_links"
branch_labels = None
depends_on = None

#: The channels in their own order (the order a space-separated text listed them in).
CHANNELS = ("instagram", "facebook", "website", "print")

#: Each table whose channels were a text, with its child table and the child's key column.
CHILDREN = (
    ("supplier_permission", "supplier_permission_channel", "permission_id"),
    ("queue_item", "queue_item_channel", "queue_item_id"),
)


def _utc() -> consentcam.models.UTCDateTime:
    return consentcam.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    for parent, child, key in CHILDREN:
        _create_child(parent, child, key)
        _text_to_rows(parent, child, key)
        _drop_text(parent)
    _add_photo_state()
    _fill_photo_state()


def downgrade() -> None:
    op.drop_table("photo_channel_state")
    op.drop_index("ix_photo_waiting", table_name="photo")
    op.drop_index("ix_photo_review_list", table_name="photo")
    op.drop_index("ix_photo_list", table_name="photo")
    op.drop_index(op.f("ix_photo_gate_due_at"), table_name="photo")
    op.create_index(op.f("ix_photo_uploaded_at"), "photo", ["uploaded_at"])
    for column in ("gate_due_at", "undecided_faces", "face_count", "review_state"):
        _drop_column("photo", column)
    for parent, child, key in CHILDREN:
        _add_text(parent)
        _rows_to_text(parent, child, key)
        op.drop_table(child)


# ---- channels


def _create_child(parent: str, child: str, key: str) -> None:
    op.create_table(
        child,
        sa.Column(key, sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            [key], [f"{parent}.id"], name=op.f(f"fk_{child}_{key}_{parent}"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(key, "channel", name=op.f(f"pk_{child}")),
    )


def _text_to_rows(parent: str, child: str, key: str) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT id, channels FROM {parent}")).all()
    out: list[dict[str, object]] = []
    for row_id, text in rows:
        named = {part.strip().lower() for part in (text or "").replace(",", " ").split()}
        out.extend({key: row_id, "channel": c} for c in CHANNELS if c in named)
    if out:
        table = sa.table(child, sa.column(key, sa.Integer), sa.column("channel", sa.String))
        conn.execute(sa.insert(table), out)


def _rows_to_text(parent: str, child: str, key: str) -> None:
    conn = op.get_bind()
    named: dict[int, set[str]] = defaultdict(set)
    for row_id, channel in conn.execute(sa.text(f"SELECT {key}, channel FROM {child}")):
        named[row_id].add(channel)
    table = sa.table(parent, sa.column("id", sa.Integer), sa.column("channels", sa.String))
    for row_id, channels in named.items():
        text = " ".join(c for c in CHANNELS if c in channels)
        conn.execute(sa.update(table).where(table.c.id == row_id).values(channels=text))


def _drop_text(parent: str) -> None:
    _drop_column(parent, "channels")


def _add_text(parent: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a NOT NULL column only with a default; rebuilding the table instead would
        # delete its rows first while foreign keys are enforced.
        op.add_column(
            parent,
            sa.Column("channels", sa.String(length=100), nullable=False, server_default=""),
        )
        return
    op.add_column(parent, sa.Column("channels", sa.String(length=100), nullable=True))
    op.execute(f"UPDATE {parent} SET channels = '' WHERE channels IS NULL")
    op.alter_column(parent, "channels", existing_type=sa.String(length=100), nullable=False)


def _drop_column(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's own DROP COLUMN (3.35+): a batch rebuild would drop the old table, and with
        # foreign keys enforced that deletes (or refuses) the rows that point to it.
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        return
    op.drop_column(table, column)


# ---- where each photo stands


def _add_photo_state() -> None:
    op.add_column(
        "photo",
        sa.Column("review_state", sa.String(length=20), nullable=False, server_default="scanning"),
    )
    op.add_column(
        "photo", sa.Column("face_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "photo", sa.Column("undecided_faces", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("photo", sa.Column("gate_due_at", _utc(), nullable=True))
    op.drop_index(op.f("ix_photo_uploaded_at"), table_name="photo")
    op.create_index(op.f("ix_photo_gate_due_at"), "photo", ["gate_due_at"])
    op.create_index("ix_photo_list", "photo", ["uploaded_at", "id"])
    op.create_index("ix_photo_review_list", "photo", ["review_state", "uploaded_at", "id"])
    op.create_index(
        "ix_photo_waiting", "photo", ["review_state", "faces_confirmed_at", "uploaded_at", "id"]
    )
    op.create_table(
        "photo_channel_state",
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("uploaded_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photo.id"],
            name=op.f("fk_photo_channel_state_photo_id_photo"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("photo_id", "channel", name=op.f("pk_photo_channel_state")),
    )
    op.create_index(
        "ix_photo_channel_state_list",
        "photo_channel_state",
        ["channel", "state", "uploaded_at", "photo_id"],
    )


def _fill_photo_state() -> None:
    """Counts and review state from the faces; the gate's verdicts due at once."""
    op.execute(
        "UPDATE photo SET face_count = (SELECT count(*) FROM face WHERE face.photo_id = photo.id)"
    )
    # A blurred face needs no decision (the list has always counted it so).
    op.execute(
        "UPDATE photo SET undecided_faces = (SELECT count(*) FROM face WHERE "
        "face.photo_id = photo.id AND face.blur = false "
        "AND face.state IN ('pending', 'suggested'))"
    )
    op.execute(
        "UPDATE photo SET review_state = CASE "
        "WHEN scan_state = 'failed' THEN 'failed' "
        "WHEN scan_state <> 'done' THEN 'scanning' "
        "WHEN faces_confirmed_at IS NULL OR undecided_faces > 0 THEN 'needs_review' "
        "ELSE 'reviewed' END"
    )
    photo = sa.table(
        "photo",
        sa.column("scan_state", sa.String),
        sa.column("faces_confirmed_at", _utc()),
        sa.column("gate_due_at", _utc()),
    )
    op.get_bind().execute(
        sa.update(photo)
        .where(photo.c.scan_state == "done", photo.c.faces_confirmed_at.is_not(None))
        .values(gate_due_at=datetime.now(UTC))
    )
