"""reference uploads waiting for enrolment

Revision ID: 0003_people
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentcam.models

revision = "0003_people"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=300), nullable=False),
        sa.Column("source_key", sa.String(length=300), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("reference_face_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", consentcam.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", consentcam.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_reference_upload_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reference_face_id"],
            ["reference_face.id"],
            name=op.f("fk_reference_upload_reference_face_id_reference_face"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_reference_upload_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_upload")),
    )
    with op.batch_alter_table("reference_upload", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reference_upload_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reference_upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reference_upload_person_id"))
    op.drop_table("reference_upload")
