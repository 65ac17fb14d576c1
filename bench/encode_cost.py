"""CPU time of one face encoding: dlib's 5-point alignment, then the ResNet on numpy and in dlib.

Run as ``uv run python -m bench.encode_cost``: aligns every face HOG finds in the photos of
tests/data/faces, then encodes them all a few times with consentcam's encoder (dlib's network
on numpy's BLAS, several faces at once) and with dlib's own, and prints the CPU milliseconds
per face of each, the largest difference between the two, and whether this dlib build uses a
BLAS library. Every face found in a photo is encoded once, so a photo of N faces costs about N
times the alignment and the encoding.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from bench import inputs


def _cpu_ms_per_face(work: Callable[[], object], faces: int, repeat: int = 5) -> float:
    """Median CPU milliseconds per face of ``repeat`` runs of ``work``."""
    per_face = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        per_face.append((time.process_time() - started) / faces)
    return statistics.median(per_face) * 1000


def main() -> int:
    import dlib  # type: ignore[import-untyped,unused-ignore]

    from consentcam.faces import engine as engine_mod
    from consentcam.faces.decode import load_upright

    engine = engine_mod.get_engine()
    engine.load()
    models = engine_mod._load_models()
    photos = [load_upright(p).rgb for p in sorted(inputs.FACES.glob("*/**/*.jpg"))]
    found = [(rgb, engine.detect(rgb, 1)) for rgb in photos]
    chips = np.concatenate([engine.chips(rgb, boxes) for rgb, boxes in found if boxes])
    n = len(chips)

    def with_dlib() -> npt.NDArray[np.float64]:
        return np.array([models.encoder.compute_face_descriptor(chip, 1) for chip in chips])

    align = _cpu_ms_per_face(lambda: [engine.chips(rgb, boxes) for rgb, boxes in found], n)
    ours = _cpu_ms_per_face(lambda: engine.encode_chips(chips), n)
    theirs = _cpu_ms_per_face(with_dlib, n)
    difference = float(np.abs(engine.encode_chips(chips) - with_dlib()).max())
    print(
        f"{n} faces x 5, median CPU per face: alignment {align:.1f} ms; encoding {ours:.1f} ms "
        f"(numpy, network {'loaded' if models.net is not None else 'NOT loaded'}) against "
        f"{theirs:.1f} ms (dlib's own), largest difference {difference:.1e}; "
        f"dlib {dlib.__version__}, BLAS {bool(dlib.DLIB_USE_BLAS)}, "
        f"AVX {bool(dlib.USE_AVX_INSTRUCTIONS)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
