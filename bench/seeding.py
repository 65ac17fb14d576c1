"""Row dicts for the benchmark cases' bulk inserts: scanned photos and their faces."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def photo_row(template: Any, n: int, sha256: str, when: datetime, **extra: Any) -> dict[str, Any]:
    """A scanned upload ``IMG_<n>.jpg`` sharing ``template``'s stored original and thumbnail.

    A person has confirmed that everyone in it is marked (as the gate requires to clear it).
    """
    return {
        "sha256": sha256,
        "original_key": template.original_key,
        "original_name": f"IMG_{n:05d}.jpg",
        "format": "JPEG",
        "size_bytes": template.size_bytes,
        "width": template.width,
        "height": template.height,
        "source": "upload",
        "uploaded_at": when,
        "scan_state": "done",
        "scan_attempts": 1,
        "scanned_at": when,
        "scan_seconds": 0.5,
        "thumbnail_key": template.thumbnail_key,
        "faces_confirmed_at": when,
        "faces_confirmed_by": "owner@example.com",
        **extra,
    }


def face_row(photo_id: int, number: int, state: str, **extra: Any) -> dict[str, Any]:
    """Face ``number`` of a photo, side by side with the others, in ``state``."""
    return {
        "photo_id": photo_id,
        "number": number,
        "left": 100 * number,
        "top": 100,
        "right": 100 * number + 80,
        "bottom": 180,
        "sharpness": 120.0,
        "state": state,
        **extra,
    }
