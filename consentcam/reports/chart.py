"""The audit's summary picture: per channel, publications OK, with findings and taken down.

Drawn as SVG for the pages and the HTML report, and into the PDF with fpdf2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from consentcam.reports import (
    CHANNEL_NAMES,
    STATUS_COLOURS,
    STATUS_LABELS,
    STATUS_ORDER,
    channel_label,
)
from consentcam.wording import N_

if TYPE_CHECKING:
    from fpdf import FPDF


@dataclass(frozen=True)
class Bar:
    """One coloured segment: its channel row, status, count and position as a share of the width."""

    row: int
    channel: str
    status: str
    count: int
    start: float
    share: float


def bars(chart: dict[str, dict[str, int]]) -> tuple[list[Bar], int]:
    """Lay out stacked horizontal bars, one per channel, scaled to the busiest channel."""
    widest = max((sum(v.values()) for v in chart.values()), default=0)
    out: list[Bar] = []
    for row, (channel, counts) in enumerate(chart.items()):
        start = 0.0
        for status in STATUS_ORDER:
            count = int(counts.get(status, 0))
            if count <= 0:
                continue
            share = count / widest if widest else 0.0
            out.append(Bar(row, channel, status, count, start, share))
            start += share
    return out, widest


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


# Sizes in the SVG's units. Narrow on purpose: on a phone the whole picture is shrunk to fit,
# text included.
_LABEL_W, _ROW_H, _GAP, _TOP = 92, 30, 12, 34


def svg(
    chart: dict[str, dict[str, int]],
    width: int = 440,
    gettext: Callable[..., str] | None = None,
) -> str:
    """Render the chart as an inline SVG with a legend and counts on the bars, in the language
    of ``gettext`` (English without it)."""
    tr: Callable[..., str] = gettext or (lambda text, **kw: text % kw if kw else text)
    labels = {status: str(tr(label)) for status, label in STATUS_LABELS.items()}

    def channel(code: str) -> str:
        return str(tr(CHANNEL_NAMES[code])) if code in CHANNEL_NAMES else channel_label(code)

    title = escape(tr(N_("Publications per channel: OK, with findings, taken down")))
    layout, _widest = bars(chart)
    rows = len(chart)
    height = _TOP + max(1, rows) * (_ROW_H + _GAP) + 8
    plot_w = width - _LABEL_W - 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="chart-title" class="chart">',
        f'<title id="chart-title">{title}</title>',
        *_legend(labels),
    ]
    if not rows:
        nothing = escape(tr(N_("No publications in this quarter.")))
        parts.append(
            f'<text x="{_LABEL_W}" y="{_TOP + 20}" font-size="14" fill="#5f6b73">{nothing}</text>'
        )
    parts.extend(_row_labels(chart, layout, plot_w, channel))
    parts.extend(_segments(layout, plot_w, labels, channel))
    parts.append("</svg>")
    return "".join(parts)


def _legend(labels: dict[str, str]) -> list[str]:
    """A coloured square and the word of each status, in a row above the bars."""
    parts = []
    x = _LABEL_W
    for status in STATUS_ORDER:
        parts.append(
            f'<rect x="{x}" y="6" width="14" height="14" rx="3" fill="{_hex(STATUS_COLOURS[status])}"/>'
            f'<text x="{x + 20}" y="18" font-size="13" fill="#1d2327">{escape(labels[status])}</text>'
        )
        x += 40 + 7 * len(labels[status])
    return parts


def _row_labels(
    chart: dict[str, dict[str, int]],
    layout: list[Bar],
    plot_w: float,
    channel: Callable[[str], str],
) -> list[str]:
    """Each channel's name left of its bar, and its total right of it."""
    parts = []
    for i, (channel_code, counts) in enumerate(chart.items()):
        y = _TOP + i * (_ROW_H + _GAP)
        total = sum(counts.values())
        parts.append(
            f'<text x="{_LABEL_W - 10}" y="{y + _ROW_H / 2 + 5}" font-size="14" text-anchor="end" '
            f'fill="#1d2327">{escape(channel(channel_code))}</text>'
        )
        parts.append(
            f'<text x="{_LABEL_W + plot_w * sum(b.share for b in layout if b.row == i) + 6}" '
            f'y="{y + _ROW_H / 2 + 5}" font-size="13" fill="#5f6b73">{total}</text>'
        )
    return parts


def _segments(
    layout: list[Bar], plot_w: float, labels: dict[str, str], channel: Callable[[str], str]
) -> list[str]:
    """The coloured segments, each with its count on it when there is room."""
    parts = []
    for b in layout:
        y = _TOP + b.row * (_ROW_H + _GAP)
        w = max(plot_w * b.share, 2)
        bx = _LABEL_W + plot_w * b.start
        parts.append(
            f'<rect x="{bx:.1f}" y="{y}" width="{w:.1f}" height="{_ROW_H}" '
            f'fill="{_hex(STATUS_COLOURS[b.status])}"><title>{escape(channel(b.channel))}: '
            f"{b.count} {escape(labels[b.status].lower())}</title></rect>"
        )
        if w > 24:
            parts.append(
                f'<text x="{bx + w / 2:.1f}" y="{y + _ROW_H / 2 + 5}" font-size="13" '
                f'text-anchor="middle" fill="#fff">{b.count}</text>'
            )
    return parts


def totals(chart: dict[str, dict[str, int]]) -> dict[str, Any]:
    out = {s: 0 for s in STATUS_ORDER}
    for counts in chart.values():
        for s in STATUS_ORDER:
            out[s] += int(counts.get(s, 0))
    return out


def draw_chart(
    pdf: FPDF,
    chart: dict[str, dict[str, int]],
    width: float,
    tr: Callable[..., str] = lambda text, **kw: text,
) -> None:
    """Draw the chart into the PDF with rectangles and text, like the HTML's SVG."""
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
