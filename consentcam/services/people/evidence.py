"""Consent evidence: the drawn signature or the scan of the signed form, checked and read back."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from dataclasses import dataclass
from typing import Literal

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


#: What an uploaded file is called in its refusals: the scan of a signed consent form, or a
#: supplier's signed permission document.
Upload = Literal["scan", "document"]

_UPLOAD_WORDS: dict[str, dict[str, str]] = {
    "scan": {
        "unknown": N_("The scan must be a PDF, JPEG or PNG file."),
        "type": N_("the scan must be a PDF, JPEG or PNG file"),
        "empty": N_("the scan file is empty"),
        "large": N_("the scan is larger than %(mb)s MB; scan it at a lower resolution"),
        "unreadable": N_("the scan cannot be read as an image (%(detail)s)"),
        "format": N_("the scan is a %(format)s image, not %(expected)s"),
    },
    "document": {
        "unknown": N_("The document must be a PDF, JPEG or PNG file."),
        "type": N_("the document must be a PDF, JPEG or PNG file"),
        "empty": N_("the document file is empty"),
        "large": N_("the document is larger than %(mb)s MB; scan it at a lower resolution"),
        "unreadable": N_("the document cannot be read as an image (%(detail)s)"),
        "format": N_("the document is a %(format)s image, not %(expected)s"),
    },
}


def _refusal(called: Upload, what: str, **params: object) -> ConsentError:
    return ConsentError(_UPLOAD_WORDS[called][what], **params)


def check_scan(data: bytes, mime: str, called: Upload = "scan") -> None:
    """Refuse an uploaded scan (or document) whose content is not the PDF, JPEG or PNG it claims.

    The one check of an uploaded signed paper, for a consent's scan and a supplier's document;
    ``called`` is what its refusals call it.
    """
    from consentcam.faces.decode import ImageRejected, probe

    if mime not in EVIDENCE_TYPES:
        raise _refusal(called, "type")
    if not data:
        raise _refusal(called, "empty")
    if len(data) > EVIDENCE_MAX_BYTES:
        raise _refusal(called, "large", mb=EVIDENCE_MAX_BYTES // (1024 * 1024))
    if mime == "application/pdf":
        if not data.startswith(b"%PDF-"):
            raise ConsentError(N_("the file is not a PDF"))
        return
    try:
        info = probe(data, name=called)
    except ImageRejected as exc:
        raise _refusal(called, "unreadable", detail=str(exc)) from exc
    expected = "PNG" if mime == "image/png" else "JPEG"
    if info.format != expected:
        raise _refusal(called, "format", format=info.format, expected=expected)


def sniff_scan_mime(data: bytes) -> str | None:
    """Name the type of an uploaded scan from its first bytes (the browser's claim is not trusted)."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


def upload_type(data: bytes, called: Upload = "scan") -> str:
    """The type of an uploaded scan or document, read from its content; refused when it is not
    a PDF, JPEG or PNG (the browser's claim is not trusted)."""
    mime = sniff_scan_mime(data)
    if mime is None:
        raise _refusal(called, "unknown")
    return mime


def evidence_from_form(kind: str, *, signature: str = "", scan: bytes = b"") -> Evidence:
    """The evidence a consent form gives: the pad's drawing, or the uploaded scan of the paper.

    ``kind`` is "scan" for an upload (its type read from its content, never the browser's
    claim); anything else is the signature drawn on the screen, sent as a PNG data URL.
    """
    if kind == "scan":
        if not scan:
            raise ConsentError(N_("Choose the scan or photo of the signed form."))
        mime = upload_type(scan)
        check_scan(scan, mime)
        return Evidence(scan, mime, "scan")
    data = signature_from_data_url(signature)
    check_signature(data)
    return Evidence(data, "image/png", "signature")


def store_evidence(rt: Runtime, data: bytes) -> tuple[str, str]:
    """Store a signed paper or signature encrypted; its storage key and SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    key, _ = rt.storage.put("evidence", rt.vault.encrypt(data), "bin")
    return key, digest


def read_stored_evidence(rt: Runtime, key: str, sha256: str | None, what: str) -> bytes:
    """Decrypt a stored evidence file and prove it is the file that was given (its SHA-256)."""
    data = rt.vault.decrypt(rt.storage.read(key))
    if hashlib.sha256(data).hexdigest() != sha256:
        raise EvidenceTampered(
            f"{what} does not match its recorded SHA-256 {sha256}: "
            "the stored file was changed or damaged"
        )
    return data


def read_evidence(rt: Runtime, record: ConsentRecord) -> bytes:
    """Decrypt a consent's evidence and prove it is the file that was given."""
    if not record.evidence_key:
        raise FileNotFoundError(f"consent {record.id} has no evidence file")
    return read_stored_evidence(
        rt, record.evidence_key, record.evidence_sha256, f"evidence of consent {record.id}"
    )
