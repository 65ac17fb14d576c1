"""The audit as a printable A4 PDF (fpdf2): the same findings, chart and tables as the HTML."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fpdf import FPDF

from consentcam.reports import (
    FINDING_LABELS,
    STATUS_LABELS,
    channel_label,
    face_person,
    finding_text,
    i18n,
    words,
)
from consentcam.reports.chart import draw_chart, totals
from consentcam.wording import N_

# DejaVu prints å, ä, ö and every Latin letter; a copy ships in consentcam/fonts for machines
# without Debian's fonts-dejavu-core.
FONT_DIRS = (
    Path(__file__).resolve().parents[1] / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
)


class FontMissing(RuntimeError):
    """No DejaVu Sans TTF is available."""


def font_path(name: str) -> Path:
    for folder in FONT_DIRS:
        path = folder / name
        if path.is_file():
            return path
    raise FontMissing(f"{name} not found in {', '.join(str(d) for d in FONT_DIRS)}")


def _fit_limit(width_mm: float, size: float) -> int:
    # A character-count estimate is far cheaper than measuring each string, and DejaVu's
    # average letter is about 0.55 em wide.
    return max(3, int(width_mm / (size * 0.3528 * 0.56)))


def _fit(text: str, width_mm: float, size: float) -> str:
    limit = _fit_limit(width_mm, size)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# fpdf2's cell() keeps a 1 mm margin inside the cell; text() is placed the same way by hand.
_PAD = 1.0
_INK = (29, 35, 39)
_RED = (179, 38, 30)
_AMBER = (161, 92, 0)
_FINE_NOW = frozenset(("active", "blurred", "not identifiable", ""))


def _baseline(row_h: float, size: float) -> float:
    """Distance from a row's top to the baseline of text vertically centred in it (as cell())."""
    return row_h / 2 + 0.3 * size * 0.3528


def _wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    """Break text into lines no wider than ``width`` mm at spaces, measuring each word once."""
    space = pdf.get_string_width(" ")
    lines: list[str] = []
    line: list[str] = []
    used = 0.0
    for word in text.split():
        w = pdf.get_string_width(word)
        if line and used + space + w > width:
            lines.append(" ".join(line))
            line, used = [word], w
        else:
            used += (space if line else 0.0) + w
            line.append(word)
    if line:
        lines.append(" ".join(line))
    return lines or [""]


class _Report(FPDF):
    title_text = ""
    page_word = "page"

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 7.5)
        self.set_text_color(95, 107, 115)
        self.cell(0, 5, f"{self.title_text} · {self.page_word} {self.page_no()}/{{nb}}", align="C")


class _Language:
    """The report's language: its texts, days and moments, as the snapshot asks."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.language = str(snapshot.get("language") or "en")
        env = i18n.environment(self.language, str(snapshot.get("time_zone") or ""))
        self.day: Callable[[str], str] = env.filters["day"]
        self.moment: Callable[[str], str] = env.filters["moment"]

    def tr(self, text: str, **params: Any) -> str:
        return i18n.gettext(self.language, text, **params)

    def status_word(self, status: str | None) -> str:
        return "–" if status is None else self.tr(words(status)) if status else ""


def render_pdf(
    snapshot: dict[str, Any], *, html_sha256: str | None = None, signed: str | None = None
) -> bytes:
    """Render the PDF. ``html_sha256`` and ``signed`` print the signed original's hash and sign-off.

    In the snapshot's language (the business's when the audit ran), like the HTML report.
    """
    lang = _Language(snapshot)
    pdf = _new_report(snapshot, lang)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    _front(pdf, snapshot, lang, signed)
    _findings(pdf, snapshot["findings"], width, lang)
    _summary(pdf, snapshot, width, lang)
    _publications(pdf, snapshot["publications"], width, lang)
    _integrity(pdf, snapshot, html_sha256, lang)
    return bytes(pdf.output())


def _new_report(snapshot: dict[str, Any], lang: _Language) -> _Report:
    """An A4 document with the fonts, margins and footer of the report, on its first page."""
    quarter = i18n.quarter_label(lang.language, snapshot["quarter"])
    pdf = _Report(orientation="P", unit="mm", format="A4")
    pdf.title_text = (
        lang.tr("Audit %(quarter)s", quarter=quarter)
        + " · "
        + (snapshot.get("business") or "consentcam")
    )
    pdf.page_word = lang.tr("page")
    pdf.set_lang(lang.language)
    pdf.add_font("DejaVu", "", str(font_path("DejaVuSans.ttf")))
    pdf.add_font("DejaVu", "B", str(font_path("DejaVuSans-Bold.ttf")))
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(True, margin=16)
    pdf.alias_nb_pages()
    pdf.add_page()
    return pdf


def _front(pdf: FPDF, snapshot: dict[str, Any], lang: _Language, signed: str | None) -> None:
    """The title, the period and who is responsible, the sign-off and the totals."""
    tr = lang.tr
    quarter = i18n.quarter_label(lang.language, snapshot["quarter"])
    pdf.set_font("DejaVu", "B", 17)
    pdf.cell(
        0, 9, tr("Quarterly audit %(quarter)s", quarter=quarter), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("DejaVu", "", 9)
    pdf.set_text_color(95, 107, 115)
    pdf.multi_cell(
        0,
        4.6,
        f"{snapshot.get('business') or ''} · "
        + tr(
            "period %(start)s to %(end)s",
            start=lang.day(snapshot["period"]["start"]),
            end=lang.day(_last_day(snapshot["period"]["end"])),
        )
        + " · "
        + tr("made %(when)s", when=lang.moment(snapshot["generated_at"]))
        + " · "
        + tr("Responsible person: %(name)s.", name=snapshot.get("responsible") or "–"),
        new_x="LMARGIN",
        new_y="NEXT",
        align="L",
    )
    if signed:
        pdf.set_text_color(31, 111, 92)
        pdf.set_font("DejaVu", "B", 9.5)
        pdf.multi_cell(0, 5, signed, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_text_color(29, 35, 39)
    pubs = snapshot["publications"]
    findings = snapshot["findings"]
    t = totals(snapshot["chart"])
    pdf.ln(1)
    pdf.set_font("DejaVu", "", 10)
    pdf.cell(
        0,
        6,
        f"{len(pubs)} {tr('publications')} · {t['ok']} {tr('OK')} · "
        f"{t['findings']} {tr('With findings').lower()} · "
        f"{t['taken_down']} {tr('Taken down').lower()} · {len(findings)} {tr('findings')}",
        new_x="LMARGIN",
        new_y="NEXT",
        align="L",
    )


_FINDING_COLUMNS = ("Severity", "What", "Post", "Details")


def _findings(pdf: FPDF, findings: list[dict[str, Any]], width: float, lang: _Language) -> None:
    """The findings table: severity, what, which post and the finding in words."""
    tr = lang.tr
    _heading(pdf, tr("Findings (%(n)s)", n=len(findings)))
    if not findings:
        pdf.set_font("DejaVu", "", 9.5)
        pdf.cell(
            0,
            6,
            tr("Nothing to act on: every live post is covered."),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        return
    cols: tuple[float, ...] = (17, 50, 14, width - 81)
    _header_row(pdf, _FINDING_COLUMNS, cols)
    pdf.set_font("DejaVu", "", 8)
    line_h = 4.0
    for f in findings:
        lines = _wrap(pdf, finding_text(f, tr, lang.day), cols[3] - 1)
        h = line_h * len(lines) + 1
        if pdf.will_page_break(h):
            pdf.add_page()
            _header_row(pdf, _FINDING_COLUMNS, cols)
            pdf.set_font("DejaVu", "", 8)
        y = pdf.get_y()
        x = pdf.l_margin
        base = y + _baseline(line_h, 8)
        pdf.set_text_color(*(_RED if f["severity"] == "high" else _AMBER))
        pdf.text(x + _PAD, base, tr("high") if f["severity"] == "high" else tr("medium"))
        pdf.set_text_color(*_INK)
        pdf.text(
            x + cols[0] + _PAD,
            base,
            _fit(tr(FINDING_LABELS.get(f["kind"], f["kind"])), cols[1], 8),
        )
        pdf.text(x + cols[0] + cols[1] + _PAD, base, f"#{f['publication_id']}")
        for n, line in enumerate(lines):
            pdf.text(x + cols[0] + cols[1] + cols[2] + _PAD, base + n * line_h, line)
        pdf.set_y(y + h)
        pdf.set_draw_color(230, 233, 236)
        pdf.line(x, y + h - 0.5, x + width, y + h - 0.5)


def _summary(pdf: FPDF, snapshot: dict[str, Any], width: float, lang: _Language) -> None:
    """The chart per channel, and how the published copies were (or were not) re-scanned."""
    tr = lang.tr
    _heading(pdf, tr("Summary by channel"))
    draw_chart(pdf, snapshot["chart"], width, tr)
    pdf.set_font("DejaVu", "", 8.5)
    pdf.set_text_color(95, 107, 115)
    if snapshot.get("rescan"):
        pdf.multi_cell(
            0,
            4.2,
            tr("Re-scan.") + " " + (snapshot.get("rescan_method") or ""),
            new_x="LMARGIN",
            new_y="NEXT",
            align="L",
        )
    else:
        pdf.cell(
            0,
            5,
            tr("No re-scan of the published copies was made for this report."),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.set_text_color(29, 35, 39)


_PUBLICATION_COLUMNS = (
    N_("Post"),
    N_("Channel"),
    N_("Published"),
    N_("Status"),
    N_("Face"),
    N_("Person"),
    N_("When published"),
    N_("Now"),
)
_ROW_H = 4.6
_ROW_SIZE = 7.5


class _Table:
    """The publications table's columns: their widths, where text sits, how much fits."""

    def __init__(self, pdf: FPDF, width: float, lang: _Language) -> None:
        self.cols = (13, 21, 19, 22, 9, 40, 31, width - 155)
        self.names = tuple(lang.tr(n) for n in _PUBLICATION_COLUMNS)
        # Left edge of each column, and where its text sits: one text() per non-empty cell is
        # several times cheaper than cell(), which lays out every string as styled fragments.
        self.lefts = [pdf.l_margin + sum(self.cols[:j]) + _PAD for j in range(len(self.cols))]
        self.limits = [_fit_limit(w, _ROW_SIZE) for w in self.cols]
        self.drop = _baseline(_ROW_H, _ROW_SIZE)

    def header(self, pdf: FPDF) -> None:
        _header_row(pdf, self.names, self.cols)
        pdf.set_font("DejaVu", "", _ROW_SIZE)


def _publications(pdf: FPDF, pubs: list[dict[str, Any]], width: float, lang: _Language) -> None:
    """Every publication: its status, then one line per face (and its supplier's permission)."""
    _heading(pdf, lang.tr("Publications (%(n)s)", n=len(pubs)))
    table = _Table(pdf, width, lang)
    table.header(pdf)
    for p in pubs:
        rows = _face_rows(p, lang)
        if pdf.will_page_break(_ROW_H * len(rows)):
            pdf.add_page()
            table.header(pdf)
        y = pdf.get_y()
        for i, (cells, row) in enumerate(zip(_cells(p, rows, lang), rows, strict=True)):
            base = y + i * _ROW_H + table.drop
            _draw_cells(
                pdf, table, cells, base, bad_status=i == 0 and p["status"] == "findings", now=row[3]
            )
        pdf.set_y(y + _ROW_H * len(rows))
        pdf.set_draw_color(230, 233, 236)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())


def _face_rows(p: dict[str, Any], lang: _Language) -> list[tuple[str, str, str, str]]:
    """(face number, person, status when published, status now) for each line of a post."""
    tr = lang.tr
    rows = [
        (str(f["number"]), face_person(f, tr), lang.status_word(f["then"]), f["now"] or "")
        for f in p["faces"]
    ]
    perm = p.get("supplier_permission")
    if perm:
        rows.append(
            (
                "",
                tr("supplier permission #%(id)s", id=perm["id"]),
                lang.status_word(perm["then"]),
                perm["now"] or "",
            )
        )
    return rows or [("", tr("no faces"), "", "")]


def _cells(
    p: dict[str, Any], rows: list[tuple[str, str, str, str]], lang: _Language
) -> list[tuple[str, ...]]:
    """The text of every cell of a post's lines; the post's own columns on the first only."""
    label = STATUS_LABELS[p["status"]]
    status = lang.tr(label)
    extra = []
    if not p["cleared_copy_present"]:
        extra.append(lang.tr("copy missing"))
    if p.get("unaccounted"):
        extra.append(lang.tr("faces nobody accounts for: %(n)s", n=p["unaccounted"]))
    out = []
    for i, (num, person, then, now) in enumerate(rows):
        first = i == 0
        cells: tuple[str, ...] = (
            f"#{p['id']}" if first else "",
            channel_label(p["channel"]) if first else "",
            lang.day(p["published_at"]) if first and p["published_at"] else "",
            status if first else (", ".join(extra) if i == 1 else ""),
            num,
            person,
            then,
            lang.status_word(now) if now else "",
        )
        if first and extra and len(rows) == 1:
            cells = (*cells[:3], f"{status}; {', '.join(extra)}", *cells[4:])
        out.append(cells)
    return out


def _draw_cells(
    pdf: FPDF,
    table: _Table,
    cells: tuple[str, ...],
    base: float,
    *,
    bad_status: bool,
    now: str,
) -> None:
    """Write one line of the table at ``base``: in red the post's status when it has findings
    (``bad_status``), and the face's status ``now`` when it is not fine."""
    for j, text in enumerate(cells):
        if not text:
            continue
        bad = (j == 3 and bad_status) or (j == 7 and words(now) not in _FINE_NOW)
        if len(text) > table.limits[j]:
            text = text[: table.limits[j] - 1] + "…"
        if bad:
            pdf.set_text_color(*_RED)
            pdf.text(table.lefts[j], base, text)
            pdf.set_text_color(*_INK)
        else:
            pdf.text(table.lefts[j], base, text)


def _integrity(
    pdf: FPDF, snapshot: dict[str, Any], html_sha256: str | None, lang: _Language
) -> None:
    """The event log's head and the signed original's hash this rendering belongs to."""
    tr = lang.tr
    _heading(pdf, tr("Integrity"))
    pdf.set_font("DejaVu", "", 8)
    head = snapshot.get("event_head")
    lines = []
    if head:
        lines.append(
            tr(
                "Event log head when this report was made: event %(seq)s, %(hash)s.",
                seq=head["seq"],
                hash=head["hash"],
            )
        )
    if html_sha256:
        lines.append(tr("SHA-256 of the signed HTML report: %(sha)s.", sha=html_sha256))
    lines.append(
        tr(
            "This PDF is a printable rendering of the same data; the HTML report is the "
            "signed original."
        )
    )
    pdf.multi_cell(0, 4.2, "\n".join(lines), new_x="LMARGIN", new_y="NEXT", align="L")


def _last_day(end: str) -> str:
    """The last day of a period whose ``end`` is the first moment after it."""
    return (datetime.fromisoformat(end) - timedelta(days=1)).date().isoformat()


def _heading(pdf: FPDF, text: str) -> None:
    if pdf.will_page_break(20):
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 12.5)
    pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(217, 222, 226)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(1.5)


def _header_row(pdf: FPDF, names: tuple[str, ...], cols: tuple[float, ...]) -> None:
    pdf.set_font("DejaVu", "B", 8)
    pdf.set_fill_color(238, 240, 242)
    for name, w in zip(names, cols, strict=True):
        pdf.cell(w, 5.5, name, fill=True)
    pdf.ln(5.5)
    # With the fill colour equal to the ink, text() writes no colour operators for plain text
    # (it wraps each string in its own colour otherwise): a tenth of the PDF's time at 10,000 rows.
    pdf.set_fill_color(*_INK)
