"""The interface every channel adapter implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class PublisherError(RuntimeError):
    """A channel refused or failed; `retryable` says whether trying again later may help."""

    def __init__(self, message: str, *, retryable: bool = False, code: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


@dataclass(frozen=True)
class PublishRequest:
    channel: str
    caption: str
    image_url: str | None  # short-lived public URL of the cleared copy (Meta fetches it)
    image_bytes: bytes | None  # the cleared copy itself, for adapters that upload


@dataclass(frozen=True)
class PublishResult:
    external_id: str | None
    url: str | None
    pending_manual: bool = False  # manual posting: the owner posts and pastes the URL back


@dataclass(frozen=True)
class DeleteResult:
    deleted: bool
    message: str = ""


class Publisher(Protocol):
    kind: str  # "manual" | "meta"

    def can_delete(self, channel: str) -> bool:
        """Whether this connection may delete posts on the channel through the API."""
        ...

    def publish(self, request: PublishRequest) -> PublishResult: ...

    def delete(self, channel: str, external_id: str) -> DeleteResult: ...
