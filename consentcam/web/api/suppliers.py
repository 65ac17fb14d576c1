"""API: suppliers and their written permissions (record with a document, revoke)."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify

from consentcam.domain.vocabulary import EVIDENCE_EXTENSIONS, iso
from consentcam.models import Supplier, SupplierPermission
from consentcam.services import listings
from consentcam.services import suppliers as suppliers_service
from consentcam.services.suppliers import SupplierError
from consentcam.web import db, runtime, transaction
from consentcam.web.api import api_user, bp, found
from consentcam.web.api.fields import (
    CHANNELS,
    Closed,
    Shape,
    array,
    base64_bytes,
    channels,
    integer,
    moment,
    nested,
    text,
    when,
)


class SupplierSchema(Shape):
    id = integer(required=True)
    name = text(required=True)
    contact = text(required=True, nullable=True)
    created_at = moment(required=True)


class SupplierListSchema(Shape):
    suppliers = array(nested(SupplierSchema), required=True)


class SupplierNewSchema(Closed):
    name = text(required=True, min_length=1, max_length=200, pattern=r"\S")
    contact = text(max_length=300, nullable=True)


class SupplierPermissionSchema(Shape):
    id = integer(required=True)
    supplier_id = integer(required=True)
    state = text(required=True, choices=["active", "revoked", "lapsed", "not_yet_valid"])
    channels = array(text(choices=CHANNELS), required=True)
    valid_from = moment(required=True)
    valid_until = moment(required=True, nullable=True)
    revoked_at = moment(required=True, nullable=True)
    document_sha256 = text(required=True, nullable=True)
    document_mime = text(required=True, nullable=True)
    note = text(required=True, nullable=True)


class SupplierPermissionListSchema(Shape):
    permissions = array(nested(SupplierPermissionSchema), required=True)


class SupplierPermissionNewSchema(Closed):
    channels = channels(required=True, min_items=1, unique=True)
    valid_from = when(required=True, description="With a time zone")
    valid_until = when(nullable=True, description="After valid_from")
    document = base64_bytes(nullable=True, description="Base64 of the signed document")
    document_mime = text(nullable=True, choices=list(EVIDENCE_EXTENSIONS))
    note = text(max_length=2000, nullable=True)


def supplier_json(supplier: Supplier) -> dict[str, Any]:
    return {
        "id": supplier.id,
        "name": supplier.name,
        "contact": supplier.contact,
        "created_at": iso(supplier.created_at),
    }


def permission_json(p: SupplierPermission) -> dict[str, Any]:
    return {
        "id": p.id,
        "supplier_id": p.supplier_id,
        "state": suppliers_service.permission_state(p),
        "channels": p.channel_list,
        "valid_from": iso(p.valid_from),
        "valid_until": iso(p.valid_until),
        "revoked_at": iso(p.revoked_at),
        "document_sha256": p.document_sha256,
        "document_mime": p.document_mime,
        "note": p.note,
    }


def _supplier_or_404(supplier_id: int) -> Supplier:
    return found(listings.supplier(db(), supplier_id), f"no such supplier {supplier_id}")


@bp.endpoint("GET", "/suppliers", tag="suppliers", response=SupplierListSchema)
def list_suppliers() -> Any:
    """List suppliers"""
    return jsonify({"suppliers": [supplier_json(s) for s in listings.suppliers(db())]})


@bp.endpoint(
    "POST",
    "/suppliers",
    tag="suppliers",
    body=SupplierNewSchema,
    response=SupplierSchema,
    status=201,
)
def create_supplier(body: dict[str, Any]) -> Any:
    """Add a supplier"""
    try:
        with transaction() as session:
            supplier = suppliers_service.add_supplier(
                session, body["name"], contact=body.get("contact"), actor=api_user()
            )
    except SupplierError as exc:
        abort(409 if "already" in str(exc) else 422, description=str(exc))
    return jsonify(supplier_json(supplier)), 201


@bp.endpoint(
    "GET",
    "/suppliers/<int:supplier_id>/permissions",
    tag="suppliers",
    response=SupplierPermissionListSchema,
)
def list_permissions(supplier_id: int) -> Any:
    """A supplier's written permissions"""
    supplier = _supplier_or_404(supplier_id)
    return jsonify({"permissions": [permission_json(p) for p in supplier.permissions]})


@bp.endpoint(
    "POST",
    "/suppliers/<int:supplier_id>/permissions",
    tag="suppliers",
    body=SupplierPermissionNewSchema,
    response=SupplierPermissionSchema,
    status=201,
)
def create_permission(body: dict[str, Any], supplier_id: int) -> Any:
    """Record a written permission"""
    supplier = _supplier_or_404(supplier_id)
    document = body.get("document") or None
    if document is not None and not body.get("document_mime"):
        abort(422, description="document_mime is required with a document")
    try:
        with transaction() as session:
            permission = suppliers_service.add_permission(
                session,
                runtime(),
                supplier,
                channels=body["channels"],
                valid_from=body["valid_from"],
                valid_until=body.get("valid_until"),
                document=document,
                document_mime=body.get("document_mime") if document else None,
                note=body.get("note"),
                actor=api_user(),
            )
    except SupplierError as exc:
        abort(422, description=str(exc))
    return jsonify(permission_json(permission)), 201


@bp.endpoint(
    "POST",
    "/supplier-permissions/<int:permission_id>/revoke",
    tag="suppliers",
    response=SupplierPermissionSchema,
)
def revoke_permission(permission_id: int) -> Any:
    """Revoke a written permission now (idempotent)"""
    permission = found(
        listings.supplier_permission(db(), permission_id),
        f"no such supplier permission {permission_id}",
    )
    with transaction() as session:
        suppliers_service.revoke_permission(session, permission, actor=api_user())
    return jsonify(permission_json(permission))
