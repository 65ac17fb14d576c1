"""The audit's summary picture: per channel, publications OK, with findings and taken down."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from consentcam.reports import (
    CHANNEL_NAMES,
    STATUS_COLOURS,
    STATUS_LABELS,
    STATUS_ORDER,
    channel_label,
)
from consentcam.wording import N_


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
    nothing = escape(tr(N_("No publications in this quarter.")))
    layout, _widest = bars(chart)
    # Narrow on purpose: on a phone the whole picture is shrunk to fit, text included.
    label_w, row_h, gap, top = 92, 30, 12, 34
    rows = len(chart)
    height = top + max(1, rows) * (row_h + gap) + 8
    plot_w = width - label_w - 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="chart-title" class="chart">',
        f'<title id="chart-title">{title}</title>',
    ]
    x = label_w
    for status in STATUS_ORDER:
        parts.append(
            f'<rect x="{x}" y="6" width="14" height="14" rx="3" fill="{_hex(STATUS_COLOURS[status])}"/>'
            f'<text x="{x + 20}" y="18" font-size="13" fill="#1d2327">{escape(labels[status])}</text>'
        )
        x += 40 + 7 * len(labels[status])
    if not rows:
        parts.append(
            f'<text x="{label_w}" y="{top + 20}" font-size="14" fill="#5f6b73">{nothing}</text>'
        )
    for i, (channel_code, counts) in enumerate(chart.items()):
        y = top + i * (row_h + gap)
        total = sum(counts.values())
        parts.append(
            f'<text x="{label_w - 10}" y="{y + row_h / 2 + 5}" font-size="14" text-anchor="end" '
            f'fill="#1d2327">{escape(channel(channel_code))}</text>'
        )
        parts.append(
            f'<text x="{label_w + plot_w * sum(b.share for b in layout if b.row == i) + 6}" '
            f'y="{y + row_h / 2 + 5}" font-size="13" fill="#5f6b73">{total}</text>'
        )
    for b in layout:
        y = top + b.row * (row_h + gap)
        w = max(plot_w * b.share, 2)
        bx = label_w + plot_w * b.start
        parts.append(
            f'<rect x="{bx:.1f}" y="{y}" width="{w:.1f}" height="{row_h}" '
            f'fill="{_hex(STATUS_COLOURS[b.status])}"><title>{escape(channel(b.channel))}: '
            f"{b.count} {escape(labels[b.status].lower())}</title></rect>"
        )
        if w > 24:
            parts.append(
                f'<text x="{bx + w / 2:.1f}" y="{y + row_h / 2 + 5}" font-size="13" '
                f'text-anchor="middle" fill="#fff">{b.count}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def totals(chart: dict[str, dict[str, int]]) -> dict[str, Any]:
    out = {s: 0 for s in STATUS_ORDER}
    for counts in chart.values():
        for s in STATUS_ORDER:
            out[s] += int(counts.get(s, 0))
    return out
