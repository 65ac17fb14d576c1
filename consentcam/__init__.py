"""consentcam: photo consent for small businesses."""

import os

# Matching one face is a small matrix product: a second BLAS thread only adds hand-over latency
# (and waits for a busy core), so numpy runs single-threaded unless the operator says otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
