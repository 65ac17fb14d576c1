"""The customer's receipt of a consent as a PDF: what they agreed to, the form, and their own link."""

from __future__ import annotations

import io

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from consentcam.consent_pdf import _font


def _line(pdf: FPDF, width: float, height: float, text: str) -> None:
    """A paragraph from the left margin; the next one starts below it."""
    pdf.multi_cell(width, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")


def receipt_pdf(
    *,
    business: str,
    title: str,
    rows: list[tuple[str, str]],
    form_title: str,
    form_body: str,
    signature_png: bytes | None,
    my_url: str,
    my_label: str,
) -> bytes:
    """Render the receipt on A4: the facts as label/value rows, the signature, the signed text."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(title)
    pdf.set_author(business or "consentcam")
    pdf.set_creator("consentcam")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_font("DejaVu", "", str(_font("DejaVuSans.ttf")))
    pdf.add_font("DejaVu", "B", str(_font("DejaVuSans-Bold.ttf")))
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    _head(pdf, business, title, my_url, my_label)
    for label, value in rows:
        pdf.set_font("DejaVu", "B", 10)
        _line(pdf, width, 5.5, label)
        pdf.set_font("DejaVu", "", 10)
        _line(pdf, width, 5.5, value)
        pdf.ln(1)

    if signature_png:
        pdf.ln(2)
        pdf.image(io.BytesIO(signature_png), x=pdf.l_margin, w=60)
        pdf.ln(2)

    if form_body:
        _form_text(pdf, width, form_title, form_body)
    return bytes(pdf.output())


def _head(pdf: FPDF, business: str, title: str, my_url: str, my_label: str) -> None:
    """The business and title beside the QR code of the customer's own link, and the link."""
    qr_size = 32.0
    qr_x = pdf.w - pdf.r_margin - qr_size
    qr_png = io.BytesIO()
    segno.make(my_url, error="m").save(qr_png, kind="png", scale=8, border=2)
    qr_png.seek(0)
    pdf.image(qr_png, x=qr_x, y=pdf.t_margin, w=qr_size, h=qr_size)
    text_width = qr_x - pdf.l_margin - 6

    pdf.set_xy(pdf.l_margin, pdf.t_margin)
    if business:
        pdf.set_font("DejaVu", "B", 10)
        _line(pdf, text_width, 5, business)
    pdf.set_font("DejaVu", "B", 17)
    _line(pdf, text_width, 8, title)
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 9)
    _line(pdf, text_width, 4.5, my_label)
    pdf.set_font("DejaVu", "", 8)
    _line(pdf, text_width, 4.5, my_url)
    pdf.set_y(max(pdf.get_y(), pdf.t_margin + qr_size) + 6)


def _form_text(pdf: FPDF, width: float, form_title: str, form_body: str) -> None:
    """The form's text as signed, under its title (not repeated when the text starts with it)."""
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 12)
    _line(pdf, width, 6, form_title)
    lines = form_body.splitlines()
    if lines and lines[0].strip() == form_title.strip():
        lines = lines[1:]
    pdf.set_font("DejaVu", "", 9.5)
    for paragraph in "\n".join(lines).strip().split("\n\n"):
        _line(pdf, width, 5, paragraph.strip())
        pdf.ln(2.5)
