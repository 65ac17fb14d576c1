"""Manual posting: the owner downloads the cleared copy, posts it herself and pastes the link back."""

from __future__ import annotations

from consentcam.publishers.base import DeleteResult, PublishRequest, PublishResult


class ManualPublisher:
    """A channel the app cannot reach: every publish and every removal is a step for a person."""

    kind = "manual"

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def can_delete(self, channel: str) -> bool:
        return False

    def publish(self, request: PublishRequest) -> PublishResult:
        # Nothing goes out here: the Publication is recorded only once the owner pastes the
        # post's link back, so the log never claims a post that was not made.
        return PublishResult(external_id=None, url=None, pending_manual=True)

    def delete(self, channel: str, external_id: str) -> DeleteResult:
        return DeleteResult(
            deleted=False, message="This channel is posted to by hand: remove the post by hand."
        )
