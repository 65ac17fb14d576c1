"""Channel adapters behind one small interface: manual posting, and Meta's Graph API."""

from __future__ import annotations

from consentcam.publishers.base import (
    DeleteResult,
    Publisher,
    PublisherError,
    PublishRequest,
    PublishResult,
)

__all__ = ["DeleteResult", "PublishRequest", "PublishResult", "Publisher", "PublisherError"]
