"""Use cases: each takes a Session, loads rows, calls the domain, writes events, and commits."""

# Where each photo stands follows every write in every process (its session hooks).
from consentcam.services import photo_state as _photo_state  # noqa: F401
