"""The customer's receipt of a consent as a PDF: what they agreed to, the form, and their own link."""

from __future__ import annotations

import io

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from consentcam.consent_pdf import new_page, place_qr, print_form_text, print_heading


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
    pdf = new_page(title, business)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    qr_size = 32.0
    qr_x = pdf.w - pdf.r_margin - qr_size
    place_qr(pdf, my_url, qr_x, qr_size)
    text_width = qr_x - pdf.l_margin - 6
    print_heading(pdf, text_width, business, title)
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 9)
    _line(pdf, text_width, 4.5, my_label)
    pdf.set_font("DejaVu", "", 8)
    _line(pdf, text_width, 4.5, my_url)
    pdf.set_y(max(pdf.get_y(), pdf.t_margin + qr_size) + 6)

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
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 12)
        _line(pdf, width, 6, form_title)
        print_form_text(pdf, form_title, form_body, size=9.5, height=5, gap=2.5)
    return bytes(pdf.output())
