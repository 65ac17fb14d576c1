"""The audit report as one self-contained HTML file: the document that is hashed and signed."""

from __future__ import annotations

from html import escape
from typing import Any

from consentcam.reports import (
    FINDING_LABELS,
    STATUS_LABELS,
    channel_label,
    face_person,
    words,
)
from consentcam.reports.chart import svg, totals

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2327;margin:0;padding:1rem;max-width:1100px;margin:auto}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.6rem 0 .6rem;border-bottom:1px solid #d9dee2;padding-bottom:.2rem}
.meta{color:#5f6b73;margin:.2rem 0}.tot{display:flex;flex-wrap:wrap;gap:.5rem;margin:.6rem 0}
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
@media (max-width:560px){.pub{grid-template-columns:64px 1fr}.pub img,.pub .noimg{width:64px}}
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


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "-"


def render_html(snapshot: dict[str, Any], *, data_sha256: str | None = None) -> str:
    """Render the report: findings first, then the chart, then every publication with its faces."""
    e = escape
    out: list[str] = []
    w = out.append
    q = snapshot["quarter"]
    w('<!doctype html><html lang="en"><head><meta charset="utf-8">')
    w('<meta name="viewport" content="width=device-width, initial-scale=1">')
    w(f"<title>Audit {e(q)} · {e(snapshot.get('business') or 'consentcam')}</title>")
    w(f"<style>{_CSS}</style></head><body>")
    w(f"<h1>Quarterly audit {e(q)}</h1>")
    w(
        f'<p class="meta">{e(snapshot.get("business") or "")} · period {_day(snapshot["period"]["start"])} '
        f"to {_day(snapshot['period']['end'])} (end exclusive) · made {e(snapshot['generated_at'][:16].replace('T', ' '))} UTC"
        + (f" · run {snapshot['run_id']}" if snapshot.get("run_id") else "")
        + "</p>"
    )
    w(
        f'<p class="meta">Responsible person: {e(snapshot.get("responsible") or "-")}. '
        "Covers every publication out by the end of the quarter that is live, or was taken down "
        "during it. Consent is shown as it stood when published and as it stands now.</p>"
    )
    pubs = snapshot["publications"]
    findings = snapshot["findings"]
    t = totals(snapshot["chart"])
    w('<div class="tot">')
    w(f"<span><b>{len(pubs)}</b> publications</span>")
    for status, label in STATUS_LABELS.items():
        w(f"<span><b>{t[status]}</b> {e(label.lower())}</span>")
    w(f'<span class="{"high" if findings else "ok"}"><b>{len(findings)}</b> findings</span></div>')

    w(f'<h2 id="findings">Findings ({len(findings)})</h2>')
    if not findings:
        w('<p class="ok">Nothing to act on: every live post is covered.</p>')
    else:
        w(
            "<table><thead><tr><th>Severity</th><th>What</th><th>Post</th><th>Details</th></tr></thead><tbody>"
        )
        for f in findings:
            w(
                f'<tr><td class="{e(f["severity"])}">{e(f["severity"])}</td>'
                f"<td>{e(FINDING_LABELS.get(f['kind'], f['kind']))}</td>"
                f'<td><a href="#pub-{f["publication_id"]}">#{f["publication_id"]}</a></td>'
                f"<td>{e(f['message'])}</td></tr>"
            )
        w("</tbody></table>")

    w('<h2 id="summary">Summary by channel</h2>')
    w(svg(snapshot["chart"]))
    if snapshot.get("rescan"):
        w(f"<p><b>Re-scan.</b> {e(snapshot.get('rescan_method') or '')}</p>")
    else:
        w('<p class="meta">No re-scan of the published copies was made for this report.</p>')

    w(f'<h2 id="publications">Publications ({len(pubs)})</h2>')
    thumbs = snapshot.get("thumbs") or {}
    for p in pubs:
        w(f'<section class="pub" id="pub-{p["id"]}">')
        thumb = thumbs.get(str(p["photo_id"]))
        w(f'<img src="{thumb}" alt="">' if thumb else '<div class="noimg"></div>')
        w("<div>")
        state = STATUS_LABELS[p["status"]]
        w(
            f"<b>#{p['id']} · {e(channel_label(p['channel']))}</b> "
            f'<span class="badge b-{p["status"]}">{e(state)}</span><br>'
            f"Published {_day(p['published_at'])}"
            + (f" · taken down {_day(p['removed_at'])}" if p.get("removed_at") else "")
            + f" · photo {e(p['photo_name'])}"
        )
        if p.get("url"):
            w(f'<br><a class="url" href="{e(p["url"])}" rel="noreferrer">{e(p["url"])}</a>')
        if not p["cleared_copy_present"]:
            w('<br><span class="bad">The published copy is missing from storage.</span>')
        if p.get("unaccounted"):
            w(
                f'<br><span class="bad">Re-scan: {p["unaccounted"]} face(s) nobody accounts for.</span>'
            )
        perm = p.get("supplier_permission")
        if perm:
            cls = "bad" if perm["now"] != "active" else "ok"
            w(
                f"<br>Supplier permission #{perm['id']} ({e(perm.get('supplier') or '')}): "
                f'when published {e(words(perm["then"]))}, now <span class="{cls}">{e(words(perm["now"]))}</span>'
            )
        if p["faces"]:
            w(
                "<table><thead><tr><th>Face</th><th>Person</th><th>Covered by</th><th>When published</th><th>Now</th></tr></thead><tbody>"
            )
            for face in p["faces"]:
                how = face.get("how")
                cover = "-" if how is None else words(how)
                if how == "consent" and face.get("consent_id"):
                    cover = f"consent #{face['consent_id']}"
                if face.get("reason"):
                    cover += f" ({face['reason']})"
                now_cls = "bad" if face["now"] in _BAD_NOW else "ok"
                then_cls = (
                    "bad" if face["then"] in _BAD_NOW or face["then"] == "not reviewed" else ""
                )
                w(
                    f"<tr><td>{face['number']}</td><td>{e(face_person(face))}</td><td>{e(cover)}</td>"
                    f'<td class="{then_cls}">{e(words(face["then"]))}</td>'
                    f'<td class="{now_cls}">{e(words(face["now"]))}</td></tr>'
                )
            w("</tbody></table>")
        else:
            w('<p class="meta">No faces were found in this photo.</p>')
        w("</div></section>")

    head = snapshot.get("event_head")
    w('<h2 id="integrity">Integrity</h2><p class="meta">')
    if head:
        w(f"Event log head when this report was made: event {head['seq']}, {e(head['hash'])}.<br>")
    if data_sha256:
        w(f"SHA-256 of the report's data file: {e(data_sha256)}.<br>")
    w(
        "The SHA-256 of this HTML file is kept with the audit run; the app checks it each time "
        "the report is shown or downloaded. The sign-off is recorded beside the report, not in it, "
        "so signing does not change this file.</p>"
    )
    w("</body></html>")
    return "".join(out)
