"""The photo list's tiles, worded in Python: a page shows thirty, and each tile's two links,
status and face count cost far less here than as calls from the template."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consentcam.domain.types import GateState, ScanState
from consentcam.web.translate import gettext, ngettext
from consentcam.web.urls import id_url


@dataclass(frozen=True)
class Tile:
    href: str
    thumbnail: str
    name: str
    badge: str
    status: str
    faces: str


def status(photo: Any, verdict: GateState | str | None) -> tuple[str, str]:
    """The tile's badge: (its class, its words)."""
    if photo.scan_state == ScanState.FAILED:
        return "bad", gettext("Scan failed")
    if photo.scan_state != ScanState.DONE:
        return "wait", gettext("Waiting for scan")
    if photo.undecided_faces:
        n = int(photo.undecided_faces)
        return "warn", ngettext("%(num)d face to review", "%(num)d faces to review", n)
    if not photo.faces_confirmed_at:
        return "warn", gettext("Not confirmed yet")
    if verdict == GateState.CLEARED:
        return "ok", gettext("Cleared")
    return "bad", gettext("Blocked")


def tiles(photos: Any, verdicts: dict[int, Any]) -> list[Tile]:
    """One tile per photo of the page, in order."""
    detail = id_url("photos.detail", "photo_id")
    thumbnail = id_url("photos.thumbnail", "photo_id")
    out = []
    for photo in photos:
        badge, words = status(photo, verdicts.get(photo.id))
        faces = ngettext("%(num)d face", "%(num)d faces", int(photo.face_count or 0))
        out.append(
            Tile(detail(photo.id), thumbnail(photo.id), photo.original_name, badge, words, faces)
        )
    return out
