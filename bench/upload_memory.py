"""Peak memory of the web process while 10 large greyscale PNGs are uploaded at once.

A 9,990 x 9,990 greyscale PNG of about 100 KB is under MAX_PIXELS (100 MP) and decodes to
100 MB of pixels. Each run is a fresh process that ingests ten different such files from ten
threads at once (as ten upload requests would), with the decode slots given, and prints its peak
resident memory and the time taken:

    uv run python -m bench.upload_memory            # 2 slots (the default) and 10 (no bound)
    uv run python -m bench.upload_memory --slots 2  # one run
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SIDE = 9_990
UPLOADS = 10


def greyscale_png(seed: int) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("L", (SIDE, SIDE), 200)
    ImageDraw.Draw(im).rectangle((seed * 10, seed * 10, seed * 10 + 50, seed * 10 + 50), fill=seed)
    out = io.BytesIO()
    im.save(out, "PNG", optimize=True)
    return out.getvalue()


def run(slots: int) -> dict[str, float]:
    from consentcam.crypto import new_key
    from consentcam.db import upgrade
    from consentcam.runtime import Runtime
    from consentcam.services import photos

    files = [greyscale_png(i) for i in range(UPLOADS)]
    photos._decodes = threading.BoundedSemaphore(slots)
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        rt = Runtime.build(
            instance,
            {
                "SECRET_KEY": "bench",
                "ENCRYPTION_KEY": new_key(),
                "DATABASE_URL": f"sqlite:///{instance / 'consentcam.db'}",
                "QUEUE_URL": "immediate",
                "MEDIA_DIR": str(instance / "media"),
            },
        )
        upgrade(rt.engine)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        errors: list[str] = []

        def upload(i: int) -> None:
            try:
                with rt.sessions() as s:
                    photos.ingest(s, rt, files[i], f"big-{i}.png")
                    s.commit()
            except Exception as exc:  # noqa: BLE001 - reported with the result
                errors.append(repr(exc))

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(UPLOADS)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rt.close()
    return {
        "slots": slots,
        "file_kb": round(len(files[0]) / 1024, 1),
        "peak_mib": round(peak / 1024, 1),
        "before_mib": round(before / 1024, 1),
        "seconds": round(seconds, 2),
        "errors": len(errors),
        "first_error": errors[0][:120] if errors else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=None)
    args = parser.parse_args()
    if args.slots is not None:
        print(json.dumps(run(args.slots)))
        return
    for slots in (2, UPLOADS):
        done = subprocess.run(
            [sys.executable, "-m", "bench.upload_memory", "--slots", str(slots)],
            capture_output=True,
            text=True,
            check=True,
        )
        print(done.stdout.strip())


if __name__ == "__main__":
    main()
