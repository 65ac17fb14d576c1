"""Suppliers and their written permissions: add, record a permission document, revoke, mark photos."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import Photo, Supplier, SupplierPermission, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.events import actor_of as _actor
from consentcam.services.people import (
    ConsentError,
    check_scan,
    parse_channels,
    read_stored_evidence,
    store_evidence,
    upload_type,
)
from consentcam.wording import N_, WordedError


class SupplierError(WordedError, ValueError):
    """A supplier request that cannot be done as asked; the message says why."""


@contextmanager
def _in_supplier_words() -> Iterator[None]:
    """The people service's refusals (channels, the checks of a signed paper) as SupplierError,
    in their own words (so the pages still show them in Swedish)."""
    try:
        yield
    except ConsentError as exc:
        raise SupplierError(exc.template, **exc.params) from exc


def add_supplier(
    session: so.Session, name: str, *, contact: str | None = None, actor: User | None = None
) -> Supplier:
    name = name.strip()
    if not name:
        raise SupplierError(N_("a supplier needs a name"))
    if len(name) > 200:
        raise SupplierError(N_("the name is longer than 200 characters"))
    if session.scalar(sa.select(Supplier.id).where(Supplier.name == name)) is not None:
        raise SupplierError(N_("there is already a supplier called %(name)s"), name=name)
    supplier = Supplier(name=name, contact=(contact or "").strip()[:300] or None)
    session.add(supplier)
    session.flush()
    events.record(
        session, "supplier.added", f"supplier:{supplier.id}", {"name": name}, actor=_actor(actor)
    )
    return supplier


def document_type(document: bytes) -> str | None:
    """The type of an uploaded permission document, read from its content (None: no document).

    The browser's claim is not trusted; anything but a PDF, JPEG or PNG is refused.
    """
    if not document:
        return None
    with _in_supplier_words():
        return upload_type(document, "document")


def add_permission(
    session: so.Session,
    rt: Runtime,
    supplier: Supplier,
    *,
    channels: Iterable[str],
    valid_from: datetime,
    valid_until: datetime | None = None,
    document: bytes | None = None,
    document_mime: str | None = None,
    note: str | None = None,
    actor: User | None = None,
) -> SupplierPermission:
    """Record a written permission; its document is stored encrypted with its SHA-256."""
    with _in_supplier_words():
        chosen = parse_channels(channels)
    if not chosen:
        raise SupplierError(N_("choose at least one channel"))
    if valid_until is not None and valid_until <= valid_from:
        raise SupplierError(N_("'valid until' must be after 'valid from'"))
    key = digest = None
    if document:
        with _in_supplier_words():
            check_scan(document, document_mime or "", "document")
        key, digest = store_evidence(rt, document)
    permission = SupplierPermission(
        supplier=supplier,
        channels=" ".join(c.value for c in chosen),
        valid_from=valid_from,
        valid_until=valid_until,
        document_key=key,
        document_sha256=digest,
        document_mime=document_mime if document else None,
        note=(note or "").strip() or None,
    )
    session.add(permission)
    session.flush()
    events.record(
        session,
        "supplier_permission.added",
        f"supplier:{supplier.id}",
        {
            "permission": permission.id,
            "channels": [c.value for c in chosen],
            "valid_from": valid_from,
            "valid_until": valid_until,
            "document_sha256": digest,
        },
        actor=_actor(actor),
    )
    return permission


def revoke_permission(
    session: so.Session, permission: SupplierPermission, *, actor: User | None = None
) -> bool:
    """End a permission now; returns False when it was revoked already."""
    if permission.revoked_at is not None:
        return False
    permission.revoked_at = utcnow()
    events.record(
        session,
        "supplier_permission.revoked",
        f"supplier:{permission.supplier_id}",
        {"permission": permission.id},
        actor=_actor(actor),
    )
    return True


def permission_state(permission: SupplierPermission, at: datetime | None = None) -> str:
    at = at or utcnow()
    if permission.revoked_at is not None and permission.revoked_at <= at:
        return "revoked"
    if permission.valid_from > at:
        return "not_yet_valid"
    if permission.valid_until is not None and permission.valid_until <= at:
        return "lapsed"
    return "active"


def read_document(rt: Runtime, permission: SupplierPermission) -> bytes:
    """Decrypt a permission document and prove it is the file that was recorded."""
    if not permission.document_key:
        raise FileNotFoundError(f"permission {permission.id} has no document")
    return read_stored_evidence(
        rt,
        permission.document_key,
        permission.document_sha256,
        f"document of supplier permission {permission.id}",
    )


def set_photo_supplier(
    session: so.Session, photo: Photo, supplier_id: int | None, actor: User | None
) -> bool:
    """Mark a photo as provided by a supplier (or by nobody); returns False when nothing changed."""
    if supplier_id is not None and session.get(Supplier, supplier_id) is None:
        raise SupplierError(N_("there is no supplier %(number)s"), number=supplier_id)
    if photo.supplier_id == supplier_id:
        return False
    before = photo.supplier_id
    photo.supplier_id = supplier_id
    events.record(
        session,
        "photo.supplier_set",
        f"photo:{photo.id}",
        {"supplier": supplier_id, "previous": before},
        actor=_actor(actor),
    )
    return True


# --- What the supplier pages show -----------------------------------------------------------------


def suppliers_by_name(session: so.Session) -> list[Supplier]:
    """Every supplier, by name in any case."""
    return list(session.scalars(sa.select(Supplier).order_by(sa.func.lower(Supplier.name))))


def photo_count(session: so.Session, supplier: Supplier) -> int:
    """How many photos the supplier provided."""
    return (
        session.scalar(sa.select(sa.func.count(Photo.id)).where(Photo.supplier_id == supplier.id))
        or 0
    )


@dataclass(frozen=True)
class SupplierList:
    """The suppliers' list: each supplier, its photo count and the channels its permissions
    in force cover (by supplier id)."""

    suppliers: list[Supplier]
    photo_counts: dict[int, int]
    active: dict[int, list[str]]


def supplier_list(session: so.Session, at: datetime | None = None) -> SupplierList:
    """Every supplier with how many photos it provided and the channels it may be published on."""
    at = at or utcnow()
    photo_counts: dict[int, int] = {
        sid: count
        for sid, count in session.execute(
            sa.select(Photo.supplier_id, sa.func.count(Photo.id))
            .where(Photo.supplier_id.is_not(None))
            .group_by(Photo.supplier_id)
        ).all()
        if sid is not None
    }
    permissions: dict[int, list[SupplierPermission]] = {}
    for p in session.scalars(sa.select(SupplierPermission)):
        permissions.setdefault(p.supplier_id, []).append(p)
    active = {
        sid: sorted(
            {c for p in perms if permission_state(p, at) == "active" for c in p.channel_list}
        )
        for sid, perms in permissions.items()
    }
    return SupplierList(suppliers_by_name(session), photo_counts, active)
