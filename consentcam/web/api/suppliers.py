"""API: suppliers and their written permissions (record with a document, revoke)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import sqlalchemy as sa
from flask import abort, jsonify

from consentcam.domain.vocabulary import iso
from consentcam.models import Supplier, SupplierPermission
from consentcam.services import suppliers as suppliers_service
from consentcam.services.suppliers import SupplierError
from consentcam.web import db, runtime
from consentcam.web.api import api_user, bp, documented, json_body, require_owner, schema
from consentcam.web.api.people import (
    CHANNELS,
    DATE_TIME,
    NULLABLE_STRING,
    check_fields,
    get_or_404,
    parse_datetime,
)

SUPPLIER = schema(
    "Supplier",
    {
        "type": "object",
        "required": ["id", "name", "contact", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "contact": NULLABLE_STRING,
            "created_at": DATE_TIME,
        },
    },
)
SUPPLIER_LIST = schema(
    "SupplierList",
    {
        "type": "object",
        "required": ["suppliers"],
        "properties": {"suppliers": {"type": "array", "items": SUPPLIER}},
    },
)
SUPPLIER_NEW_DEF: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
        "contact": {"type": "string", "maxLength": 300, "nullable": True},
    },
    "additionalProperties": False,
}
SUPPLIER_NEW = schema("SupplierNew", SUPPLIER_NEW_DEF)
PERMISSION = schema(
    "SupplierPermission",
    {
        "type": "object",
        "required": [
            "id",
            "supplier_id",
            "state",
            "channels",
            "valid_from",
            "valid_until",
            "revoked_at",
            "document_sha256",
            "document_mime",
            "note",
        ],
        "properties": {
            "id": {"type": "integer"},
            "supplier_id": {"type": "integer"},
            "state": {"type": "string", "enum": ["active", "revoked", "lapsed", "not_yet_valid"]},
            "channels": {"type": "array", "items": {"type": "string", "enum": CHANNELS}},
            "valid_from": DATE_TIME,
            "valid_until": {**DATE_TIME, "nullable": True},
            "revoked_at": {**DATE_TIME, "nullable": True},
            "document_sha256": NULLABLE_STRING,
            "document_mime": NULLABLE_STRING,
            "note": NULLABLE_STRING,
        },
    },
)
PERMISSION_LIST = schema(
    "SupplierPermissionList",
    {
        "type": "object",
        "required": ["permissions"],
        "properties": {"permissions": {"type": "array", "items": PERMISSION}},
    },
)
PERMISSION_NEW_DEF: dict[str, Any] = {
    "type": "object",
    "required": ["channels", "valid_from"],
    "properties": {
        "channels": {
            "type": "array",
            "items": {"type": "string", "enum": CHANNELS},
            "minItems": 1,
            "uniqueItems": True,
        },
        "valid_from": {**DATE_TIME, "description": "With a time zone"},
        "valid_until": {**DATE_TIME, "nullable": True, "description": "After valid_from"},
        "document": {
            "type": "string",
            "format": "byte",
            "nullable": True,
            "description": "Base64 of the signed document",
        },
        "document_mime": {
            "type": "string",
            "enum": ["image/png", "image/jpeg", "application/pdf"],
            "nullable": True,
        },
        "note": {"type": "string", "maxLength": 2000, "nullable": True},
    },
    "additionalProperties": False,
}
PERMISSION_NEW = schema("SupplierPermissionNew", PERMISSION_NEW_DEF)


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


@bp.get("/suppliers")
@documented("/suppliers", "GET", "List suppliers", tag="suppliers", response=SUPPLIER_LIST)
def list_suppliers() -> Any:
    rows = db().scalars(sa.select(Supplier).order_by(sa.func.lower(Supplier.name)))
    return jsonify({"suppliers": [supplier_json(s) for s in rows]})


@bp.post("/suppliers")
@documented(
    "/suppliers",
    "POST",
    "Add a supplier",
    tag="suppliers",
    response=SUPPLIER,
    status=201,
    body=SUPPLIER_NEW,
    owner_only=True,
)
def create_supplier() -> Any:
    require_owner()
    body = json_body()
    check_fields(body, SUPPLIER_NEW_DEF)
    try:
        supplier = suppliers_service.add_supplier(
            db(), body["name"], contact=body.get("contact"), actor=api_user()
        )
    except SupplierError as exc:
        abort(409 if "already" in str(exc) else 422, description=str(exc))
    db().commit()
    return jsonify(supplier_json(supplier)), 201


@bp.get("/suppliers/<int:supplier_id>/permissions")
@documented(
    "/suppliers/{supplier_id}/permissions",
    "GET",
    "A supplier's written permissions",
    tag="suppliers",
    response=PERMISSION_LIST,
)
def list_permissions(supplier_id: int) -> Any:
    supplier = get_or_404(Supplier, supplier_id)
    return jsonify({"permissions": [permission_json(p) for p in supplier.permissions]})


@bp.post("/suppliers/<int:supplier_id>/permissions")
@documented(
    "/suppliers/{supplier_id}/permissions",
    "POST",
    "Record a written permission",
    tag="suppliers",
    response=PERMISSION,
    status=201,
    body=PERMISSION_NEW,
    owner_only=True,
)
def create_permission(supplier_id: int) -> Any:
    require_owner()
    supplier = get_or_404(Supplier, supplier_id)
    body = json_body()
    check_fields(body, PERMISSION_NEW_DEF)
    if not body["channels"]:
        abort(422, description="channels must name at least one channel")
    valid_from = parse_datetime("valid_from", body["valid_from"])
    valid_until = parse_datetime("valid_until", body.get("valid_until"))
    document = None
    if body.get("document"):
        if not body.get("document_mime"):
            abort(422, description="document_mime is required with a document")
        try:
            document = base64.b64decode(body["document"], validate=True)
        except (binascii.Error, ValueError):
            abort(422, description="document must be base64")
    assert valid_from is not None
    try:
        permission = suppliers_service.add_permission(
            db(),
            runtime(),
            supplier,
            channels=body["channels"],
            valid_from=valid_from,
            valid_until=valid_until,
            document=document,
            document_mime=body.get("document_mime") if document else None,
            note=body.get("note"),
            actor=api_user(),
        )
    except SupplierError as exc:
        db().rollback()
        abort(422, description=str(exc))
    db().commit()
    return jsonify(permission_json(permission)), 201


@bp.post("/supplier-permissions/<int:permission_id>/revoke")
@documented(
    "/supplier-permissions/{permission_id}/revoke",
    "POST",
    "Revoke a written permission now (idempotent)",
    tag="suppliers",
    response=PERMISSION,
    owner_only=True,
)
def revoke_permission(permission_id: int) -> Any:
    require_owner()
    permission = get_or_404(SupplierPermission, permission_id)
    suppliers_service.revoke_permission(db(), permission, actor=api_user())
    db().commit()
    return jsonify(permission_json(permission))
