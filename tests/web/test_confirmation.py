"""Confirming that everyone in a photo is marked, and faces marked by hand: service, pages, API."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from consentcam.domain.types import BlockReason, Channel, QueueStatus, ScanState
from consentcam.faces.pipeline import DetectedFace, ScanResult
from consentcam.models import Event, Face, Photo, Publication, QueueItem, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import confirmation, gate, marking, publishing, review
from consentcam.services import users as users_service
from tests.web.photo_helpers import person_with_consent, photo_with_faces

SV = {"Accept-Language": "sv"}


def _events(session: Session, kind: str) -> list[dict[str, Any]]:
    rows = session.scalars(sa.select(Event).where(Event.kind == kind).order_by(Event.seq))
    return [json.loads(e.payload) for e in rows]


@pytest.fixture
def staff(session: Session) -> User:
    user = users_service.create_user(
        session, "sam@example.com", "Sam", "staff-password-123", role="staff"
    )
    session.commit()
    return user


# ---------------------------------------------------------------- the service


def test_a_scanned_photo_with_no_face_is_blocked_until_the_owner_confirms_it(
    runtime: Runtime, session: Session, owner: User
) -> None:
    photo = photo_with_faces(runtime, session, n=0, confirmed=False)
    decisions = gate.decide(session, photo, list(Channel))
    for decision in decisions.values():
        assert not decision.cleared
        assert [b.code for b in decision.blockers] == [BlockReason.FACES_UNCONFIRMED]

    confirmation.confirm_photo(session, runtime, photo, user=owner)
    session.commit()
    assert photo.faces_confirmed_by == "Ann" and photo.faces_confirmed_by_id == owner.id
    assert photo.faces_confirmed_at is not None
    assert all(d.cleared for d in gate.decide(session, photo, list(Channel)).values())
    [event] = _events(session, "photo.faces_confirmed")
    assert event == {"faces": 0, "drawn": 0, "by": "Ann"}


def test_only_the_owner_or_staff_allowed_to_publish_may_confirm(
    runtime: Runtime, session: Session, staff: User
) -> None:
    photo = photo_with_faces(runtime, session, n=1, confirmed=False)
    assert not confirmation.may_confirm(staff) and not confirmation.may_confirm(None)
    with pytest.raises(confirmation.NotAllowedToConfirm, match="someone the owner lets publish"):
        confirmation.confirm_photo(session, runtime, photo, user=staff)
    with pytest.raises(confirmation.NotAllowedToConfirm):
        confirmation.confirm_photo(session, runtime, photo, user=None)
    assert photo.faces_confirmed_at is None
    staff.may_publish = True
    session.commit()
    confirmation.confirm_photo(session, runtime, photo, user=staff)
    assert photo.faces_confirmed_by == "Sam"


@pytest.mark.parametrize("state", ["pending", "scanning", "failed"])
def test_confirmation_is_refused_while_the_scan_is_unfinished(
    runtime: Runtime, session: Session, owner: User, state: str
) -> None:
    photo = photo_with_faces(runtime, session, n=0, confirmed=False)
    photo.scan_state = ScanState(state)
    session.commit()
    with pytest.raises(confirmation.ScanUnfinished, match="scan is not finished"):
        confirmation.confirm_photo(session, runtime, photo, user=owner)
    assert photo.faces_confirmed_at is None
    assert _events(session, "photo.faces_confirmed") == []


def test_a_confirmation_of_faces_that_changed_meanwhile_is_refused(
    runtime: Runtime, session: Session, owner: User
) -> None:
    photo = photo_with_faces(runtime, session, n=1, confirmed=False)
    seen = confirmation.faces_stamp(photo)
    marking.add_drawn_face(session, runtime, photo, [300, 100, 380, 180], user=owner)
    session.commit()
    with pytest.raises(confirmation.FacesChanged):
        confirmation.confirm_photo(session, runtime, photo, user=owner, stamp=seen)
    confirmation.confirm_photo(
        session, runtime, photo, user=owner, stamp=confirmation.faces_stamp(photo)
    )
    assert photo.faces_confirmed_at is not None


def test_a_face_drawn_by_hand_undoes_the_confirmation_and_blocks_the_queue_at_once(
    runtime: Runtime, session: Session, owner: User
) -> None:
    person = person_with_consent(runtime, session, "Anna Berg")
    photo = photo_with_faces(runtime, session, n=1, confirmed=False)
    review.assign_face(session, runtime, photo.faces[0], person, user=owner)
    item = publishing.queue_photo(session, runtime, photo.id, ["instagram"], actor=owner)
    session.commit()
    # Queued before anyone confirmed: blocked, with the new reason.
    assert item.status == "blocked"
    assert [b["code"] for b in publishing.blockers_of(item)] == ["faces_unconfirmed"]

    confirmation.confirm_photo(session, runtime, photo, user=owner)
    session.commit()
    session.refresh(item)
    assert item.status == "ready"  # the queue is checked again at once

    face = marking.add_drawn_face(session, runtime, photo, [300, 20, 400, 120], user=owner)
    session.commit()
    assert (face.source, face.state, face.number) == ("manual", "pending", 2)
    assert photo.faces_confirmed_at is None and photo.faces_confirmed_by is None
    [undone] = _events(session, "photo.faces_unconfirmed")
    assert undone["why"] == "face_drawn" and undone["face"] == 2
    [drawn] = _events(session, "face.drawn")
    assert drawn["box"] == [300, 20, 400, 120]
    session.refresh(item)
    assert item.status == "blocked"
    codes = {b["code"] for b in publishing.blockers_of(item)}
    assert codes == {"faces_unconfirmed", "face_unreviewed"}


def test_a_face_drawn_by_hand_gets_the_same_decisions_as_a_detected_one(
    runtime: Runtime, session: Session, owner: User
) -> None:
    anna = person_with_consent(runtime, session, "Anna Berg")
    photo = photo_with_faces(runtime, session, n=0, confirmed=False)
    drawn = [
        marking.add_drawn_face(session, runtime, photo, box, user=owner)
        for box in ([10, 10, 90, 90], [100, 10, 180, 90], [200, 10, 280, 90])
    ]
    review.assign_face(session, runtime, drawn[0], anna, user=owner)
    review.mark_not_identifiable(session, runtime, drawn[1], "seen from behind", user=owner)
    review.set_blur(session, runtime, drawn[2], True, user=owner)
    confirmation.confirm_photo(session, runtime, photo, user=owner)
    session.commit()
    decision = gate.decide(session, photo, ["instagram"])[Channel.INSTAGRAM]
    assert decision.cleared
    assert {c.face_id: str(c.how) for c in decision.clearances} == {
        drawn[0].id: "consent",
        drawn[1].id: "not_identifiable",
        drawn[2].id: "blur",
    }
    # Facebook is not in Anna's consent: the drawn face blocks like any other.
    facebook = gate.decide(session, photo, ["facebook"])[Channel.FACEBOOK]
    assert [(b.code, b.face_number) for b in facebook.blockers] == [
        (BlockReason.CHANNEL_NOT_COVERED, 1)
    ]


@pytest.mark.parametrize(
    ("box", "why"),
    [
        ([10, 10, 10, 60], "right edge must be to the right"),
        ([50, 10, 20, 60], "right edge must be to the right"),
        ([10, 60, 60, 60], "bottom edge must be below"),
        ([10, 10, 20, 60], "too small"),
        ([10, 10, 60, 25], "too small"),
        ([-5, 10, 60, 60], "inside the photo"),
        ([10, 10, 60, 100_000], "inside the photo"),
        ([10, 10, 60], "four whole numbers"),
        ([10, 10, 60.5, 60], "four whole numbers"),
        ("10,10,60,60", "four whole numbers"),
        ([True, 10, 60, 60], "four whole numbers"),
        # Face 1 is at (10, 10, 90, 90): a box over it, or around it, is the same face.
        ([15, 12, 85, 95], r"marked already \(face 1\)"),
        ([0, 0, 200, 200], r"marked already \(face 1\)"),
    ],
)
def test_a_bad_box_is_refused_and_nothing_is_stored(
    runtime: Runtime, session: Session, owner: User, box: Any, why: str
) -> None:
    photo = photo_with_faces(runtime, session, n=1)
    with pytest.raises(marking.BadBox, match=why):
        marking.add_drawn_face(session, runtime, photo, box, user=owner)
    session.rollback()
    assert session.scalar(sa.select(sa.func.count(Face.id))) == 1
    stored = session.get(Photo, photo.id)
    assert stored is not None
    assert stored.faces_confirmed_at is not None


def _found(box: tuple[int, int, int, int]) -> DetectedFace:
    import numpy as np

    return DetectedFace(box, np.zeros(128), 100.0)


def test_a_rescan_that_finds_a_new_face_adds_it_and_undoes_the_confirmation(
    runtime: Runtime, session: Session, owner: User
) -> None:
    photo = photo_with_faces(runtime, session, n=1)  # face 1 at (10, 10, 90, 90)
    marking.add_drawn_face(session, runtime, photo, [200, 200, 260, 260], user=owner)
    confirmation.confirm_photo(session, runtime, photo, user=owner)
    session.commit()
    # Faces already marked (found or drawn) are found again: nothing changes.
    again = ScanResult(photo.width, photo.height, "JPEG", [_found((12, 8, 88, 92))], 0.1)
    again.faces.append(_found((205, 198, 262, 258)))
    assert marking.merge_rescan(session, runtime, photo, again) == []
    assert photo.faces_confirmed_at is not None
    # A face nobody marked: added for review, and the photo must be confirmed again.
    new = ScanResult(photo.width, photo.height, "JPEG", [_found((400, 40, 470, 110))], 0.1)
    added = marking.merge_rescan(session, runtime, photo, new)
    session.commit()
    assert [(f.number, f.source, f.state) for f in added] == [(3, "detected", "pending")]
    assert photo.faces_confirmed_at is None
    undone = _events(session, "photo.faces_unconfirmed")[-1]
    assert undone["why"] == "rescan_found_face" and undone["faces"] == [3]


def test_a_publication_keeps_the_confirmation_it_went_out_under(
    runtime: Runtime, session: Session, owner: User
) -> None:
    photo = photo_with_faces(runtime, session, n=0, confirmed=False)
    confirmation.confirm_photo(session, runtime, photo, user=owner)
    item = publishing.queue_photo(session, runtime, photo.id, ["instagram"], actor=owner)
    session.commit()
    assert item.status == "ready"
    pub = publishing.record_manual_publication(
        session, runtime, item, "instagram", "https://www.instagram.com/p/abc/", actor=owner
    )
    session.commit()
    assert pub.faces_confirmed_at == photo.faces_confirmed_at
    [event] = _events(session, "publication.created")
    assert photo.faces_confirmed_at is not None
    assert event["faces_confirmed_at"] == photo.faces_confirmed_at.isoformat()


def test_waiting_photos_are_the_unconfirmed_scanned_ones_oldest_first(
    runtime: Runtime, session: Session, owner: User
) -> None:
    first = photo_with_faces(runtime, session, n=0, confirmed=False)
    second = photo_with_faces(runtime, session, n=1, rel="unknown/obama1.jpg", confirmed=False)
    photo_with_faces(runtime, session, n=1, rel="unknown/obama3.jpg")  # confirmed
    pending = photo_with_faces(runtime, session, n=0, rel="known/biden/biden1.jpg", confirmed=False)
    pending.scan_state = ScanState.PENDING
    session.commit()
    photos, total = confirmation.waiting_photos(session)
    assert [p.id for p in photos] == [first.id, second.id] and total == 2
    next_photo = confirmation.next_to_review(session)
    assert next_photo is not None
    assert next_photo.id == first.id
    next_photo = confirmation.next_to_review(session, after=first)
    assert next_photo is not None
    assert next_photo.id == second.id
    # The list's filter counts the same photos, and also a confirmed one with a face undecided.
    counts = review.count_states(session)
    assert counts["needs_review"] == 3 and counts["cleared"] == 0


# ---------------------------------------------------------------- the pages


def _photo(app: Flask, n: int = 1, confirmed: bool = False, **kw: Any) -> int:
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        return int(photo_with_faces(rt, s, n=n, confirmed=confirmed, **kw).id)


def test_review_page_offers_the_one_clear_action_and_then_the_next_photo(
    app: Flask, owner_client: FlaskClient
) -> None:
    first, second = _photo(app), _photo(app, rel="unknown/obama1.jpg")
    page = owner_client.get(f"/photos/{first}").get_data(as_text=True)
    assert 'id="confirm-photo"' in page and "Everyone in this photo is marked" in page
    assert "Nobody has confirmed yet that everyone in this photo is marked." in page
    assert 'src="/static/draw-face.js"' in page and "<script>" not in page

    response = owner_client.post(f"/photos/{first}/confirm", data={})
    assert response.status_code == 302 and response.location.endswith(
        f"/photos/{first}#confirmation"
    )
    page = owner_client.get(f"/photos/{first}").get_data(as_text=True)
    assert 'id="confirm-photo"' not in page
    assert "Confirmed by Ann-Christin on" in page
    assert f'id="next-photo" href="/photos/{second}"' in page

    owner_client.post(f"/photos/{second}/confirm", data={})
    page = owner_client.get(f"/photos/{second}").get_data(as_text=True)
    assert 'id="no-next-photo"' in page


def test_review_page_in_swedish(app: Flask, owner_client: FlaskClient) -> None:
    photo = _photo(app)
    page = owner_client.get(f"/photos/{photo}", headers=SV).get_data(as_text=True)
    assert "Alla personer på fotot är markerade" in page
    assert "Ingen har bekräftat än att alla personer på fotot är markerade." in page
    assert "Markera ett ansikte som skanningen missade" in page


def test_staff_cannot_confirm_but_can_mark_a_face(app: Flask, staff_client: FlaskClient) -> None:
    photo = _photo(app)
    page = staff_client.get(f"/photos/{photo}").get_data(as_text=True)
    assert 'id="confirm-photo"' not in page
    assert "The owner confirms that everyone in a photo is marked." in page
    assert staff_client.post(f"/photos/{photo}/confirm", data={}).status_code == 403
    response = staff_client.post(
        f"/photos/{photo}/faces", data={"left": 300, "top": 20, "right": 380, "bottom": 100}
    )
    assert response.status_code == 302
    with app.extensions["runtime"].sessions() as s:
        assert s.get(Photo, photo).faces_confirmed_at is None
        assert [f.source for f in s.get(Photo, photo).faces] == ["detected", "manual"]


def test_confirming_an_unscanned_photo_is_refused_in_swedish(
    app: Flask, owner_client: FlaskClient
) -> None:
    photo = _photo(app, n=0)
    with app.extensions["runtime"].sessions() as s:
        s.get(Photo, photo).scan_state = "pending"
        s.commit()
    page = owner_client.post(
        f"/photos/{photo}/confirm", data={}, headers=SV, follow_redirects=True
    ).get_data(as_text=True)
    assert "ansiktssökningen i det här fotot är inte klar än, så det går inte att bekräfta" in page


def test_drawing_a_face_on_the_page(app: Flask, owner_client: FlaskClient) -> None:
    photo = _photo(app, confirmed=True)
    response = owner_client.post(
        f"/photos/{photo}/faces", data={"left": "300", "top": "20", "right": "380", "bottom": "100"}
    )
    assert response.status_code == 302
    with app.extensions["runtime"].sessions() as s:
        p = s.get(Photo, photo)
        drawn = p.faces[-1]
        assert (drawn.source, drawn.box, drawn.number) == ("manual", (300, 20, 380, 100), 2)
        assert p.faces_confirmed_at is None
        face_id = drawn.id
    assert response.location.endswith(f"#face-{face_id}")
    page = owner_client.get(f"/photos/{photo}").get_data(as_text=True)
    assert "marked by hand" in page and 'id="confirm-photo"' in page


def test_a_bad_drawn_box_on_the_page_is_refused_in_swedish_and_kept(
    app: Flask, owner_client: FlaskClient
) -> None:
    photo = _photo(app, confirmed=True)
    response = owner_client.post(
        f"/photos/{photo}/faces",
        data={"left": "300", "top": "20", "right": "310", "bottom": "100"},
        headers=SV,
    )
    assert response.status_code == 302 and "draw=1" in response.location
    page = owner_client.get(response.location, headers=SV).get_data(as_text=True)
    assert "rutan är för liten: rita minst 16 × 16 pixlar" in page
    assert 'name="right" min="0"' in page and 'value="310"' in page  # what was drawn is kept
    with app.extensions["runtime"].sessions() as s:
        p = s.get(Photo, photo)
        assert len(p.faces) == 1 and p.faces_confirmed_at is not None


def _to_review(app: Flask) -> int:
    from consentcam.web.dashboard import attention_counts

    with app.extensions["runtime"].sessions() as s:
        return int(attention_counts(s, utcnow())["to_review"])


def test_photos_waiting_for_review_list(app: Flask, owner_client: FlaskClient) -> None:
    waiting = _photo(app, n=0)
    done = _photo(app, rel="unknown/obama1.jpg", confirmed=True)
    page = owner_client.get("/photos/review").get_data(as_text=True)
    assert f'data-photo="{waiting}"' in page and f'data-photo="{done}"' not in page
    assert f'id="review-first" href="/photos/{waiting}"' in page
    sv = owner_client.get("/photos/review", headers=SV).get_data(as_text=True)
    assert "Foton att granska" in sv and "Inte bekräftat än" in sv
    # The start page counts it too, though it has no face to decide (the other photo has one).
    assert _to_review(app) == 2
    owner_client.post(f"/photos/{waiting}/confirm", data={})
    assert 'id="nothing-to-review"' in owner_client.get("/photos/review").get_data(as_text=True)
    assert _to_review(app) == 1


# ---------------------------------------------------------------- the API


@pytest.fixture
def tokens(app: Flask, users: dict[str, int]) -> dict[str, str]:
    rt = app.extensions["runtime"]
    out = {}
    with rt.sessions() as s:
        for role, uid in users.items():
            _, clear = users_service.create_token(s, s.get(User, uid), "tests")
            out[role] = clear
        s.commit()
    return out


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_draws_a_face_and_confirms_the_photo(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    photo = _photo(app)
    h = _h(tokens["owner"])
    before = client.get(f"/api/v1/photos/{photo}", headers=h).get_json()
    assert before["faces_confirmed_at"] is None and before["faces_confirmed_by"] is None
    assert [f["source"] for f in before["faces"]] == ["detected"]

    response = client.post(
        f"/api/v1/photos/{photo}/faces", json={"box": [300, 20, 380, 100]}, headers=h
    )
    assert response.status_code == 201, response.get_json()
    face = response.get_json()
    assert face["source"] == "manual" and face["box"] == [300, 20, 380, 100]
    assert face["number"] == 2 and face["state"] in ("pending", "suggested")
    # Drawn again (a second tap): refused, and no third face is stored.
    again = client.post(
        f"/api/v1/photos/{photo}/faces", json={"box": [305, 25, 385, 105]}, headers=h
    )
    assert again.status_code == 422 and "face 2" in again.get_json()["error"]
    faces = client.get(f"/api/v1/photos/{photo}", headers=h).get_json()["faces"]
    assert [f["number"] for f in faces] == [1, 2]

    gate_json = client.get(f"/api/v1/photos/{photo}/gate", headers=h).get_json()
    codes = {b["code"] for v in gate_json["verdicts"] for b in v["blockers"]}
    assert "faces_unconfirmed" in codes

    response = client.post(f"/api/v1/photos/{photo}/confirmation", json={}, headers=h)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["faces_confirmed_by"] == "Ann-Christin" and body["faces_confirmed_at"]
    gate_json = client.get(f"/api/v1/photos/{photo}/gate", headers=h).get_json()
    codes = {b["code"] for v in gate_json["verdicts"] for b in v["blockers"]}
    assert "faces_unconfirmed" not in codes


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"box": [300, 20, 300, 100]}, "right edge"),
        ({"box": [300, 100, 380, 20]}, "bottom edge"),
        ({"box": [300, 20, 310, 100]}, "too small"),
        ({"box": [-1, 20, 380, 100]}, "inside the photo"),
        ({"box": [300, 20, 99_999, 100]}, "inside the photo"),
        ({"box": [300, 20, 380]}, "four whole numbers"),
        ({"box": "300,20,380,100"}, "four whole numbers"),
        ({}, "box"),
    ],
)
def test_api_refuses_a_bad_box_with_422_and_stores_nothing(
    app: Flask, client: FlaskClient, tokens: dict[str, str], body: dict[str, Any], why: str
) -> None:
    photo = _photo(app, confirmed=True)
    response = client.post(f"/api/v1/photos/{photo}/faces", json=body, headers=_h(tokens["owner"]))
    assert response.status_code == 422
    assert why in response.get_json()["error"]
    with app.extensions["runtime"].sessions() as s:
        p = s.get(Photo, photo)
        assert len(p.faces) == 1 and p.faces_confirmed_at is not None


def test_api_refusals_by_state_and_role(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    photo = _photo(app)
    staff, owner = _h(tokens["staff"]), _h(tokens["owner"])
    response = client.post(f"/api/v1/photos/{photo}/confirmation", json={}, headers=staff)
    assert response.status_code == 403 and response.get_json()["error"]
    # Staff may mark a missed face: that only adds work, it clears nothing.
    response = client.post(
        f"/api/v1/photos/{photo}/faces", json={"box": [300, 20, 380, 100]}, headers=staff
    )
    assert response.status_code == 201
    stale = client.post(
        f"/api/v1/photos/{photo}/confirmation", json={"faces_stamp": "1-1"}, headers=owner
    )
    assert stale.status_code == 409 and "changed meanwhile" in stale.get_json()["error"]
    assert (
        client.post("/api/v1/photos/999999/confirmation", json={}, headers=owner).status_code == 404
    )
    assert (
        client.post("/api/v1/photos/999999/faces", json={"box": [1, 1, 40, 40]}, headers=owner)
    ).status_code == 404
    with app.extensions["runtime"].sessions() as s:
        s.get(Photo, photo).scan_state = "scanning"
        s.commit()
    response = client.post(f"/api/v1/photos/{photo}/confirmation", json={}, headers=owner)
    assert response.status_code == 409 and "scan is not finished" in response.get_json()["error"]
    response = client.post(
        f"/api/v1/photos/{photo}/faces", json={"box": [300, 20, 380, 100]}, headers=owner
    )
    assert response.status_code == 409
    for path in ("/api/v1/photos/1/confirmation", "/api/v1/photos/1/faces"):
        assert client.post(path, json={}).status_code == 401


def test_openapi_describes_both_operations(client: FlaskClient, tokens: dict[str, str]) -> None:
    spec = client.get("/api/v1/openapi.json", headers=_h(tokens["owner"])).get_json()
    draw = spec["paths"]["/photos/{photo_id}/faces"]["post"]
    assert "201" in draw["responses"] and "422" in draw["responses"]
    confirm = spec["paths"]["/photos/{photo_id}/confirmation"]["post"]
    assert {"200", "403", "409"} <= set(confirm["responses"])
    props = spec["components"]["schemas"]["Photo"]["properties"]
    assert {"faces_confirmed_at", "faces_confirmed_by"} <= set(props)
    assert spec["components"]["schemas"]["Face"]["properties"]["source"]["enum"] == [
        "detected",
        "manual",
    ]


def test_queue_item_blocked_by_the_confirmation_is_worded_in_swedish(
    app: Flask, owner_client: FlaskClient
) -> None:
    photo = _photo(app, n=0)
    with app.extensions["runtime"].sessions() as s:
        item = publishing.queue_photo(s, app.extensions["runtime"], photo, ["instagram"])
        s.commit()
        item_id = item.id
        assert s.get(QueueItem, item_id).status == "blocked"
    page = owner_client.get(f"/queue/{item_id}", headers=SV).get_data(as_text=True)
    assert "Ingen har bekräftat än att alla personer på fotot är markerade." in page


def test_an_item_queued_before_the_upgrade_is_blocked_periodically_and_at_publish_time(
    runtime: Runtime, session: Session, owner: User
) -> None:
    # Queued and ready before confirmations existed: its photo is unconfirmed after the upgrade.
    photo = photo_with_faces(runtime, session, n=0, confirmed=False)
    first = QueueItem(photo_id=photo.id, channels="instagram", status="ready")
    second = QueueItem(photo_id=photo.id, channels="instagram", status="ready")
    session.add_all([first, second])
    session.commit()
    # The minute's check of the queue blocks it with the new reason ...
    changed = publishing.recheck_queue(session, runtime)
    session.commit()
    assert {i.id for i in changed} == {first.id, second.id}
    assert [b["code"] for b in publishing.blockers_of(first)] == ["faces_unconfirmed"]
    # ... and so does publishing itself, should an item get there first.
    second.status = QueueStatus.READY
    session.commit()
    outcome = publishing.publish_item(session, runtime, second.id)
    assert outcome.status == "blocked"
    session.refresh(second)
    assert [b["code"] for b in publishing.blockers_of(second)] == ["faces_unconfirmed"]
    assert session.scalar(sa.select(sa.func.count()).select_from(Publication)) == 0
