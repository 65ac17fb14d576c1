"""Reference templates of the five enrolled people, for ours and for the baseline (cached)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import inputs

_SCRIPT = """
import sys, warnings
import numpy as np
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import face_recognition
from consentcam.config import DEFAULTS
from consentcam.faces.pipeline import ScanSettings, scan_image
from bench import inputs

settings = ScanSettings(detect_side=int(DEFAULTS["DETECT_SIDE"]))
ours, large, small, ids = [], [], [], []
for number, (person, paths) in enumerate(inputs.reference_photos().items(), start=1):
    for path in paths:
        faces = scan_image(path, settings).faces
        img = face_recognition.load_image_file(path)
        locs = face_recognition.face_locations(img, number_of_times_to_upsample=1)
        if len(faces) != 1 or len(locs) != 1:
            raise SystemExit(f"{path}: expected one face, got {len(faces)} and {len(locs)}")
        ours.append(faces[0].encoding)
        large.append(face_recognition.face_encodings(img, locs)[0])
        small.append(face_recognition.face_encodings(img, locs, model="small")[0])
        ids.append(number)
np.savez(sys.argv[1], ours=np.stack(ours), baseline=np.stack(large),
         baseline_small=np.stack(small), ids=np.asarray(ids))
"""


def templates_file() -> Path:
    """An .npz with arrays ours, baseline, baseline_small (k x 128) and ids (k), built once."""
    path = inputs.cache_dir() / "templates.npz"
    if not path.exists():
        tmp = path.with_name("templates.tmp.npz")
        # A child process, so dlib's models never load into the process that runs the suite.
        subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp)], check=True, cwd=inputs.ROOT)
        tmp.replace(path)
    return path
