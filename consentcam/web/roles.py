"""Who may use each route: one table for the web pages and the API alike.

Staff upload, review and suggest; only the owner, or a staff member the owner has granted
"may publish" (Settings, Users), marks a face not identifiable or blurred, confirms a photo as
complete, queues and publishes; consent, people, suppliers, users, settings and audits are the
owner's. The README's role table is this table.
"""

from __future__ import annotations

from typing import Any

from flask import abort

from consentcam.services.users import may_publish

PUBLIC = "anyone"
STAFF = "staff"
PUBLISH = "may publish"
OWNER = "owner"

#: Endpoint -> the least role that may use it. Endpoints not listed: GET needs a signed-in
#: user, anything else the owner (a new write route is closed until it is placed here).
ROUTE_ROLES: dict[str, str] = {
    # Anyone: sign-in, the language switch, public cleared-copy links, static files.
    "auth.login": PUBLIC,
    "auth.language": PUBLIC,
    "public.cleared_copy": PUBLIC,
    "static": PUBLIC,
    "queue.static": PUBLIC,
    # A customer's own pages: the unguessable token in the link is the key (see web/mine).
    "mine.sign": PUBLIC,
    "mine.page": PUBLIC,
    "mine.receipt": PUBLIC,
    "mine.receipt_pdf": PUBLIC,
    "mine.copy": PUBLIC,
    "mine.erase": PUBLIC,
    "mine.withdraw": PUBLIC,
    "mine.new_link": PUBLIC,
    "mine.send_code": PUBLIC,
    # Every signed-in user: look, upload, review faces and suggest who they are.
    "auth.logout": STAFF,
    "auth.logout_everywhere": STAFF,
    "auth.account": STAFF,
    "auth.password": STAFF,
    "auth.end_session": STAFF,
    "dashboard.index": STAFF,
    "photos.index": STAFF,
    "photos.detail": STAFF,
    "photos.image": STAFF,
    "photos.thumbnail": STAFF,
    "photos.status": STAFF,
    "photos.upload": STAFF,
    "photos.people_search": STAFF,
    "photos.assign": STAFF,
    "photos.confirm": STAFF,
    "photos.draw_face": STAFF,
    "photos.waiting": STAFF,
    "people.index": STAFF,
    "people.detail": STAFF,
    "suppliers.index": STAFF,
    "suppliers.detail": STAFF,
    "queue.index": STAFF,
    "queue.detail": STAFF,
    "queue.progress": STAFF,
    "queue.publications": STAFF,
    "removals.index": STAFF,
    "removals.detail": STAFF,
    "api.openapi": STAFF,
    "api.list_people": STAFF,
    "api.get_person": STAFF,
    "api.list_consents": STAFF,
    "api.get_consent": STAFF,
    "api.list_photos": STAFF,
    "api.get_photo": STAFF,
    "api.photo_faces": STAFF,
    "api.photo_gate": STAFF,
    "api.upload_photos": STAFF,
    "api.assign_face": STAFF,
    "api.confirm_face": STAFF,
    "api.draw_face": STAFF,
    "api.list_queue": STAFF,
    "api.get_queue_item": STAFF,
    "api.list_publications": STAFF,
    "api.get_publication": STAFF,
    "api.list_removal_tasks": STAFF,
    "api.get_removal_task": STAFF,
    "api.list_suppliers": STAFF,
    "api.list_permissions": STAFF,
    # The owner, or staff with the owner's grant: clear faces, confirm photos, queue, publish.
    "photos.not_identifiable": PUBLISH,
    "photos.blur": PUBLISH,
    "photos.confirm_photo": PUBLISH,
    "queue.new": PUBLISH,
    "queue.publish": PUBLISH,
    "queue.manual": PUBLISH,
    "queue.cancel": PUBLISH,
    "queue.download": PUBLISH,
    "api.face_not_identifiable": PUBLISH,
    "api.face_blur": PUBLISH,
    "api.confirm_photo": PUBLISH,
    "api.create_queue_item": PUBLISH,
    "api.cancel_queue_item": PUBLISH,
    "api.publish_queue_item": PUBLISH,
    "api.manual_publication": PUBLISH,
    # The owner: people and consent, suppliers, removals, audits, users and settings.
    "photos.new_person": OWNER,
    "people.new": OWNER,
    "people.edit": OWNER,
    "people.consent_new": OWNER,
    "people.evidence": OWNER,
    "people.form_pdf": OWNER,
    "people.reference_upload": OWNER,
    "privacy.erase": OWNER,
    "privacy.erase_confirm": OWNER,
    "privacy.export": OWNER,
    "privacy.export_download": OWNER,
    "withdrawals.new": OWNER,
    "suppliers.new": OWNER,
    "suppliers.permission_new": OWNER,
    "suppliers.revoke": OWNER,
    "suppliers.document": OWNER,
    "suppliers.assign_photo": OWNER,
    "removals.close": OWNER,
    "audits.index": OWNER,
    "audits.detail": OWNER,
    "audits.download": OWNER,
    "audits.progress": OWNER,
    "audits.records": OWNER,
    "audits.report": OWNER,
    "audits.run": OWNER,
    "audits.sign": OWNER,
    "settings.index": OWNER,
    "settings.users": OWNER,
    "settings.deactivate": OWNER,
    "settings.grant_publish": OWNER,
    "settings.tokens": OWNER,
    "settings.revoke_token": OWNER,
    "queue.connections": OWNER,
    "links.new": OWNER,
    "links.show": OWNER,
    "links.state": OWNER,
    "links.replace": OWNER,
    "links.revoke": OWNER,
    "links.request_done": OWNER,
    "links.mail_retry": OWNER,
    "api.create_consent_link": OWNER,
    "api.get_consent_link": OWNER,
    "api.create_person": OWNER,
    "api.update_person": OWNER,
    "api.give_consent": OWNER,
    "api.withdraw_person": OWNER,
    "api.create_supplier": OWNER,
    "api.create_permission": OWNER,
    "api.revoke_permission": OWNER,
    "api.close_removal_task": OWNER,
    "api.create_audit": OWNER,
    "api.list_audits": OWNER,
    "api.get_audit": OWNER,
    "api.sign_audit": OWNER,
}


def role_of(endpoint: str | None, method: str = "GET") -> str:
    """The least role that may use ``endpoint`` with ``method``."""
    if endpoint is None:
        return STAFF
    role = ROUTE_ROLES.get(endpoint)
    if role is not None:
        return role
    if endpoint.endswith(".static"):
        return PUBLIC
    return STAFF if method in ("GET", "HEAD", "OPTIONS") else OWNER


def allowed(role: str, user: Any) -> bool:
    """May ``user`` (signed in) use a route that needs ``role``?"""
    if role in (PUBLIC, STAFF):
        return True
    if role == PUBLISH:
        return may_publish(user)
    return bool(getattr(user, "is_owner", False))


def require(endpoint: str | None, user: Any, method: str | None = None) -> None:
    """403 unless ``user`` may use ``endpoint``."""
    from flask import request

    role = role_of(endpoint, method or request.method)
    if role != PUBLIC and not allowed(role, user):
        abort(
            403,
            description=f"only {'the owner' if role == OWNER else 'a user who may publish'} may do this",
        )


def init_app(app: Any) -> None:
    """Check every signed-in web request against the table (the API checks after its token)."""
    from flask import request
    from flask_login import current_user

    @app.before_request
    def _role_check() -> None:
        if request.blueprint == "api" or not current_user.is_authenticated:
            return  # the API checks after reading its token; login_required sends others to sign in
        require(request.endpoint, current_user)
