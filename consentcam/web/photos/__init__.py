"""Photos: upload with progress, the list by review state, the review page of one photo."""

from __future__ import annotations

import io
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from PIL import Image

from consentcam.domain.types import ScanState
from consentcam.faces.decode import ImageRejected, load_upright
from consentcam.models import Face, Person, Photo
from consentcam.security import parse_id
from consentcam.services import confirmation, gate, marking, photo_list, review
from consentcam.services import people as people_service
from consentcam.services import photos as photos_service
from consentcam.web import db, runtime, transaction, words
from consentcam.web.photos import shared, tiles
from consentcam.web.translate import gettext as _
from consentcam.wording import N_

bp = Blueprint("photos", __name__, url_prefix="/photos")
PER_PAGE = 30
#: Photos on one page of the review list (oldest first).
REVIEW_PAGE = 100
# Names offered by the picker: a short list while typing, a longer one on a page without script.
SEARCH_MATCHES = 20
PAGE_MATCHES = 50
REVIEW_SIDE = 1600
STATE_LABELS = {
    "needs_review": N_("Needs review"),
    "cleared": N_("Cleared"),
    "blocked": N_("Blocked"),
    "scanning": N_("Waiting for scan"),
    "failed": N_("Scan failed"),
}


def _user() -> Any:
    return current_user._get_current_object()


def _photo(photo_id: int) -> Photo:
    photo = photos_service.photo_by_id(db(), photo_id)
    if photo is None:
        abort(404)
    return photo


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


@bp.route("/")
@login_required
def index() -> Any:
    """The photos of a filter, newest first: a page older (``after``) or newer (``before``) than
    a photo, from the start, or page ``page`` of a link from before."""
    state = request.args.get("state") or None
    if state not in (None, *review.PHOTO_STATES):
        abort(404)
    channel = request.args.get("channel", "instagram")
    if channel not in shared.CHANNELS:
        channel = "instagram"
    page = request.args.get("page", 1, type=int) or 1
    listed = photo_list.photo_list(
        db(),
        state=state,
        channel=channel,
        after=parse_id(request.args.get("after", "")),
        before=parse_id(request.args.get("before", "")),
        number=max(1, min(page, 100_000)),
        per_page=PER_PAGE,
    )
    return render_template(
        "photos/index.html",
        listed=listed,
        tiles=tiles.tiles(listed.photos, listed.verdicts),
        state_labels=STATE_LABELS,
    )


@bp.route("/review")
@login_required
def waiting() -> Any:
    """Photos waiting for a person to look at them, oldest first: one tap opens the next."""
    after = parse_id(request.args.get("after", ""))
    photos, total = confirmation.waiting_photos(db(), limit=REVIEW_PAGE + 1, after=after)
    more = len(photos) > REVIEW_PAGE
    photos = photos[:REVIEW_PAGE]
    return render_template(
        "photos/review.html",
        photos=photos,
        total=total,
        after=after,
        next_after=photos[-1].id if more else None,
    )


@bp.route("/upload", methods=["GET", "POST"])
@login_required
def upload() -> Any:
    if request.method == "GET":
        return render_template("photos/upload.html", results=None)
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    if not files:
        if _wants_json():
            return jsonify({"error": _("Choose at least one photo.")}), 400
        flash(_("Choose at least one photo."), "error")
        return redirect(url_for("photos.upload"))
    session = db()
    results = []
    worst = 200
    for file in files:
        result, status = shared.upload_one(session, runtime(), file, _user(), "upload", worded=True)
        results.append(result)
        worst = max(worst, status) if status != 201 else worst
    if _wants_json():
        # One file per request from the page's script: its own status tells how it went.
        code = 201 if all(r["status"] == "created" for r in results) else worst
        return jsonify({"results": results}), code
    return render_template("photos/upload.html", results=results)


@bp.route("/status")
@login_required
def status() -> Any:
    """Scan state of the given photos (?ids=1,2,3), for the upload page to poll."""
    ids: list[int] = []
    for part in request.args.get("ids", "").split(","):
        number = parse_id(part)
        if number is not None:
            ids.append(number)
    ids = ids[:200]
    photos = photos_service.photos_by_ids(db(), ids)
    items = [shared.photo_json(p) for p in photos]
    done = sum(p.scan_state in (ScanState.DONE, ScanState.FAILED) for p in photos)
    return jsonify({"photos": items, "finished": done, "total": len(photos)})


@bp.route("/<int:photo_id>/thumbnail")
@login_required
def thumbnail(photo_id: int) -> Any:
    photo = _photo(photo_id)
    rt = runtime()
    if not rt.storage.exists(photo.thumbnail_key):
        abort(404)
    response = Response(rt.storage.read(photo.thumbnail_key or ""), mimetype="image/jpeg")
    return _private(response)


@bp.route("/<int:photo_id>/image")
@login_required
def image(photo_id: int) -> Any:
    """A downscaled, upright review copy without metadata; the original is never sent."""
    photo = _photo(photo_id)
    rt = runtime()
    try:
        decoded = load_upright(
            rt.storage.path(photo.original_key),
            max_pixels=rt.settings["MAX_PIXELS"],
            max_side=REVIEW_SIDE,
            name=photo.original_name,
        )
    except (ImageRejected, OSError):
        abort(404)
    img = Image.fromarray(decoded.rgb)
    if max(img.size) > REVIEW_SIDE:
        img.thumbnail((REVIEW_SIDE, REVIEW_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return _private(Response(out.getvalue(), mimetype="image/jpeg"))


def _private(response: Response) -> Response:
    # Photos show people: nothing is kept in the browser cache after sign-out.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/<int:photo_id>")
@login_required
def detail(photo_id: int) -> Any:
    session = db()
    photo = review.photo_for_review(session, photo_id)
    if photo is None:
        abort(404)
    decisions = gate.decide(session, photo, list(shared.CHANNELS))
    # Without JavaScript the picker searches through this page: ?face=<id>&q=<name>.
    search_face = request.args.get("face", 0, type=int) or 0
    search_text = request.args.get("q", "")[:200].strip()
    matches = (
        people_service.find_people(session, search_text, limit=PAGE_MATCHES)
        if search_face and search_text
        else []
    )
    supplier_form = "suppliers.assign_photo" in current_app.view_functions
    suppliers = review.supplier_choices(session) if supplier_form else []
    threshold = float(current_app.config["MATCH_THRESHOLD"])
    next_photo = (
        confirmation.next_to_review(session, after=photo) if photo.faces_confirmed_at else None
    )
    draw_box = _form_box(request.args) if request.args.get("draw") else None
    return render_template(
        "photos/detail.html",
        photo=photo,
        may_confirm=confirmation.may_confirm(_user()),
        faces_stamp=confirmation.faces_stamp(photo),
        next_photo=next_photo,
        min_box_side=marking.MIN_BOX_SIDE,
        draw_open=bool(request.args.get("draw")),
        draw_box=draw_box,
        decisions=decisions,
        search_face=search_face,
        search_text=search_text,
        matches=matches,
        suppliers=suppliers,
        supplier_form=supplier_form,
        threshold=threshold,
        review=review,
        shared=shared,
        has_person_page="people.detail" in current_app.view_functions,
        can_queue="queue.new" in current_app.view_functions,
    )


@bp.route("/people-search")
@login_required
def people_search() -> Any:
    """People whose name contains ?q= (any case), at most 20, for the review page's picker."""
    found = people_service.find_people(db(), request.args.get("q", ""), limit=SEARCH_MATCHES)
    return jsonify({"people": [{"id": pid, "name": name} for pid, name in found]})


def _face_action(face_id: int, action: Any) -> Any:
    face = review.face_by_id(db(), face_id)
    if face is None:
        abort(404)
    photo_id = face.photo_id
    version = request.form.get("version") or None
    try:
        with transaction() as session:
            action(session, face, version)
    except review.StaleFace:
        flash(_("Someone else changed this face meanwhile; here is how it looks now."), "error")
        return redirect(url_for("photos.detail", photo_id=photo_id))
    except review.ReviewError as exc:
        flash(_("That did not work: %(why)s", why=words.error_text(exc)), "error")
        return redirect(url_for("photos.detail", photo_id=photo_id) + f"#face-{face_id}")
    return redirect(url_for("photos.detail", photo_id=photo_id) + f"#face-{face_id}")


@bp.post("/faces/<int:face_id>/confirm")
@login_required
def confirm(face_id: int) -> Any:
    return _face_action(
        face_id, lambda s, f, v: review.confirm_face(s, runtime(), f, version=v, user=_user())
    )


@bp.post("/faces/<int:face_id>/assign")
@login_required
def assign(face_id: int) -> Any:
    def act(s: Any, f: Face, v: str | None) -> None:
        person = review.person_by_id(s, parse_id(request.form.get("person_id", "")))
        if person is None:
            raise review.ReviewError(_("choose a person from the list"))
        review.assign_face(s, runtime(), f, person, version=v, user=_user())

    return _face_action(face_id, act)


@bp.post("/faces/<int:face_id>/new-person")
@login_required
def new_person(face_id: int) -> Any:
    created: list[Person] = []

    def act(s: Any, f: Face, v: str | None) -> None:
        created.append(
            review.create_person_for_face(
                s, runtime(), f, request.form.get("name", ""), version=v, user=_user()
            )
        )

    response = _face_action(face_id, act)
    if created:
        flash(
            _(
                "%(name)s was added. Ask for their consent on their page.",
                name=created[0].name,
            ),
            "info",
        )
    return response


@bp.post("/faces/<int:face_id>/not-identifiable")
@login_required
def not_identifiable(face_id: int) -> Any:
    return _face_action(
        face_id,
        lambda s, f, v: review.mark_not_identifiable(
            s, runtime(), f, request.form.get("reason", ""), version=v, user=_user()
        ),
    )


@bp.post("/faces/<int:face_id>/blur")
@login_required
def blur(face_id: int) -> Any:
    wanted = request.form.get("blur") in ("1", "true", "on", "yes")
    return _face_action(
        face_id,
        lambda s, f, v: review.set_blur(s, runtime(), f, wanted, version=v, user=_user()),
    )


def _form_box(values: Any) -> list[int] | None:
    """The drawn box from a form's left/top/right/bottom fields; None when one is not a number."""
    out = []
    for name in ("left", "top", "right", "bottom"):
        raw = (values.get(name) or "").strip()
        try:
            out.append(round(float(raw)))
        except ValueError:
            return None
    return out


@bp.post("/<int:photo_id>/faces")
@login_required
def draw_face(photo_id: int) -> Any:
    """Add a face the scanner missed, from a box drawn on the review page."""
    photo = _photo(photo_id)
    box = _form_box(request.form)
    try:
        with transaction() as session:
            if box is None:
                raise marking.BadBox(
                    N_("give the box as four whole numbers: left, top, right, bottom")
                )
            # Once committed, the worker suggests a person for it if it can.
            face = marking.add_drawn_face(session, runtime(), photo, box, user=_user())
    except marking.MarkingError as exc:
        flash(_("That did not work: %(why)s", why=words.error_text(exc)), "error")
        keep: dict[str, Any] = dict(
            zip(("left", "top", "right", "bottom"), box or (), strict=False)
        )
        return redirect(url_for("photos.detail", photo_id=photo_id, draw=1, **keep) + "#draw-form")
    flash(_("Face %(n)d is marked. Now say who it is, or blur it.", n=face.number), "info")
    return redirect(url_for("photos.detail", photo_id=photo_id) + f"#face-{face.id}")


@bp.post("/<int:photo_id>/confirm")
@login_required
def confirm_photo(photo_id: int) -> Any:
    """Record that everyone in the photo is marked (the owner's word; nothing clears before)."""
    photo = _photo(photo_id)
    try:
        with transaction() as session:
            confirmation.confirm_photo(
                session,
                runtime(),
                photo,
                user=_user(),
                stamp=request.form.get("faces_stamp") or None,
            )
    except confirmation.NotAllowedToConfirm:
        abort(403)
    except confirmation.ConfirmationError as exc:
        flash(_("That did not work: %(why)s", why=words.error_text(exc)), "error")
        return redirect(url_for("photos.detail", photo_id=photo_id) + "#confirmation")
    flash(_("Confirmed: everyone in this photo is marked."), "info")
    return redirect(url_for("photos.detail", photo_id=photo_id) + "#confirmation")
