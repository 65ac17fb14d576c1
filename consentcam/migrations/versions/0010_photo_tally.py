"""Photo counters kept on write: how many photos are in each review state and have each verdict.

`photo_tally` holds one row per counter (``review:<state>``, ``verdict:<channel>:<state>``),
kept in step by every write that moves a photo (services.photo_tally). Filled here from a count
of the photos and their verdict rows, every counter written (0 for none); a downgrade drops it.

Revision ID: 0010_photo_tally
Revises: 0009_one_vocabulary_photo_state
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_photo_tally"
down_revision = "0009_one_vocabulary_photo_state"
branch_labels = None
depends_on = None

#: The words of 0009's review states, channels and verdicts (every counter a recount writes).
REVIEW_STATES = ("scanning", "failed", "needs_review", "reviewed")
CHANNELS = ("instagram", "facebook", "website", "print")
VERDICTS = ("cleared", "blocked")


def upgrade() -> None:
    tally = op.create_table(
        "photo_tally",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("n", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_photo_tally")),
    )
    counts = dict.fromkeys(
        [f"review:{r}" for r in REVIEW_STATES]
        + [f"verdict:{c}:{v}" for c in CHANNELS for v in VERDICTS],
        0,
    )
    bind = op.get_bind()
    for state, n in bind.execute(
        sa.text("SELECT review_state, count(*) FROM photo GROUP BY review_state")
    ):
        counts[f"review:{state}"] = int(n)
    for channel, state, n in bind.execute(
        sa.text("SELECT channel, state, count(*) FROM photo_channel_state GROUP BY channel, state")
    ):
        counts[f"verdict:{channel}:{state}"] = int(n)
    op.bulk_insert(tally, [{"key": k, "n": n} for k, n in sorted(counts.items())])


def downgrade() -> None:
    op.drop_table("photo_tally")
