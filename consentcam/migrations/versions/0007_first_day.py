"""Settings and stored reasons for the first day.

Revision ID: 0007_first_day
Revises: 0006_security_round_two
Create Date: 2026-11-28
"""

from __future__ import annotations

revision = "0007_first_day"
down_revision = "0006_security_round_two"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
