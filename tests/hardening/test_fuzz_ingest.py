"""Property-based fuzzing of ingest: any bytes give either a photo or ImageRejected, quickly."""

from __future__ import annotations

import io
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy.orm import Session

from consentcam.faces.decode import ImageRejected
from consentcam.models import Photo
from consentcam.runtime import Runtime
from consentcam.services import photos
from tests.hardening import hostile

SECONDS_PER_EXAMPLE = 10


def _small(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), (30, 140, 200)).save(out, fmt)
    return out.getvalue()


SEEDS = [_small("JPEG"), _small("PNG"), _small("WEBP"), hostile.png((20, 20), "RGBA")]
NAMES = st.sampled_from(["a.jpg", "b.png", "c.webp", "d.heic", "e.JPEG"])


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail an example that hangs (SIGALRM interrupts the decoder between Python calls)."""

    def _alarm(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"ingest took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real small image with some bytes flipped, then maybe cut short."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _ingest_or_reject(runtime: Runtime, session: Session, data: bytes, name: str) -> None:
    with time_limit(SECONDS_PER_EXAMPLE):
        try:
            result = photos.ingest(session, runtime, data, name, source="upload", user=None)
        except ImageRejected as exc:
            session.rollback()
            assert str(exc)
            return
    # Accepted: the stored file is a decodable re-encode of the right size.
    stored = runtime.storage.read(result.photo.original_key)
    with Image.open(io.BytesIO(stored)) as im:
        im.load()
        assert im.size == (result.photo.width, result.photo.height)
    session.rollback()


FUZZ = settings(
    max_examples=120,
    deadline=None,  # the alarm above bounds each example; the first decode warms caches
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@FUZZ
@given(data=st.binary(max_size=4096), name=NAMES)
def test_random_bytes(runtime: Runtime, session: Session, data: bytes, name: str) -> None:
    _ingest_or_reject(runtime, session, data, name)


@FUZZ
@given(data=mutated(), name=NAMES)
def test_mutated_real_images(runtime: Runtime, session: Session, data: bytes, name: str) -> None:
    _ingest_or_reject(runtime, session, data, name)


@FUZZ
@given(
    head=st.sampled_from(
        [s[:64] for s in SEEDS]
        + [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"RIFF\x00\x00\x00\x00WEBPVP8 "]
    ),
    tail=st.binary(max_size=2048),
    name=NAMES,
)
def test_real_headers_with_random_bodies(
    runtime: Runtime, session: Session, head: bytes, tail: bytes, name: str
) -> None:
    _ingest_or_reject(runtime, session, head + tail, name)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.99])
def test_a_real_photo_cut_short(runtime: Runtime, session: Session, cut: float) -> None:
    data = hostile.real_jpeg()
    with pytest.raises(ImageRejected):
        with time_limit(SECONDS_PER_EXAMPLE):
            photos.ingest(session, runtime, data[: int(len(data) * cut)], "cut.jpg")
    session.rollback()
    assert session.scalar(sa.select(sa.func.count(Photo.id))) == 0
