"""The audit report as one self-contained HTML file: the document that is hashed and signed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup

from consentcam.reports import (
    CHANNEL_NAMES,
    FINDING_LABELS,
    STATUS_LABELS,
    STATUS_WORDS,
    channel_label,
    face_person,
    finding_text,
    i18n,
    words,
)
from consentcam.reports.chart import svg, totals

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2327;margin:0;padding:1rem;max-width:1100px;margin:auto}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.6rem 0 .6rem;border-bottom:1px solid #d9dee2;padding-bottom:.2rem}
.meta{color:#5f6b73;margin:.2rem 0;overflow-wrap:anywhere}.tot{display:flex;flex-wrap:wrap;gap:.5rem;margin:.6rem 0}
.tot span{border:1px solid #d9dee2;border-radius:8px;padding:.3rem .6rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #e6e9ec;vertical-align:top}
.high{color:#b3261e;font-weight:600}.medium{color:#a15c00;font-weight:600}
.pub{border:1px solid #d9dee2;border-radius:10px;padding:.6rem;margin:.6rem 0;display:grid;grid-template-columns:96px 1fr;gap:.7rem;page-break-inside:avoid}
.pub img{width:96px;height:auto;border-radius:6px}.pub .noimg{width:96px;height:72px;background:#eef0f2;border-radius:6px}
.badge{display:inline-block;border-radius:999px;padding:0 .5rem;font-size:.85rem;color:#fff}
.b-ok{background:#1e7b34}.b-findings{background:#b3261e}.b-taken_down{background:#969ea5}
.bad{color:#b3261e;font-weight:600}.ok{color:#1e7b34}
.sig{border:2px solid #1f6f5c;border-radius:10px;padding:.6rem .8rem;margin:1rem 0}
.url{word-break:break-all}
svg.chart{max-width:560px;display:block}
.scroll{overflow-x:auto;max-width:100%}
td,th{overflow-wrap:anywhere}
@media (max-width:560px){.pub{grid-template-columns:64px minmax(0,1fr)}.pub img,.pub .noimg{width:64px}body{padding:.6rem}table{font-size:.85rem}}
.pub>div{min-width:0}
@media print{body{max-width:none}.pub{break-inside:avoid}}
"""

_BAD_NOW = {
    "withdrawn",
    "expired",
    "no_consent",
    "channel_not_covered",
    "outside_scope",
    "not_confirmed",
    "lapsed",
    "missing",
    "no_person",
    "not_yet_given",
}


def render_html(
    snapshot: dict[str, Any],
    *,
    data_sha256: str | None = None,
    language: str | None = None,
    time_zone: str | None = None,
) -> str:
    """Render the report: findings first, then the chart, then every publication with its faces.

    In the snapshot's language (the business's, when the audit ran) unless ``language`` is given,
    with times in its time zone.
    """
    language = language or str(snapshot.get("language") or "en")
    env = i18n.environment(language, time_zone or str(snapshot.get("time_zone") or ""))
    day = env.filters["day"]

    def gettext(text: str, **params: Any) -> str:
        return i18n.gettext(language, text, **params)

    def status_word(status: str | None) -> str:
        return "–" if status is None else str(gettext(STATUS_WORDS.get(status, words(status))))

    def cover(face: dict[str, Any]) -> str:
        how = face.get("how")
        text = "–" if how is None else status_word(how)
        if how == "consent" and face.get("consent_id"):
            text = str(gettext("consent #%(id)s", id=face["consent_id"]))
        if face.get("reason"):
            text += f" ({face['reason']})"
        return text

    end = datetime.fromisoformat(snapshot["period"]["end"]) - timedelta(days=1)
    return env.get_template("audit_report.html").render(
        s=snapshot,
        css=Markup(_CSS),
        quarter_name=i18n.quarter_label(language, snapshot["quarter"]),
        last_day=end.date().isoformat(),
        pubs=snapshot["publications"],
        findings=snapshot["findings"],
        totals=totals(snapshot["chart"]),
        status_labels=STATUS_LABELS,
        finding_labels=FINDING_LABELS,
        finding_text=lambda f: finding_text(f, gettext, day),
        chart=Markup(svg(snapshot["chart"], gettext=gettext)),
        thumbs=snapshot.get("thumbs") or {},
        channel=lambda code: gettext(CHANNEL_NAMES.get(code, channel_label(code))),
        person=lambda face: face_person(face, gettext),
        cover=cover,
        status_word=status_word,
        bad_now=_BAD_NOW,
        data_sha256=data_sha256,
    )
