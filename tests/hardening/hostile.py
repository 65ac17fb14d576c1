"""Hostile files for upload tests, each built in memory from a real test photo."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import FACES

PAYLOAD = b"<?php system($_GET['c']); ?><script>alert(1)</script>"
REAL_JPEG = FACES / "unknown/obama1.jpg"


def real_jpeg() -> bytes:
    return REAL_JPEG.read_bytes()


def png(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(7)
    channels = 4 if mode == "RGBA" else 3
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(arr, mode).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_polyglot() -> bytes:
    """A valid PNG carrying a script in a tEXt chunk and again after IEND."""
    base = png()
    ihdr_end = 8 + 25  # signature + IHDR chunk
    text = _chunk(b"tEXt", b"Comment\x00" + PAYLOAD)
    return base[:ihdr_end] + text + base[ihdr_end:] + PAYLOAD


def pixel_flood() -> bytes:
    """A tiny PNG whose header claims 20,000 x 20,000 pixels."""
    ihdr = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 2, 0, 0, 0)
    raw = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    data = real_jpeg()
    return data[: len(data) // 2]


def tiff() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(out, "TIFF")
    return out.getvalue()


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def fits() -> bytes:
    header = "SIMPLE  =                    T".ljust(80) + "BITPIX  =                    8".ljust(80)
    header += "NAXIS   =                    0".ljust(80) + "END".ljust(80)
    return header.ljust(2880).encode("ascii")


def html() -> bytes:
    return b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


#: (id, file name, bytes, words the refusal must contain)
REFUSED: list[tuple[str, str, bytes, str]] = [
    ("double-extension", "x.jpg.php", real_jpeg(), ".php"),
    ("html-as-png", "page.png", html(), "not a supported image"),
    ("pixel-flood", "flood.png", pixel_flood(), "pixel limit"),
    ("truncated-jpeg", "half.jpg", truncated_jpeg(), "truncated"),
    ("tiff-as-jpg", "scan.jpg", tiff(), "TIFF"),
    ("pdf-as-jpg", "form.jpg", pdf(), "PDF"),
    ("fits-as-jpg", "sky.jpg", fits(), "not a supported image"),
]


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []
