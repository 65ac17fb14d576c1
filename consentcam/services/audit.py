"""Quarterly audit: build, store, sign off and look up audit runs."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import Quarter
from consentcam.models import AuditRun


def quarter_signed(session: so.Session, quarter: Quarter | str) -> bool:
    """Tell whether the quarter has at least one signed-off audit run."""
    code = str(quarter if isinstance(quarter, Quarter) else Quarter.parse(quarter))
    found = session.scalar(
        sa.select(AuditRun.id)
        .where(AuditRun.quarter == code, AuditRun.signed_at.is_not(None))
        .limit(1)
    )
    return found is not None
