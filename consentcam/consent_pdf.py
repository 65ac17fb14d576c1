"""The printable consent form: the exact text of one form version on A4, with a QR code to the person."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

# DejaVu covers å, ä, ö and every other Latin letter a Swedish name may carry; fpdf2's core fonts
# are Latin-1 only. Debian's fonts-dejavu-core installs it here; a copy in consentcam/fonts wins.
_FONT_DIRS = (
    Path(__file__).parent / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
)

LABELS = {
    "en": {
        "for": "For",
        "version": "Form version",
        "qr": "Scan to open this person's record and upload the signed form.",
        "page": "Page",
    },
    "sv": {
        "for": "För",
        "version": "Blankettversion",
        "qr": "Skanna för att öppna personens uppgifter och ladda upp den undertecknade blanketten.",
        "page": "Sida",
    },
}


_NEXT: dict[str, Any] = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT, "align": "L"}


class FontMissing(RuntimeError):
    """No Unicode TTF font is available to print the form."""


def _font(name: str) -> Path:
    for folder in _FONT_DIRS:
        path = folder / name
        if path.is_file():
            return path
    raise FontMissing(
        f"{name} not found in {', '.join(str(d) for d in _FONT_DIRS)}: install fonts-dejavu-core"
    )


def new_page(title: str, business: str) -> FPDF:
    """An A4 document of one page, with DejaVu loaded and the margins every printout uses."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(title)
    pdf.set_author(business or "consentcam")
    pdf.set_creator("consentcam")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_font("DejaVu", "", str(_font("DejaVuSans.ttf")))
    pdf.add_font("DejaVu", "B", str(_font("DejaVuSans-Bold.ttf")))
    pdf.add_page()
    return pdf


def place_qr(pdf: FPDF, url: str, x: float, size: float) -> None:
    """A QR code of ``url``, ``size`` mm wide, at the top margin."""
    png = io.BytesIO()
    segno.make(url, error="m").save(png, kind="png", scale=8, border=2)
    png.seek(0)
    pdf.image(png, x=x, y=pdf.t_margin, w=size, h=size)


def print_heading(pdf: FPDF, width: float, business: str, title: str) -> None:
    """The business's name (when set) and the title, from the top left."""
    pdf.set_xy(pdf.l_margin, pdf.t_margin)
    if business:
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(width, 5, business, **_NEXT)
    pdf.set_font("DejaVu", "B", 17)
    pdf.multi_cell(width, 8, title, **_NEXT)


def print_form_text(
    pdf: FPDF, title: str, body: str, *, size: float, height: float, gap: float
) -> None:
    """A form's text as stored, paragraph by paragraph (its first line, the title, left out)."""
    lines = body.splitlines()
    if lines and lines[0].strip() == title.strip():
        lines = lines[1:]
    pdf.set_font("DejaVu", "", size)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for paragraph in "\n".join(lines).strip().split("\n\n"):
        pdf.multi_cell(width, height, paragraph.strip(), **_NEXT)
        pdf.ln(gap)


def consent_form_pdf(
    *,
    title: str,
    body: str,
    language: str,
    version: int,
    person_name: str,
    record_url: str | None,
    business: str = "",
) -> bytes:
    """Render one consent form version as an A4 PDF and return its bytes."""
    labels = LABELS.get(language, LABELS["en"])
    pdf = new_page(title, business)
    qr_size = 34.0
    qr_x = pdf.w - pdf.r_margin - qr_size
    # No address (PUBLIC_URL unset): no QR code rather than one built from a request's Host.
    if record_url:
        place_qr(pdf, record_url, qr_x, qr_size)
        pdf.set_xy(qr_x - 2, pdf.t_margin + qr_size)
        pdf.set_font("DejaVu", "", 6.5)
        pdf.multi_cell(qr_size + 4, 3, labels["qr"], align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    text_width = qr_x - pdf.l_margin - 6
    print_heading(pdf, text_width, business, title)
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 11)
    pdf.multi_cell(text_width, 6, f"{labels['for']}: {person_name}", **_NEXT)
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(text_width, 5, f"{labels['version']}: {language}-v{version}", **_NEXT)
    pdf.set_y(max(pdf.get_y(), pdf.t_margin + qr_size + 10) + 4)

    # The body is printed as stored: the first line is the title, printed above already.
    print_form_text(pdf, title, body, size=10.5, height=5.6, gap=3.5)

    # The footer sits inside the bottom margin, so automatic page breaks must not move it.
    pdf.set_auto_page_break(auto=False)
    pdf.set_y(-14)
    pdf.set_font("DejaVu", "", 7.5)
    pdf.set_text_color(110, 110, 110)
    pdf.cell(0, 5, f"{title} · {language}-v{version} · {labels['page']} 1", align="C")
    return bytes(pdf.output())
