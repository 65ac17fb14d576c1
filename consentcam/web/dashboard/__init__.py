"""The owner's start page: what needs attention today."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import login_required

from consentcam.models import Photo
from consentcam.web import db

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@login_required
def index() -> Any:
    session = db()
    counts = dict(
        session.execute(sa.select(Photo.scan_state, sa.func.count()).group_by(Photo.scan_state))
        
        .all()
    )
    return render_template("dashboard/index.html", counts=counts)
