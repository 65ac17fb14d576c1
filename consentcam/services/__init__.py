"""Use cases: each takes a Session, loads rows, calls the domain and writes events; the caller's
unit of work (consentcam.uow) commits."""

# Where each photo stands follows every write in every process (its session hooks).
from consentcam.services import photo_state as _photo_state  # noqa: F401
