"""Consent evidence: the drawn signature or the scan of the signed form, checked and read back."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from dataclasses import dataclass

from consentcam.domain import vocabulary
from consentcam.models import ConsentRecord
from consentcam.runtime import Runtime
from consentcam.services.people.errors import ConsentError, EvidenceTampered
from consentcam.wording import N_

EVIDENCE_TYPES = vocabulary.EVIDENCE_EXTENSIONS
EVIDENCE_MAX_BYTES = 20 * 1024 * 1024
SIGNATURE_MAX_BYTES = 2 * 1024 * 1024
# A signature pad is a few hundred pixels on a phone and up to a few thousand on a retina laptop.
SIGNATURE_MIN_SIDE = 50
SIGNATURE_MAX_SIDE = 4000
# A real signature leaves at least this many dark pixels; a stray tap leaves fewer.
SIGNATURE_MIN_INK = 150
# What the signature pad sends: the drawing as a PNG data URL.
SIGNATURE_PREFIX = "data:image/png;base64,"


@dataclass(frozen=True)
class Evidence:
    """A checked evidence file: its bytes, its type and how it was given."""

    data: bytes
    mime: str
    kind: str  # "signature" | "scan"


def signature_from_data_url(value: str) -> bytes:
    """The PNG bytes of a signature as the pad sends it (a data URL); refused when it is not one."""
    if not value:
        raise ConsentError(N_("The signature is empty: please sign in the box."))
    if not value.startswith(SIGNATURE_PREFIX):
        raise ConsentError(N_("The signature is not a PNG image."))
    try:
        return base64.b64decode(value[len(SIGNATURE_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConsentError(N_("The signature is not a PNG image.")) from exc


def _check_signature_size(data: bytes) -> None:
    from consentcam.faces.decode import ImageRejected, probe

    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ConsentError(N_("the signature is not a PNG image"))
    try:
        info = probe(data, max_pixels=SIGNATURE_MAX_SIDE * SIGNATURE_MAX_SIDE, name="signature")
    except ImageRejected as exc:
        raise ConsentError(
            N_("the signature image cannot be read (%(detail)s)"), detail=str(exc)
        ) from exc
    if info.format != "PNG":
        raise ConsentError(N_("the signature is not a PNG image"))
    if not (
        SIGNATURE_MIN_SIDE <= info.width <= SIGNATURE_MAX_SIDE
        and SIGNATURE_MIN_SIDE <= info.height <= SIGNATURE_MAX_SIDE
    ):
        raise ConsentError(
            N_(
                "the signature image is %(width)sx%(height)s pixels; "
                "expected between %(least)s and %(most)s on each side"
            ),
            width=info.width,
            height=info.height,
            least=SIGNATURE_MIN_SIDE,
            most=SIGNATURE_MAX_SIDE,
        )


def _check_ink(data: bytes) -> None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            rgba = im.convert("RGBA")
    except Exception as exc:  # Pillow raises many types for damaged data
        raise ConsentError(
            N_("the signature image is damaged (%(detail)s)"), detail=str(exc)
        ) from exc
    # Strokes on a transparent or white pad: flatten on white and count the dark pixels.
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    grey = Image.alpha_composite(white, rgba).convert("L")
    ink = sum(grey.histogram()[:160])
    if ink < SIGNATURE_MIN_INK:
        raise ConsentError(N_("the signature is blank: please sign in the box"))


def check_signature(data: bytes) -> None:
    """Refuse a drawn signature that is not a PNG, is an odd size, or is blank."""
    if not data:
        raise ConsentError(N_("the signature is empty: please sign in the box"))
    if len(data) > SIGNATURE_MAX_BYTES:
        raise ConsentError(N_("the signature image is too large"))
    _check_signature_size(data)
    _check_ink(data)


def check_scan(data: bytes, mime: str) -> None:
    """Refuse a scan of the paper form whose content is not the PDF, JPEG or PNG it claims."""
    from consentcam.faces.decode import ImageRejected, probe

    if mime not in EVIDENCE_TYPES:
        raise ConsentError(N_("the scan must be a PDF, JPEG or PNG file"))
    if not data:
        raise ConsentError(N_("the scan file is empty"))
    if len(data) > EVIDENCE_MAX_BYTES:
        raise ConsentError(
            N_("the scan is larger than %(mb)s MB; scan it at a lower resolution"),
            mb=EVIDENCE_MAX_BYTES // (1024 * 1024),
        )
    if mime == "application/pdf":
        if not data.startswith(b"%PDF-"):
            raise ConsentError(N_("the file is not a PDF"))
        return
    try:
        info = probe(data, name="scan")
    except ImageRejected as exc:
        raise ConsentError(
            N_("the scan cannot be read as an image (%(detail)s)"), detail=str(exc)
        ) from exc
    expected = "PNG" if mime == "image/png" else "JPEG"
    if info.format != expected:
        raise ConsentError(
            N_("the scan is a %(format)s image, not %(expected)s"),
            format=info.format,
            expected=expected,
        )


def sniff_scan_mime(data: bytes) -> str | None:
    """Name the type of an uploaded scan from its first bytes (the browser's claim is not trusted)."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


def evidence_from_form(kind: str, *, signature: str = "", scan: bytes = b"") -> Evidence:
    """The evidence a consent form gives: the pad's drawing, or the uploaded scan of the paper.

    ``kind`` is "scan" for an upload (its type read from its content, never the browser's
    claim); anything else is the signature drawn on the screen, sent as a PNG data URL.
    """
    if kind == "scan":
        if not scan:
            raise ConsentError(N_("Choose the scan or photo of the signed form."))
        mime = sniff_scan_mime(scan)
        if not mime:
            raise ConsentError(N_("The scan must be a PDF, JPEG or PNG file."))
        check_scan(scan, mime)
        return Evidence(scan, mime, "scan")
    data = signature_from_data_url(signature)
    check_signature(data)
    return Evidence(data, "image/png", "signature")


def read_evidence(rt: Runtime, record: ConsentRecord) -> bytes:
    """Decrypt a consent's evidence and prove it is the file that was given."""
    if not record.evidence_key:
        raise FileNotFoundError(f"consent {record.id} has no evidence file")
    data = rt.vault.decrypt(rt.storage.read(record.evidence_key))
    if hashlib.sha256(data).hexdigest() != record.evidence_sha256:
        raise EvidenceTampered(
            f"evidence of consent {record.id} does not match its recorded SHA-256 "
            f"{record.evidence_sha256}: the stored file was changed or damaged"
        )
    return data
