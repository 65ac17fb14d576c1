"""MetaPublisher against the fake Graph API: Facebook and Instagram posts, deletes, errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from consentcam.publishers.base import PublisherError, PublishRequest
from consentcam.publishers.manual import ManualPublisher
from consentcam.publishers.meta import MetaPublisher
from tests.fakegraph.server import FakeGraph
from tests.publishing.conftest import jpeg_bytes


@pytest.fixture
def image_url() -> Iterator[str]:
    """A URL serving one JPEG, standing in for the app's public link."""
    body = jpeg_bytes(600, 600)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/p/token"
    server.shutdown()
    server.server_close()


def meta(graph: FakeGraph, channel: str, **kw: Any) -> MetaPublisher:
    return MetaPublisher(
        channel,
        "1784140",
        "good-token",
        graph_url=graph.url,
        poll_interval=0.0,
        poll_attempts=4,
        **kw,
    )


def test_facebook_post_and_delete(graph: FakeGraph, image_url: str) -> None:
    pub = meta(graph, "facebook")
    result = pub.publish(PublishRequest("facebook", "Hej från studion", image_url, None))
    (post,) = graph.calls_to("POST", "/1784140/photos")
    assert post.params["url"] == image_url
    assert post.params["message"] == "Hej från studion"
    assert post.params["access_token"] == "good-token"
    assert graph.fetches[0].status == 200 and graph.fetches[0].body.startswith(b"\xff\xd8")
    assert (
        result.external_id
        and result.url
        and result.url.startswith("https://www.facebook.com/1784140_")
    )
    assert pub.can_delete("facebook")
    deleted = pub.delete("facebook", result.external_id)
    assert deleted.deleted
    assert graph.calls_to("DELETE", f"/{result.external_id}")
    # Deleting again: Meta says it does not exist, which is a clear, non-retryable error.
    with pytest.raises(PublisherError) as exc:
        pub.delete("facebook", result.external_id)
    assert not exc.value.retryable


def test_instagram_container_status_publish(graph: FakeGraph, image_url: str) -> None:
    graph.container_statuses("IN_PROGRESS", "IN_PROGRESS", "FINISHED")
    pub = meta(graph, "instagram")
    result = pub.publish(PublishRequest("instagram", "Yoga i morgon", image_url, None))
    paths = [(c.method, c.path.split("/", 2)[-1]) for c in graph.calls]
    assert paths[0] == ("GET", "1784140/content_publishing_limit")
    assert graph.calls[0].params["fields"] == "quota_usage,config"
    assert paths[1] == ("POST", "1784140/media")
    container = graph.calls_to("POST", "/media")[0]
    assert (
        container.params["image_url"] == image_url
        and container.params["caption"] == "Yoga i morgon"
    )
    status_checks = [
        c for c in graph.calls if c.method == "GET" and c.params.get("fields") == "status_code"
    ]
    assert len(status_checks) == 3  # polled through IN_PROGRESS twice until FINISHED
    (publish,) = graph.calls_to("POST", "/media_publish")
    assert publish.params["creation_id"] == status_checks[0].path.rsplit("/", 1)[-1]
    assert (
        result.external_id and result.url and result.url.startswith("https://www.instagram.com/p/")
    )
    assert graph.state.quota_usage == 1


def test_instagram_quota_used_up_is_refused(graph: FakeGraph, image_url: str) -> None:
    graph.set_quota(100, 100)
    with pytest.raises(PublisherError) as exc:
        meta(graph, "instagram").publish(PublishRequest("instagram", "", image_url, None))
    assert exc.value.code == "quota_exhausted"
    assert "100 of 100" in str(exc.value)
    assert not graph.calls_to("POST", "/media")  # nothing was attempted


@pytest.mark.parametrize("kind", ["rate_limit", "page_rate_limit"])
def test_rate_limit_is_retryable(graph: FakeGraph, image_url: str, kind: str) -> None:
    graph.fail_next(kind)
    with pytest.raises(PublisherError) as exc:
        meta(graph, "facebook").publish(PublishRequest("facebook", "", image_url, None))
    assert exc.value.retryable and exc.value.code == "rate_limit"


def test_expired_token_is_clear_and_final(graph: FakeGraph, image_url: str) -> None:
    pub = MetaPublisher("facebook", "104200", "old-token", graph_url=graph.url)
    with pytest.raises(PublisherError) as exc:
        pub.publish(PublishRequest("facebook", "", image_url, None))
    assert not exc.value.retryable and exc.value.code == "token_expired"
    assert "Reconnect" in str(exc.value)
    assert "old-token" not in str(exc.value)


def test_failed_container_is_an_error(graph: FakeGraph, image_url: str) -> None:
    graph.container_statuses("IN_PROGRESS", "ERROR")
    with pytest.raises(PublisherError) as exc:
        meta(graph, "instagram").publish(PublishRequest("instagram", "", image_url, None))
    assert exc.value.code == "container_error" and not exc.value.retryable
    assert not graph.calls_to("POST", "/media_publish")


def test_container_that_never_finishes_is_retryable(graph: FakeGraph, image_url: str) -> None:
    graph.container_statuses("IN_PROGRESS")
    with pytest.raises(PublisherError) as exc:
        meta(graph, "instagram").publish(PublishRequest("instagram", "", image_url, None))
    assert exc.value.retryable and exc.value.code == "container_timeout"


def test_unreachable_graph_is_retryable(image_url: str) -> None:
    pub = MetaPublisher("facebook", "1", "t", graph_url="http://127.0.0.1:9/v21.0", timeout=2)
    with pytest.raises(PublisherError) as exc:
        pub.publish(PublishRequest("facebook", "", image_url, None))
    assert exc.value.retryable and exc.value.code == "network"


def test_instagram_delete_only_with_permission(graph: FakeGraph, image_url: str) -> None:
    without = meta(graph, "instagram")
    assert not without.can_delete("instagram")
    result = without.publish(PublishRequest("instagram", "", image_url, None))
    assert result.external_id
    refused = without.delete("instagram", result.external_id)
    assert not refused.deleted and not graph.calls_to("DELETE", result.external_id)
    allowed = meta(graph, "instagram", can_delete_posts=True)
    assert allowed.can_delete("instagram")
    assert allowed.delete("instagram", result.external_id).deleted


def test_manual_publisher_never_deletes() -> None:
    manual = ManualPublisher("instagram")
    assert manual.kind == "manual" and not manual.can_delete("instagram")
    assert manual.publish(PublishRequest("instagram", "", None, b"x")).pending_manual
    assert not manual.delete("instagram", "1").deleted
