"""What the privacy requests share: their refusals, and the live posts that still show a person."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import Face, Publication, PublicationFace
from consentcam.wording import N_, WordedError


class PrivacyError(WordedError, ValueError):
    """A privacy request cannot be carried out as asked."""


class ErasureRefused(PrivacyError):
    """The person is still shown in live publications."""

    def __init__(self, person_id: int, publication_ids: Sequence[int]) -> None:
        self.person_id = person_id
        self.publication_ids = list(publication_ids)
        posts = ", ".join(f"#{p}" for p in self.publication_ids)
        super().__init__(
            N_(
                "This person is still shown in live posts (%(count)s: %(posts)s). Withdraw "
                "their consent first; removal tasks follow, and once the posts are down the "
                "erasure can be done."
            ),
            count=len(self.publication_ids),
            posts=posts,
        )


def live_publications_showing(person_ids: Iterable[int]) -> sa.CompoundSelect[int | None, int]:
    """(person_id, publication_id) of live posts showing each person, now or when published."""
    ids = sorted(set(person_ids))
    on_photo = (
        sa.select(Face.person_id.label("pid"), Publication.id.label("pub"))
        .join(Publication, Publication.photo_id == Face.photo_id)
        .where(Publication.live.is_(True), Face.person_id.in_(ids))
    )
    recorded = (
        sa.select(PublicationFace.person_id.label("pid"), Publication.id.label("pub"))
        .join(Publication, Publication.id == PublicationFace.publication_id)
        .where(Publication.live.is_(True), PublicationFace.person_id.in_(ids))
    )
    return sa.union(on_photo, recorded)


def live_posts_of(session: so.Session, person_id: int) -> list[int]:
    return sorted({row.pub for row in session.execute(live_publications_showing([person_id]))})
