"""Consent links, personal links, e-mail codes and outgoing mail.

Revision ID: 0008_customer_links
Revises: 0007_first_day
Create Date: 2026-11-28
"""

from __future__ import annotations

revision = "0008_customer_links"
down_revision = "0007_first_day"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
