"""The audit report in the business's language: Swedish text, dates, quarter and chart legend."""

from __future__ import annotations

from typing import Any

from consentcam.reports.html import render_html


def snapshot(language: str) -> dict[str, Any]:
    return {
        "quarter": "2026Q4",
        "period": {"start": "2026-10-01T00:00:00+00:00", "end": "2027-01-01T00:00:00+00:00"},
        "generated_at": "2026-11-28T08:44:00+00:00",
        "business": "Kraftkällan",
        "responsible": "Ann-Christin Sundell",
        "language": language,
        "time_zone": "Europe/Stockholm",
        "run_id": 3,
        "rescan": False,
        "rescan_method": None,
        "event_head": {"seq": 12, "hash": "ab" * 32},
        "findings": [
            {
                "kind": "consent_withdrawn_online",
                "severity": "high",
                "publication_id": 7,
                "face_id": 1,
                "task_id": None,
                "message": "Post 7 on Instagram, face 1 (Anna Berg): consent was withdrawn on "
                "2026-11-20, still online.",
                "params": {
                    "publication": "7",
                    "channel": "Instagram",
                    "channel_code": "instagram",
                    "face": "1",
                    "person": "Anna Berg",
                    "date": "2026-11-20",
                },
            }
        ],
        "chart": {"instagram": {"ok": 1, "findings": 1, "taken_down": 0}},
        "publications": [
            {
                "id": 7,
                "photo_id": 2,
                "channel": "instagram",
                "status": "findings",
                "published_at": "2026-11-02T10:00:00+00:00",
                "removed_at": None,
                "photo_name": "sommar.jpg",
                "url": "https://www.instagram.com/p/x/",
                "cleared_copy_present": True,
                "unaccounted": None,
                "supplier_permission": None,
                "faces": [
                    {
                        "number": 1,
                        "person": "Anna Berg",
                        "how": "consent",
                        "consent_id": 4,
                        "then": "active",
                        "now": "withdrawn",
                    }
                ],
            }
        ],
        "thumbs": {},
    }


def test_audit_report_in_swedish() -> None:
    html = render_html(snapshot("sv"), data_sha256="cd" * 32)
    assert '<html lang="sv">' in html
    assert "Kvartalsgranskning kvartal 4 2026" in html
    assert "Ansvarig: Ann-Christin Sundell." in html
    # The chart legend, the statuses and the finding in Swedish, the date in Swedish form.
    assert "Med anmärkningar" in html and "With findings" not in html
    assert "samtycket återkallades 20 nov. 2026" in html
    assert "återkallat" in html and "samtycke nr 4" in html
    assert "gjord 2026-11-28 09:44" in html  # 08:44 UTC shown in Stockholm time
    for english in ("Quarterly audit", "Findings", "Publications (", "Taken down", "withdrawn"):
        assert english not in html, english


def test_audit_report_in_english_keeps_its_words() -> None:
    html = render_html(snapshot("en"))
    assert '<html lang="en">' in html and "Quarterly audit Q4 2026" in html
    assert "With findings" in html and "consent was withdrawn on Nov 20, 2026" in html


def test_audit_pdf_in_swedish() -> None:
    import io

    from pypdf import PdfReader

    from consentcam.reports.pdf import render_pdf

    data = render_pdf(snapshot("sv"), html_sha256="ef" * 32)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    text = " ".join(text.split())
    assert "Kvartalsgranskning kvartal 4 2026" in text
    assert "Med anmärkningar" in text and "Anmärkningar (1)" in text
    assert "samtycket återkallades" in text and "sida 1/1" in text
    for english in ("Quarterly audit", "With findings", "Findings", "page 1"):
        assert english not in text, english
