"""The audit's snapshot: everything the quarter's report shows, gathered as plain JSON-ready data."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import (
    AuditFace,
    AuditPublication,
    Finding,
    Quarter,
    audit_findings,
    consent_status_now,
    consent_status_then,
    permission_state,
)
from consentcam.domain.types import Channel, FaceState, Scope
from consentcam.domain.vocabulary import iso as _iso
from consentcam.models import Event, utcnow
from consentcam.runtime import Runtime
from consentcam.services.audit.minis import Files, mini_thumbnails
from consentcam.services.audit.rescan import RESCAN_METHOD, Progress, rescan_quarter
from consentcam.services.audit.snapshot_facts import Facts, Pub, load_facts

SNAPSHOT_FORMAT = 1


def build_snapshot(
    session: so.Session,
    rt: Runtime,
    quarter: Quarter,
    *,
    rescan: bool = False,
    progress: Progress | None = None,
    at: datetime | None = None,
    thumbnails: bool = True,
    unaccounted: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Gather everything the quarter's report shows, as plain JSON-ready data.

    Loads in bulk (a fixed number of queries whatever the number of publications). ``at`` is
    the moment "now" in the report; the default is the present. With ``rescan`` and no
    ``unaccounted`` counts given, the published copies are scanned here.
    """
    now = at or utcnow()
    facts = load_facts(session, quarter)
    if rescan and unaccounted is None:
        unaccounted = rescan_quarter(session, rt, quarter, progress)
    counts = (unaccounted or {}) if rescan else None
    views = _audit_views(facts, Files(rt), counts)
    findings = audit_findings(
        views, facts.consents, facts.permissions, facts.tasks, now, names=facts.names
    )
    lines = _Lines(facts, now, findings, counts)
    publications = [lines.publication(p, view) for p, view in zip(facts.pubs, views, strict=True)]
    thumbs: dict[str, str] = {}
    if thumbnails:
        made = mini_thumbnails(rt, (p.photo for p in facts.pubs))
        thumbs = {str(k): v for k, v in made.items()}
    return _document(session, rt, quarter, now, rescan, findings, lines.chart, publications, thumbs)


def _audit_views(
    facts: Facts, files: Files, unaccounted: dict[int, int] | None
) -> list[AuditPublication]:
    """Each publication as the domain's audit sees it (its faces, its copy on disk, its re-scan)."""
    views: list[AuditPublication] = []
    for p in facts.pubs:
        row = p.row
        faces = [
            AuditFace(
                face_id=f.id,
                number=f.number,
                state=FaceState(f.state),
                person_id=f.person_id,
                blur=f.blur,
                not_identifiable_reason=f.not_identifiable_reason,
                consent_id_at_publish=facts.consent_id_at_publish(row.id, f.id),
            )
            for f in facts.faces_by_photo.get(p.photo.id, ())
        ]
        views.append(
            AuditPublication(
                id=row.id,
                photo_id=p.photo.id,
                channel=Channel(row.channel),
                published_at=row.published_at,
                live=row.live,
                cleared_copy_present=files.exists(row.cleared_copy_key),
                supplier_id=p.photo.supplier_id,
                faces=tuple(faces),
                supplier_permission_id_at_publish=row.supplier_permission_id,
                unaccounted_faces_on_rescan=None
                if unaccounted is None
                else unaccounted.get(row.id),
                faces_confirmed_at_publish=row.faces_confirmed_at is not None,
                faces_confirmed_now=p.photo.faces_confirmed_at is not None,
            )
        )
    return views


class _Lines:
    """Writes the report's line of each publication and counts them for the chart."""

    def __init__(
        self,
        facts: Facts,
        now: datetime,
        findings: Sequence[Finding],
        unaccounted: dict[int, int] | None,
    ) -> None:
        self.facts = facts
        self.now = now
        self.unaccounted = unaccounted
        self.findings_by_pub: dict[int, int] = defaultdict(int)
        for f in findings:
            self.findings_by_pub[f.publication_id] += 1
        self.chart: dict[str, dict[str, int]] = {}
        # People with a consent that lists photos: where they stand depends on the photo.
        self.listing = {
            pid
            for pid, items in facts.consents.items()
            if any(c.scope is Scope.LISTED for c in items)
        }
        self.status_now: dict[tuple[int | None, Channel, int], str] = {}

    def publication(self, p: Pub, view: AuditPublication) -> dict[str, Any]:
        row, pub_id = p.row, view.id
        if not row.live:
            status = "taken_down"
        elif self.findings_by_pub.get(pub_id):
            status = "findings"
        else:
            status = "ok"
        counts = self.chart.setdefault(
            view.channel.value, {"ok": 0, "findings": 0, "taken_down": 0}
        )
        counts[status] += 1
        return {
            "id": pub_id,
            "photo_id": view.photo_id,
            "photo_name": p.photo.original_name,
            "channel": view.channel.value,
            "url": row.url,
            "published_at": _iso(row.published_at),
            "live": row.live,
            "removed_at": _iso(row.removed_at),
            "cleared_copy_present": view.cleared_copy_present,
            "supplier_permission": self.permission(p, view.channel),
            "unaccounted": None if self.unaccounted is None else self.unaccounted.get(pub_id),
            "faces_confirmed_at": _iso(row.faces_confirmed_at),
            "status": status,
            "finding_count": self.findings_by_pub.get(pub_id, 0),
            "faces": [self.face(p, view, face) for face in view.faces],
        }

    def face(self, p: Pub, view: AuditPublication, face: AuditFace) -> dict[str, Any]:
        pf = self.facts.covered.get((view.id, face.face_id))
        how = pf.how if pf is not None else None
        pid = face.person_id if face.person_id is not None else (pf.person_id if pf else None)
        then = "not reviewed"
        if how == "consent":
            consent = self.facts.consent_by_id.get(pf.consent_id) if pf and pf.consent_id else None
            then = consent_status_then(
                consent, view.channel, p.row.published_at, view.photo_id
            ).value
        elif how in ("blur", "not_identifiable", "supplier"):
            then = how
        return {
            "face_id": face.face_id,
            "number": face.number,
            "person_id": pid,
            "person": self.facts.names.get(pid, f"Person #{pid}") if pid is not None else None,
            "how": how,
            "consent_id": pf.consent_id if pf else None,
            "then": then,
            "now": self.face_now(view, face),
            "reason": face.not_identifiable_reason,
        }

    def face_now(self, view: AuditPublication, face: AuditFace) -> str:
        """Where the face stands today: its mark, or its person's consent for the channel."""
        if face.blur:
            return "blur"
        if face.state is FaceState.NOT_IDENTIFIABLE:
            return "not_identifiable"
        if face.state is not FaceState.CONFIRMED:
            return "not_confirmed"
        # Where a person stands now depends on the photo only through consents that list
        # photos; without those one answer per person and channel serves every post.
        photo_key = view.photo_id if face.person_id in self.listing else 0
        key = (face.person_id, view.channel, photo_key)
        known = self.status_now.get(key)
        if known is None:
            consents = self.facts.consents
            known = consent_status_now(face, consents, view.channel, self.now, view.photo_id).value
            self.status_now[key] = known
        return known

    def permission(self, p: Pub, channel: Channel) -> dict[str, Any] | None:
        """The supplier's permission the post went out under: as it stood then, and now."""
        perm_id = p.row.supplier_permission_id
        if perm_id is None:
            return None
        sp = self.facts.perm_by_id.get(perm_id)
        return {
            "id": perm_id,
            "supplier": p.supplier_name,
            "then": permission_state(sp, channel, p.row.published_at),
            "now": permission_state(sp, channel, self.now),
        }


def _document(
    session: so.Session,
    rt: Runtime,
    quarter: Quarter,
    now: datetime,
    rescan: bool,
    findings: Sequence[Finding],
    chart: dict[str, dict[str, int]],
    publications: list[dict[str, Any]],
    thumbs: dict[str, str],
) -> dict[str, Any]:
    """The snapshot itself: the quarter, who it is for, the log's head and every line."""
    head = session.execute(
        sa.select(Event.seq, Event.hash).order_by(Event.seq.desc()).limit(1)
    ).first()
    return {
        "format": SNAPSHOT_FORMAT,
        "quarter": str(quarter),
        "period": {"start": _iso(quarter.start), "end": _iso(quarter.end)},
        "generated_at": _iso(now),
        "business": rt.settings.get("BUSINESS_NAME") or "",
        "responsible": rt.settings.get("RESPONSIBLE_PERSON") or "",
        # The report is written in the business's language, with times in its time zone.
        "language": str(rt.settings.get("LANGUAGE") or "en"),
        "time_zone": str(rt.settings.get("TIME_ZONE") or "Europe/Stockholm"),
        "rescan": rescan,
        "rescan_method": RESCAN_METHOD if rescan else None,
        "event_head": {"seq": head.seq, "hash": head.hash} if head else None,
        "findings": [_finding(f) for f in findings],
        "chart": dict(sorted(chart.items())),
        "publications": publications,
        "thumbs": thumbs,
    }


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "kind": f.kind.value,
        "severity": f.severity,
        "publication_id": f.publication_id,
        "face_id": f.face_id,
        "task_id": f.task_id,
        "message": f.message,
        "params": dict(f.params),
    }
