"""With the real face engine: nothing is cleared on the scanner's word, and a face marked by hand
is recognised, blurred and no longer recognisable in the copy that goes out."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import sqlalchemy.orm as so
from PIL import Image, ImageDraw

from consentcam.domain.types import BlockReason, Channel
from consentcam.faces.manual import encode_drawn_face
from consentcam.models import Face, Photo, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import audit as audits
from consentcam.services import confirmation, gate, marking, people, photos, publishing, review
from consentcam.services.cleared import make_cleared_copy, render
from consentcam.services.scanning import scan_photo, template_array
from tests.conftest import FACES
from tests.publishing.conftest import SIGNATURE

OBAMA_BOX = (546, 204, 932, 590)  # LABELS.json, unknown/obama1.jpg


def _jpeg(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=92)
    return out.getvalue()


def _upload(session: so.Session, rt: Runtime, data: bytes, name: str) -> Photo:
    photo = photos.ingest(session, rt, data, name).photo
    session.commit()
    scan_photo(session, rt, photo.id)
    session.refresh(photo)
    assert photo.scan_state == "done"
    return photo


def test_a_real_photo_with_nobody_in_it_is_blocked_until_confirmed(
    session: so.Session, runtime: Runtime, owner: User
) -> None:
    # A studio corner: a mat, a plant, a window; nobody in it.
    im = Image.new("RGB", (1200, 800), (214, 200, 180))
    draw = ImageDraw.Draw(im)
    draw.rectangle((100, 550, 1100, 700), fill=(90, 120, 150))
    draw.rectangle((800, 80, 1100, 400), fill=(235, 240, 245), outline=(80, 70, 60), width=12)
    draw.ellipse((150, 300, 330, 520), fill=(60, 130, 70))
    photo = _upload(session, runtime, _jpeg(im), "studio-corner.jpg")
    assert photo.faces == []

    decisions = gate.decide(session, photo, list(Channel))
    for decision in decisions.values():
        assert [b.code for b in decision.blockers] == [BlockReason.FACES_UNCONFIRMED]
    item = publishing.queue_photo(session, runtime, photo.id, ["instagram", "print"])
    session.commit()
    assert item.status == "blocked"
    assert not publishing.request_publish(session, runtime, item)

    confirmation.confirm_photo(session, runtime, photo, user=owner)
    session.commit()
    session.refresh(item)
    assert item.status == "ready"
    assert all(d.cleared for d in gate.decide(session, photo, list(Channel)).values())


def test_a_face_marked_by_hand_is_suggested_blurred_and_unrecognisable_once_published(
    session: so.Session, runtime: Runtime, owner: User
) -> None:
    obama = people.add_person(session, "Barack")
    people.give_consent(
        session,
        runtime,
        obama,
        channels=["instagram"],
        evidence=SIGNATURE,
        evidence_mime="image/png",
        evidence_kind="signature",
        biometric=True,
        given_at=utcnow() - timedelta(days=1),
    )
    ref = FACES / "known/obama/obama2.jpg"
    people.enrol_reference(session, runtime, obama, ref.read_bytes(), ref.name)
    session.commit()

    # A customer upside down in an inversion (turned in the pixels, no EXIF).
    source = Image.open(FACES / "unknown/obama1.jpg").convert("RGB")
    turned = source.transpose(Image.Transpose.ROTATE_180)
    w, h = turned.size
    box = (w - OBAMA_BOX[2], h - OBAMA_BOX[3], w - OBAMA_BOX[0], h - OBAMA_BOX[1])
    photo = _upload(session, runtime, _jpeg(turned), "inversion.jpg")
    # Whatever face the scanner found over this one is dropped: this is the face it missed
    # (HOG does not see upside-down faces; a better detector may, and the test stays the same).
    for face in list(photo.faces):
        cx, cy = (face.left + face.right) / 2, (face.top + face.bottom) / 2
        if box[0] <= cx <= box[2] and box[1] <= cy <= box[3]:
            photo.faces.remove(face)
    session.commit()
    confirmation.confirm_photo(session, runtime, photo, user=owner)
    session.commit()

    drawn = marking.add_drawn_face(session, runtime, photo, list(box), user=owner)
    session.commit()
    assert photo.faces_confirmed_at is None
    assert marking.encode_drawn_face(session, runtime, drawn.id)
    reloaded = session.get(Face, drawn.id)
    assert reloaded is not None
    drawn = reloaded
    # Aligned by the 5-point model although it is upside down: the person is suggested.
    assert drawn.template is not None
    assert (drawn.state, drawn.suggested_person_id) == ("suggested", obama.id)
    assert drawn.distance is not None and drawn.distance < 0.5
    template = template_array(runtime.vault.decrypt(drawn.template))

    review.set_blur(session, runtime, drawn, True, user=owner)
    session.commit()
    forgotten = session.get(Face, drawn.id)
    assert forgotten is not None
    assert forgotten.template is None  # forgotten once the review is done
    assert not gate.decide(session, photo, ["instagram"])[Channel.INSTAGRAM].cleared
    confirmation.confirm_photo(session, runtime, photo, user=owner)
    item = publishing.queue_photo(session, runtime, photo.id, ["instagram"], actor=owner)
    session.commit()
    assert item.status == "ready", publishing.blockers_of(item)

    cleared = make_cleared_copy(runtime, photo, item.fit)
    with Image.open(io.BytesIO(runtime.storage.read(cleared.key))) as im:
        size = im.size
    keep = tuple(f.box for f in photo.faces if not f.blur)
    in_copy = tuple(round(v) for v in audits.cleared_box(box, (w, h), item.fit, keep, size))
    # The same copy without the blur still shows Barack: the check below can fail.
    unblurred = render(runtime.storage.read(photo.original_key), faces=[box], fit=item.fit)
    control = encode_drawn_face(unblurred, in_copy)
    assert control is not None and float(np.linalg.norm(control - template)) < 0.5
    blurred = encode_drawn_face(runtime.storage.read(cleared.key), in_copy)
    assert blurred is None or float(np.linalg.norm(blurred - template)) > 0.6


def test_a_face_that_cannot_be_aligned_gets_no_template_and_is_chosen_by_hand(
    session: so.Session, runtime: Runtime, owner: User
) -> None:
    # Only the top of a head shows at the bottom edge of the frame.
    source = Image.open(FACES / "unknown/obama1.jpg").convert("RGB")
    cut = source.crop((0, 0, source.width, OBAMA_BOX[1] + 110))
    photo = _upload(session, runtime, _jpeg(cut), "cut.jpg")
    box = [OBAMA_BOX[0], OBAMA_BOX[1], OBAMA_BOX[2], cut.height]
    drawn = marking.add_drawn_face(session, runtime, photo, box, user=owner)
    session.commit()
    assert not marking.encode_drawn_face(session, runtime, drawn.id)
    reloaded = session.get(Face, drawn.id)
    assert reloaded is not None
    drawn = reloaded
    assert drawn.template is None and drawn.state == "pending"
    assert drawn.suggested_person_id is None
