"""The audit as a printable A4 PDF (fpdf2): the same findings, chart and tables as the HTML."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fpdf import FPDF

from consentcam.reports import (
    CHANNEL_NAMES,
    FINDING_LABELS,
    STATUS_COLOURS,
    STATUS_LABELS,
    STATUS_ORDER,
    channel_label,
    face_person,
    finding_text,
    i18n,
    words,
)
from consentcam.reports.chart import bars, totals
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


def render_pdf(
    snapshot: dict[str, Any], *, html_sha256: str | None = None, signed: str | None = None
) -> bytes:
    """Render the PDF. ``html_sha256`` and ``signed`` print the signed original's hash and sign-off.

    In the snapshot's language (the business's when the audit ran), like the HTML report.
    """
    language = str(snapshot.get("language") or "en")
    env = i18n.environment(language, str(snapshot.get("time_zone") or ""))
    day, moment = env.filters["day"], env.filters["moment"]

    def tr(text: str, **params: Any) -> str:
        return i18n.gettext(language, text, **params)

    def status_word(status: str | None) -> str:
        return "–" if status is None else tr(words(status)) if status else ""

    quarter = i18n.quarter_label(language, snapshot["quarter"])
    pdf = _Report(orientation="P", unit="mm", format="A4")
    pdf.title_text = (
        tr("Audit %(quarter)s", quarter=quarter)
        + " · "
        + (snapshot.get("business") or "consentcam")
    )
    pdf.page_word = tr("page")
    pdf.set_lang(language)
    pdf.add_font("DejaVu", "", str(font_path("DejaVuSans.ttf")))
    pdf.add_font("DejaVu", "B", str(font_path("DejaVuSans-Bold.ttf")))
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(True, margin=16)
    pdf.alias_nb_pages()
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

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
            start=day(snapshot["period"]["start"]),
            end=day(_last_day(snapshot["period"]["end"])),
        )
        + " · "
        + tr("made %(when)s", when=moment(snapshot["generated_at"]))
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
    else:
        cols: tuple[float, ...] = (17, 50, 14, width - 81)
        _header_row(pdf, ("Severity", "What", "Post", "Details"), cols)
        pdf.set_font("DejaVu", "", 8)
        line_h = 4.0
        for f in findings:
            lines = _wrap(pdf, finding_text(f, tr, day), cols[3] - 1)
            h = line_h * len(lines) + 1
            if pdf.will_page_break(h):
                pdf.add_page()
                _header_row(pdf, ("Severity", "What", "Post", "Details"), cols)
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

    _heading(pdf, tr("Summary by channel"))
    _chart(pdf, snapshot["chart"], width, tr)
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

    _heading(pdf, tr("Publications (%(n)s)", n=len(pubs)))
    cols = (13, 21, 19, 22, 9, 40, 31, width - 155)
    names = tuple(
        tr(n)
        for n in (
            N_("Post"),
            N_("Channel"),
            N_("Published"),
            N_("Status"),
            N_("Face"),
            N_("Person"),
            N_("When published"),
            N_("Now"),
        )
    )
    _header_row(pdf, names, cols)
    pdf.set_font("DejaVu", "", 7.5)
    row_h = 4.6
    # Left edge of each column, and where its text sits: one text() per non-empty cell is several
    # times cheaper than cell(), which lays out every string as styled fragments.
    lefts = [pdf.l_margin + sum(cols[:j]) + _PAD for j in range(len(cols))]
    limits = [_fit_limit(w, 7.5) for w in cols]
    drop = _baseline(row_h, 7.5)
    for p in pubs:
        label = STATUS_LABELS[p["status"]]
        status = tr(label)
        extra = []
        if not p["cleared_copy_present"]:
            extra.append(tr("copy missing"))
        if p.get("unaccounted"):
            extra.append(tr("faces nobody accounts for: %(n)s", n=p["unaccounted"]))
        perm = p.get("supplier_permission")
        rows = [
            (str(f["number"]), face_person(f, tr), status_word(f["then"]), f["now"] or "")
            for f in p["faces"]
        ]
        if perm:
            rows.append(
                (
                    "",
                    tr("supplier permission #%(id)s", id=perm["id"]),
                    status_word(perm["then"]),
                    perm["now"] or "",
                )
            )
        if not rows:
            rows = [("", tr("no faces"), "", "")]
        if pdf.will_page_break(row_h * len(rows)):
            pdf.add_page()
            _header_row(pdf, names, cols)
            pdf.set_font("DejaVu", "", 7.5)
        y = pdf.get_y()
        for i, (num, person, then, now) in enumerate(rows):
            first = i == 0
            cells = (
                f"#{p['id']}" if first else "",
                channel_label(p["channel"]) if first else "",
                day(p["published_at"]) if first and p["published_at"] else "",
                status if first else (", ".join(extra) if i == 1 else ""),
                num,
                person,
                then,
                status_word(now) if now else "",
            )
            if first and extra and len(rows) == 1:
                cells = (*cells[:3], f"{status}; {', '.join(extra)}", *cells[4:])
            base = y + i * row_h + drop
            for j, text in enumerate(cells):
                if not text:
                    continue
                bad = (j == 3 and first and p["status"] == "findings") or (
                    j == 7 and words(now) not in _FINE_NOW
                )
                if len(text) > limits[j]:
                    text = text[: limits[j] - 1] + "…"
                if bad:
                    pdf.set_text_color(*_RED)
                    pdf.text(lefts[j], base, text)
                    pdf.set_text_color(*_INK)
                else:
                    pdf.text(lefts[j], base, text)
        pdf.set_y(y + row_h * len(rows))
        pdf.set_draw_color(230, 233, 236)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())

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
    return bytes(pdf.output())


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


def _chart(
    pdf: FPDF,
    chart: dict[str, dict[str, int]],
    width: float,
    tr: Callable[..., str] = lambda text, **kw: text,
) -> None:
    """Draw the stacked bars with rectangles and text, like the HTML's SVG."""
    layout, _ = bars(chart)
    label_w, row_h, gap = 28.0, 7.0, 3.0
    plot_w = width - label_w - 14
    needed = 10 + max(1, len(chart)) * (row_h + gap)
    if pdf.will_page_break(needed):
        pdf.add_page()
    x0, y0 = pdf.l_margin, pdf.get_y()
    # Legend
    pdf.set_font("DejaVu", "", 8.5)
    lx = x0 + label_w
    for status in STATUS_ORDER:
        pdf.set_fill_color(*STATUS_COLOURS[status])
        pdf.rect(lx, y0 + 1, 3.5, 3.5, style="F")
        pdf.set_xy(lx + 5, y0)
        label = tr(STATUS_LABELS[status])
        pdf.cell(pdf.get_string_width(label) + 2, 5.5, label)
        lx += pdf.get_string_width(label) + 12
    top = y0 + 8
    if not chart:
        pdf.set_xy(x0 + label_w, top)
        pdf.cell(0, 6, tr("No publications in this quarter."))
    pdf.set_font("DejaVu", "", 9)
    for row, (channel, counts) in enumerate(chart.items()):
        y = top + row * (row_h + gap)
        pdf.set_xy(x0, y)
        name = tr(CHANNEL_NAMES[channel]) if channel in CHANNEL_NAMES else channel_label(channel)
        pdf.cell(label_w - 3, row_h, name, align="R")
        used = sum(b.share for b in layout if b.row == row)
        pdf.set_xy(x0 + label_w + plot_w * used + 1.5, y)
        pdf.set_text_color(95, 107, 115)
        pdf.cell(12, row_h, str(sum(counts.values())))
        pdf.set_text_color(29, 35, 39)
    pdf.set_font("DejaVu", "B", 8.5)
    for b in layout:
        y = top + b.row * (row_h + gap)
        w = max(plot_w * b.share, 0.6)
        bx = x0 + label_w + plot_w * b.start
        pdf.set_fill_color(*STATUS_COLOURS[b.status])
        pdf.rect(bx, y, w, row_h, style="F")
        if w > 7:
            pdf.set_text_color(255, 255, 255)
            pdf.set_xy(bx, y)
            pdf.cell(w, row_h, str(b.count), align="C")
            pdf.set_text_color(29, 35, 39)
    pdf.set_xy(x0, top + max(1, len(chart)) * (row_h + gap) + 1)
