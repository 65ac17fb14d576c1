"""The audit and the confirmation that everyone in a photo is marked, with the real engine.

A post that went out before anyone confirmed its photo is listed. A re-scan flags a face nobody
marked, and counts a face marked by hand (and blurred) as accounted for.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import Quarter
from consentcam.models import Person, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import audit as audits
from consentcam.services import confirmation, marking, review
from tests.audit.scenario import add_person, confirm_all, publish, scan

BIDEN = (778, 57, 964, 242)  # LABELS.json, unknown/two_people.jpg


def _findings(
    session: so.Session, runtime: Runtime, owner: User, rescan: bool
) -> dict[int, list[Any]]:
    run = audits.run_audit(session, runtime, Quarter.current(utcnow()), rescan=rescan, user=owner)
    session.commit()
    out: dict[int, list[Any]] = {}
    for f in audits.read_snapshot(runtime, run)["findings"]:
        out.setdefault(f["publication_id"], []).append(f)
    return out


def _people(session: so.Session, runtime: Runtime) -> None:
    given = utcnow() - timedelta(days=200)
    add_person(session, runtime, "Barack Obama", refs=("known/obama/obama1.jpg",), given=given)
    add_person(session, runtime, "Joe Biden", refs=("known/biden/biden1.jpg",), given=given)
    session.commit()


def test_a_post_that_went_out_unconfirmed_is_listed_until_and_after_a_confirmation(
    session: so.Session, runtime: Runtime, owner: User
) -> None:
    _people(session, runtime)
    at = utcnow() - timedelta(hours=1)
    photo = scan(session, runtime, "unknown/obama1.jpg")
    confirm_all(photo, everyone_marked=False)
    pub = publish(session, runtime, photo, "instagram", at, confirmed=False)
    session.commit()
    found = _findings(session, runtime, owner, rescan=False)
    [finding] = found[pub.id]
    assert finding["kind"] == "published_unconfirmed" and finding["severity"] == "high"
    assert "before anyone confirmed that everyone in the photo was marked" in finding["message"]

    confirmation.confirm_photo(session, runtime, photo, user=owner)
    session.commit()
    [finding] = _findings(session, runtime, owner, rescan=False)[pub.id]
    assert finding["kind"] == "published_unconfirmed" and finding["severity"] == "medium"


def test_the_rescan_flags_an_unmarked_face_and_accounts_for_one_marked_by_hand(
    session: so.Session, runtime: Runtime, owner: User
) -> None:
    _people(session, runtime)
    biden = session.scalar(sa.select(Person).where(Person.name == "Joe Biden"))
    assert biden is not None
    at = utcnow() - timedelta(hours=1)
    # Two guests, and the first scan found only Obama (Biden's row is gone): confirmed wrongly.
    photo = scan(session, runtime, "unknown/two_people.jpg")
    for face in list(photo.faces):
        if face.left > 600:
            photo.faces.remove(face)
    confirm_all(photo)
    session.commit()
    first = publish(session, runtime, photo, "instagram", at)
    session.commit()
    found = _findings(session, runtime, owner, rescan=True)
    assert [f["kind"] for f in found[first.id]] == ["unaccounted_face"], found

    # Taken down; the owner marks Biden by hand, as Biden (with consent), and posts it again.
    first.live, first.removed_at = False, utcnow()
    drawn = marking.add_drawn_face(session, runtime, photo, list(BIDEN), user=owner)
    review.assign_face(session, runtime, drawn, biden, user=owner)
    confirmation.confirm_photo(session, runtime, photo, user=owner)
    session.commit()
    second = publish(session, runtime, photo, "facebook", at)
    session.commit()
    found = _findings(session, runtime, owner, rescan=True)
    # The re-scan finds Biden's face in the copy, inside the box drawn by hand: accounted for.
    assert second.id not in found, found[second.id]
    assert first.id not in found
