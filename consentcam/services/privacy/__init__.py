"""Privacy rights and retention: a person's access export (Art. 15), erasure (Art. 17) and purge.

Everything here works in the caller's unit of work and never commits; an erasure's files are
deleted once that commits.
"""

from __future__ import annotations

from consentcam.models import Publication
from consentcam.services.privacy.base import (
    ErasureRefused,
    PrivacyError,
    live_posts_of,
    live_publications_showing,
)
from consentcam.services.privacy.erasure import (
    Erasure,
    PurgeEntry,
    PurgeResult,
    erase_person,
    erased_name,
    purge,
)
from consentcam.services.privacy.export import (
    EXPORT_SIDE,
    HAPPENED,
    OTHER_CHANGE,
    Export,
    blur_boxes,
    export_person,
    photo_with_others_blurred,
    summary_language,
)

__all__ = [
    "EXPORT_SIDE",
    "HAPPENED",
    "OTHER_CHANGE",
    "Erasure",
    "ErasureRefused",
    "Export",
    "PrivacyError",
    "Publication",
    "PurgeEntry",
    "PurgeResult",
    "blur_boxes",
    "erase_person",
    "erased_name",
    "export_person",
    "live_posts_of",
    "live_publications_showing",
    "photo_with_others_blurred",
    "purge",
    "summary_language",
]
