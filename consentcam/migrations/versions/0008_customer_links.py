"""Consent links, personal links, e-mail codes and outgoing mail.

Revision ID: 0008_customer_links
Revises: 0007_first_day
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentcam.models

revision = "0008_customer_links"
down_revision = "0007_first_day"
branch_labels = None
depends_on = None


def _utc() -> consentcam.models.UTCDateTime:
    return consentcam.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("consent_record") as batch:
        batch.add_column(sa.Column("signed_via", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("user_agent", sa.String(length=300), nullable=True))

    op.create_table(
        "consent_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("sent_to", sa.String(length=254), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("used_at", _utc(), nullable=True),
        sa.Column("consent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_consent_link_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_consent_link_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["consent_record.id"],
            name=op.f("fk_consent_link_consent_id_consent_record"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_consent_link_token_hash")),
    )
    op.create_index(op.f("ix_consent_link_person_id"), "consent_link", ["person_id"])

    op.create_table(
        "personal_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.Column("last_used_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_personal_link_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_personal_link_token_hash")),
    )
    op.create_index(op.f("ix_personal_link_person_id"), "personal_link", ["person_id"])

    op.create_table(
        "email_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("personal_link_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["personal_link_id"],
            ["personal_link.id"],
            name=op.f("fk_email_code_personal_link_id_personal_link"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_code")),
    )
    op.create_index(op.f("ix_email_code_personal_link_id"), "email_code", ["personal_link_id"])

    op.create_table(
        "outgoing_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body_enc", sa.LargeBinary(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_outgoing_mail_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_mail")),
    )
    op.create_index(op.f("ix_outgoing_mail_state"), "outgoing_mail", ["state"])

    op.create_table(
        "customer_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_customer_request_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"],
            ["user.id"],
            name=op.f("fk_customer_request_closed_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_request")),
    )
    op.create_index(op.f("ix_customer_request_person_id"), "customer_request", ["person_id"])
    op.create_index(op.f("ix_customer_request_status"), "customer_request", ["status"])


def downgrade() -> None:
    op.drop_table("customer_request")
    op.drop_table("outgoing_mail")
    op.drop_table("email_code")
    op.drop_table("personal_link")
    op.drop_table("consent_link")
    with op.batch_alter_table("consent_record") as batch:
        batch.drop_column("user_agent")
        batch.drop_column("signed_via")
