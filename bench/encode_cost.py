"""CPU time of one face encoding (dlib's 5-point alignment + ResNet), the floor of a scan's time.

Run as ``uv run python -m bench.encode_cost``: encodes the faces of a test photo a few times
and prints the CPU milliseconds per face, and whether this dlib build uses a BLAS library.
Every face found in a photo is encoded once, so a photo of N faces costs at least N times this.
"""

from __future__ import annotations

import statistics
import time

from bench import inputs


def main() -> int:
    import dlib  # type: ignore[import-untyped,unused-ignore]

    from consentcam.faces.decode import load_upright
    from consentcam.faces.engine import get_engine

    engine = get_engine()
    engine.load()
    decoded = load_upright(inputs.FACES / "unknown" / "obama_and_biden.jpg")
    boxes = engine.detect(decoded.rgb, 1)
    per_face = []
    for _ in range(5):
        started = time.process_time()
        engine.encode(decoded.rgb, boxes)
        per_face.append((time.process_time() - started) / len(boxes))
    print(
        f"{len(boxes)} faces x 5: {statistics.median(per_face) * 1000:.1f} ms CPU per face "
        f"(median); dlib {dlib.__version__}, BLAS {bool(dlib.DLIB_USE_BLAS)}, "
        f"AVX {bool(dlib.USE_AVX_INSTRUCTIONS)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
