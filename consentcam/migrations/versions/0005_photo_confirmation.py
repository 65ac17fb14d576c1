"""A person confirms that everyone in a photo is marked; faces drawn by hand.

Revision ID: 0005_photo_confirmation
Revises: 0004_scan_claim
Create Date: 2026-11-28
"""

from __future__ import annotations

revision = "0005_photo_confirmation"
down_revision = "0004_scan_claim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
