"""A person confirms that everyone in a photo is marked; faces drawn by hand.

Existing photos start unconfirmed (the safe default): nothing is cleared until someone has
looked at each photo again. Existing faces were all found by the scanner.

Revision ID: 0005_photo_confirmation
Revises: 0004_scan_claim
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentcam.models

revision = "0005_photo_confirmation"
down_revision = "0004_scan_claim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("photo") as batch:
        batch.add_column(
            sa.Column(
                "faces_confirmed_at", consentcam.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("faces_confirmed_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("faces_confirmed_by", sa.String(length=254), nullable=True))
        batch.create_foreign_key(
            "fk_photo_faces_confirmed_by_id_user",
            "user",
            ["faces_confirmed_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("face") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=10), nullable=False, server_default="detected")
        )
    with op.batch_alter_table("publication") as batch:
        batch.add_column(
            sa.Column(
                "faces_confirmed_at", consentcam.models.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("publication") as batch:
        batch.drop_column("faces_confirmed_at")
    with op.batch_alter_table("face") as batch:
        batch.drop_column("source")
    with op.batch_alter_table("photo") as batch:
        batch.drop_constraint("fk_photo_faces_confirmed_by_id_user", type_="foreignkey")
        batch.drop_column("faces_confirmed_by")
        batch.drop_column("faces_confirmed_by_id")
        batch.drop_column("faces_confirmed_at")
