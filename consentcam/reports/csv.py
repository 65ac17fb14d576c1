"""The audit as CSV: one row per publication and face, with the findings of each."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from consentcam.reports import channel_label

COLUMNS = (
    "quarter",
    "publication_id",
    "channel",
    "url",
    "published_at",
    "live",
    "removed_at",
    "publication_status",
    "cleared_copy_present",
    "photo_id",
    "photo_name",
    "face_number",
    "person_id",
    "person",
    "covered_by",
    "consent_id",
    "status_when_published",
    "status_now",
    "supplier_permission_id",
    "supplier_permission_when_published",
    "supplier_permission_now",
    "unaccounted_faces_on_rescan",
    "finding_kinds",
    "findings",
)


#: A cell starting with one of these is read as a formula by spreadsheet programs (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer that neutralises formula cells; every CSV the product writes goes through it."""

    def __init__(self, buf: io.StringIO, **kwargs: Any) -> None:
        self._writer = csv.writer(buf, **kwargs)

    def writerow(self, row: list[Any] | tuple[Any, ...]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])


def render_csv(snapshot: dict[str, Any]) -> str:
    """Render the CSV; findings about a face go on its row, the others on every row of the post."""
    by_face: dict[tuple[int, int | None], list[dict[str, Any]]] = defaultdict(list)
    for f in snapshot["findings"]:
        by_face[(f["publication_id"], f.get("face_id"))].append(f)
    buf = io.StringIO()
    writer = SafeWriter(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    q = snapshot["quarter"]
    for p in snapshot["publications"]:
        perm = p.get("supplier_permission") or {}
        general = by_face.get((p["id"], None), [])
        base = [
            q,
            p["id"],
            channel_label(p["channel"]),
            p.get("url") or "",
            p["published_at"],
            "yes" if p["live"] else "no",
            p.get("removed_at") or "",
            p["status"],
            "yes" if p["cleared_copy_present"] else "no",
            p["photo_id"],
            p["photo_name"],
        ]
        tail = [
            perm.get("id", ""),
            perm.get("then", ""),
            perm.get("now", ""),
            "" if p.get("unaccounted") is None else p["unaccounted"],
        ]
        faces = p["faces"] or [None]
        for face in faces:
            own = general + (by_face.get((p["id"], face["face_id"]), []) if face else [])
            middle = (
                [
                    face["number"],
                    face.get("person_id") or "",
                    face.get("person") or "",
                    face.get("how") or "",
                    face.get("consent_id") or "",
                    face["then"],
                    face["now"],
                ]
                if face
                else ["", "", "", "", "", "", ""]
            )
            writer.writerow(
                base
                + middle
                + tail
                + [" ".join(f["kind"] for f in own), " | ".join(f["message"] for f in own)]
            )
    return buf.getvalue()
