"""Server-side sign-in sessions, revocable remember-me tokens, per-person keys for event data.

Also the owner's "may publish" grant to staff, and expiry and scope of API tokens.

Revision ID: 0006_security_round_two
Revises: 0005_photo_confirmation
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentcam.models

revision = "0006_security_round_two"
down_revision = "0005_photo_confirmation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = consentcam.models.UTCDateTime(timezone=True)
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("last_seen_at", when, nullable=False),
        sa.Column("expires_at", when, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_user_session_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_session_token_hash")),
    )
    op.create_index(op.f("ix_user_session_user_id"), "user_session", ["user_id"])
    op.create_index(op.f("ix_user_session_expires_at"), "user_session", ["expires_at"])
    op.create_table(
        "person_key",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_person_key_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_key")),
    )
    with op.batch_alter_table("user") as batch:
        batch.add_column(
            sa.Column("may_publish", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("public_link") as batch:
        batch.add_column(sa.Column("cleared_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("photo_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_public_link_photo_id"), ["photo_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_public_link_photo_id_photo"),
            "photo",
            ["photo_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("expires_at", when, nullable=True))
        batch.add_column(
            sa.Column("scope", sa.String(length=10), nullable=False, server_default="write")
        )


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("scope")
        batch.drop_column("expires_at")
    with op.batch_alter_table("user") as batch:
        batch.drop_column("may_publish")
    with op.batch_alter_table("public_link") as batch:
        batch.drop_constraint(batch.f("fk_public_link_photo_id_photo"), type_="foreignkey")
        batch.drop_index(batch.f("ix_public_link_photo_id"))
        batch.drop_column("photo_id")
        batch.drop_column("cleared_sha256")
    op.drop_table("person_key")
    op.drop_index(op.f("ix_user_session_expires_at"), table_name="user_session")
    op.drop_index(op.f("ix_user_session_user_id"), table_name="user_session")
    op.drop_table("user_session")
