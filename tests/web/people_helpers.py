"""Helpers for the people, consent and supplier tests: signature images, scans and rows."""

from __future__ import annotations

import base64
import io
import itertools
from typing import Any

from flask import Flask
from PIL import Image, ImageDraw


def signature_png(width: int = 400, height: int = 150, *, ink: bool = True) -> bytes:
    """A PNG like the signature pad sends: strokes on a transparent background (or nothing)."""
    im = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    if ink:
        draw = ImageDraw.Draw(im)
        draw.line(
            [(20, 100), (80, 30), (140, 110), (220, 40), (330, 90)], fill=(17, 17, 17, 255), width=4
        )
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def signed_form(scope: str = "all", *, ink: bool = True, **extra: Any) -> dict[str, Any]:
    """The consent form's fields for Instagram, signed on the pad (``extra`` adds or overrides)."""
    return {
        "channels": ["instagram"],
        "scope": scope,
        "evidence_kind": "signature",
        "signature": data_url(signature_png(ink=ink)),
        **extra,
    }


def jpeg_scan() -> bytes:
    im = Image.new("RGB", (600, 800), (250, 250, 250))
    ImageDraw.Draw(im).text((40, 40), "signed form", fill=(0, 0, 0))
    out = io.BytesIO()
    im.save(out, "JPEG")
    return out.getvalue()


PDF_SCAN = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def add_person(app: Flask, name: str = "Åsa Öberg", **kwargs: Any) -> int:
    from consentcam.services import people

    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        person = people.add_person(s, name, **kwargs)
        s.commit()
        return person.id


_SIGNINGS = itertools.count(1)


def give_consent(app: Flask, person_id: int, **kwargs: Any) -> int:
    """Record a consent signed on the pad; each call is a new signature (the same one sent
    again would be the same consent)."""
    from consentcam.models import Person
    from consentcam.services import people

    rt = app.extensions["runtime"]
    options: dict[str, Any] = {
        "channels": ["instagram"],
        "evidence": signature_png(400 + next(_SIGNINGS)),
        "evidence_mime": "image/png",
        "evidence_kind": "signature",
    }
    options.update(kwargs)
    with rt.sessions() as s:
        record = people.give_consent(s, rt, s.get(Person, person_id), **options)
        s.commit()
        return record.id
