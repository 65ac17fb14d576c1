"""Suppliers and their written permissions: list, add, record and revoke permissions, mark photos."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from consentcam.domain.types import Channel
from consentcam.models import Supplier, SupplierPermission
from consentcam.security import parse_id, safe_next
from consentcam.services import listings
from consentcam.services import suppliers as suppliers_service
from consentcam.services.people import EvidenceTampered
from consentcam.services.suppliers import SupplierError
from consentcam.web import db, runtime, transaction
from consentcam.web.auth import owner_required
from consentcam.web.lookups import or_404
from consentcam.web.people import EVIDENCE_EXT
from consentcam.web.translate import gettext as _
from consentcam.web.words import channel_names as channel_labels
from consentcam.web.words import error_text

bp = Blueprint("suppliers", __name__, url_prefix="/suppliers")
log = logging.getLogger(__name__)
CHANNELS = tuple(c.value for c in Channel)


def _user() -> Any:
    return current_user._get_current_object()


class SupplierForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    contact = StringField("Contact", validators=[Optional(), Length(max=300)])


class PermissionForm(FlaskForm):
    valid_from = DateField("Valid from", validators=[DataRequired()])
    valid_until = DateField("Valid until", validators=[Optional()])
    document = FileField("Signed permission document")
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])


def _start(day: Any) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def _supplier(supplier_id: int) -> Supplier:
    return or_404(listings.supplier(db(), supplier_id))


@bp.route("/")
@login_required
def index() -> Any:
    listing = suppliers_service.supplier_list(db(), datetime.now(UTC))
    return render_template(
        "suppliers/index.html",
        suppliers=listing.suppliers,
        photo_counts=listing.photo_counts,
        active=listing.active,
        channel_labels=channel_labels(),
    )


@bp.route("/new", methods=["GET", "POST"])
@owner_required
def new() -> Any:
    form = SupplierForm()
    if form.validate_on_submit():
        try:
            with transaction() as session:
                supplier = suppliers_service.add_supplier(
                    session, form.name.data or "", contact=form.contact.data, actor=_user()
                )
        except SupplierError as exc:
            flash(error_text(exc), "error")
        else:
            flash(_("%(name)s was added.", name=supplier.name), "info")
            return redirect(url_for("suppliers.detail", supplier_id=supplier.id))
    return render_template("suppliers/new.html", form=form)


@bp.route("/<int:supplier_id>")
@login_required
def detail(supplier_id: int) -> Any:
    supplier = _supplier(supplier_id)
    photos = suppliers_service.photo_count(db(), supplier)
    return render_template(
        "suppliers/detail.html",
        supplier=supplier,
        permissions=list(reversed(supplier.permissions)),
        state=suppliers_service.permission_state,
        photos=photos,
        channel_labels=channel_labels(),
        now=datetime.now(UTC),
        day=timedelta(days=1),
    )


def _day_start(day: Any) -> datetime | None:
    return _start(day) if day else None


def _record_permission(
    supplier: Supplier, form: PermissionForm, channels: list[str]
) -> SupplierPermission | str:
    """Record the permission the form gives; returns it, or the refusal's words."""
    upload = form.document.data
    data = upload.read() if upload else b""
    if upload:
        upload.close()
    until = _day_start(form.valid_until.data)
    try:
        with transaction() as session:
            return suppliers_service.add_permission(
                session,
                runtime(),
                supplier,
                channels=channels,
                valid_from=_start(form.valid_from.data),
                # "Valid until 31 December" covers that whole day.
                valid_until=until + timedelta(days=1) if until else None,
                document=data or None,
                document_mime=suppliers_service.document_type(data),
                note=form.note.data,
                actor=_user(),
            )
    except SupplierError as exc:
        return error_text(exc)


@bp.route("/<int:supplier_id>/permissions/new", methods=["GET", "POST"])
@owner_required
def permission_new(supplier_id: int) -> Any:
    supplier = _supplier(supplier_id)
    form = PermissionForm()
    channels = [c for c in request.form.getlist("channels") if c in CHANNELS]
    error = None
    if request.method == "POST" and form.validate():
        result = _record_permission(supplier, form, channels)
        if isinstance(result, str):
            error = result
        else:
            flash(_("The permission is recorded."), "info")
            return redirect(
                url_for("suppliers.detail", supplier_id=supplier.id) + f"#permission-{result.id}"
            )
    elif request.method == "POST":
        error = _("Please correct the marked fields.")
    elif form.valid_from.data is None:
        form.valid_from.data = datetime.now(UTC).date()
    return (
        render_template(
            "suppliers/permission.html",
            supplier=supplier,
            form=form,
            channels=CHANNELS,
            chosen=channels,
            error=error,
            channel_labels=channel_labels(),
        ),
        422 if error else 200,
    )


def _permission(permission_id: int) -> SupplierPermission:
    return or_404(listings.supplier_permission(db(), permission_id))


@bp.route("/permissions/<int:permission_id>/revoke", methods=["POST"])
@owner_required
def revoke(permission_id: int) -> Any:
    permission = _permission(permission_id)
    with transaction() as session:
        revoked = suppliers_service.revoke_permission(session, permission, actor=_user())
    if revoked:
        flash(_("The permission is revoked."), "info")
    return redirect(url_for("suppliers.detail", supplier_id=permission.supplier_id))


@bp.route("/permissions/<int:permission_id>/document")
@owner_required
def document(permission_id: int) -> Any:
    permission = _permission(permission_id)
    if not permission.document_key:
        abort(404)
    try:
        data = suppliers_service.read_document(runtime(), permission)
    except (EvidenceTampered, FileNotFoundError) as exc:
        log.error("supplier document refused: %s", exc)
        return render_template("suppliers/document_error.html", permission=permission), 500
    mime = permission.document_mime or "application/octet-stream"
    name = f"supplier-permission-{permission.id}.{EVIDENCE_EXT.get(mime, 'bin')}"
    return Response(
        data,
        mimetype=mime,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.route("/assign-photo", methods=["POST"])
@owner_required
def assign_photo() -> Any:
    """Mark a photo as provided by a supplier (empty supplier_id: by nobody)."""
    pid = parse_id(request.form.get("photo_id", ""))
    photo = or_404(listings.photo(db(), pid) if pid else None)
    raw = request.form.get("supplier_id", "").strip()
    supplier_id = parse_id(raw)
    if raw and supplier_id is None:
        abort(400)
    try:
        with transaction() as session:
            changed = suppliers_service.set_photo_supplier(session, photo, supplier_id, _user())
    except SupplierError as exc:
        flash(error_text(exc), "error")
    else:
        if changed:
            flash(_("The photo's supplier is saved."), "info")
    fallback = (
        url_for("photos.detail", photo_id=photo.id)
        if "photos.detail" in current_app.view_functions
        else url_for("suppliers.index")
    )
    return redirect(safe_next(request.form.get("next"), fallback))
