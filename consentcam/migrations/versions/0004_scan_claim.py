"""Who claimed a photo's scan, and when.

Revision ID: 0004_scan_claim
Revises: 0003_people
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentcam.models

revision = "0004_scan_claim"
down_revision = "0003_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("photo") as batch:
        batch.add_column(
            sa.Column(
                "scan_claimed_at", consentcam.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("scan_claimed_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("photo") as batch:
        batch.drop_column("scan_claimed_by")
        batch.drop_column("scan_claimed_at")
