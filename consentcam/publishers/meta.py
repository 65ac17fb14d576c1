"""Meta's Graph API: photo posts on a Facebook Page and on an Instagram professional account."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from consentcam.publishers.base import DeleteResult, PublisherError, PublishRequest, PublishResult

log = logging.getLogger(__name__)

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
#: Hosts the access token may be sent to over HTTPS: Meta's Graph API.
GRAPH_HOSTS = frozenset({"graph.facebook.com", "graph.instagram.com"})
#: A stand-in Graph API on this machine (for tests), the only host allowed over plain HTTP.
LOOPBACK_GRAPH_HOSTS = frozenset({"127.0.0.1"})


def graph_url_problem(url: str) -> str | None:
    """Why the access token must not be sent to ``url``, or None when it is Meta's Graph API.

    The address is parsed, not compared as text: ``http://127.0.0.1@evil.example/`` has the host
    evil.example. No user name, password or fragment; https to Meta's hosts, or a local test
    server on 127.0.0.1.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return "the Graph API address is not a valid URL"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "the Graph API address contains spaces or control characters"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "the Graph API address must not contain a user name"
    if parts.scheme == "https" and host in GRAPH_HOSTS:
        return None
    if parts.scheme in ("http", "https") and host in LOOPBACK_GRAPH_HOSTS:
        return None
    return "the Graph API address must be https://graph.facebook.com/..."


# Graph API error codes that mean "slow down": application, user, page and custom rate limits.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
EXPIRED_TOKEN_CODE = 190


class MetaPublisher:
    """One channel connection (a Page or an Instagram user) reached through the Graph API."""

    kind = "meta"

    def __init__(
        self,
        channel: str,
        account_id: str,
        access_token: str,
        *,
        graph_url: str | None = None,
        can_delete_posts: bool = False,
        timeout: float = 30.0,
        poll_interval: float = 2.0,
        poll_attempts: int = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if channel not in ("facebook", "instagram"):
            raise ValueError(f"Meta cannot publish to {channel!r}")
        self.channel = channel
        self.account_id = account_id
        self._token = access_token
        self.graph_url = (graph_url or DEFAULT_GRAPH_URL).rstrip("/")
        problem = graph_url_problem(self.graph_url)
        if problem:
            raise ValueError(problem)
        self._can_delete = can_delete_posts
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.poll_attempts = poll_attempts
        self._sleep = sleep

    # -- the Publisher interface ------------------------------------------------------------

    def can_delete(self, channel: str) -> bool:
        """Facebook Page photos can always be deleted by the Page; Instagram only with the permission."""
        if channel != self.channel:
            return False
        if channel == "facebook":
            return True
        return self._can_delete

    def publish(self, request: PublishRequest) -> PublishResult:
        if request.channel != self.channel:
            raise PublisherError(f"this connection posts to {self.channel}, not {request.channel}")
        if not request.image_url:
            raise PublisherError("Meta fetches the photo from a public link, and none was given")
        if self.channel == "facebook":
            return self._publish_facebook(request)
        return self._publish_instagram(request)

    def delete(self, channel: str, external_id: str) -> DeleteResult:
        if not self.can_delete(channel):
            return DeleteResult(
                deleted=False,
                message=f"This {channel} connection may not delete posts: remove it by hand.",
            )
        body = self._call("DELETE", external_id)
        if body.get("success") is True:
            return DeleteResult(deleted=True)
        return DeleteResult(deleted=False, message=f"Meta did not confirm the deletion: {body!r}")

    # -- Facebook ---------------------------------------------------------------------------

    def _publish_facebook(self, request: PublishRequest) -> PublishResult:
        body = self._call(
            "POST",
            f"{self.account_id}/photos",
            {"url": request.image_url, "message": request.caption, "published": "true"},
        )
        photo_id = _required(body, "id")
        post_id = str(body.get("post_id") or photo_id)
        # The photo id is what DELETE takes; the post id makes the link the owner opens.
        return PublishResult(external_id=photo_id, url=f"https://www.facebook.com/{post_id}")

    # -- Instagram --------------------------------------------------------------------------

    def publishing_quota(self) -> tuple[int, int]:
        """Return (used, total) of the account's 24-hour publishing limit."""
        body = self._call(
            "GET",
            f"{self.account_id}/content_publishing_limit",
            {"fields": "quota_usage,config"},
        )
        data = body.get("data") or [{}]
        entry = data[0] if isinstance(data, list) and data else {}
        used = int(entry.get("quota_usage") or 0)
        total = int((entry.get("config") or {}).get("quota_total") or 100)
        return used, total

    def _publish_instagram(self, request: PublishRequest) -> PublishResult:
        used, total = self.publishing_quota()
        if used >= total:
            raise PublisherError(
                f"Instagram's publishing limit is used up ({used} of {total} posts in 24 hours). "
                "Try again tomorrow.",
                retryable=False,
                code="quota_exhausted",
            )
        container = _required(
            self._call(
                "POST",
                f"{self.account_id}/media",
                {"image_url": request.image_url, "caption": request.caption},
            ),
            "id",
        )
        self._wait_for_container(container)
        media_id = _required(
            self._call("POST", f"{self.account_id}/media_publish", {"creation_id": container}),
            "id",
        )
        url: str | None = None
        try:
            url = self._call("GET", media_id, {"fields": "permalink"}).get("permalink")
        except PublisherError as exc:
            # The post is live; a missing link must not make the job post it a second time.
            log.warning("Instagram media %s published but its permalink failed: %s", media_id, exc)
        return PublishResult(external_id=media_id, url=url)

    def _wait_for_container(self, container: str) -> None:
        for attempt in range(self.poll_attempts):
            status = self._call("GET", container, {"fields": "status_code"}).get("status_code")
            if status in ("FINISHED", "PUBLISHED"):
                return
            if status in ("ERROR", "EXPIRED"):
                raise PublisherError(
                    f"Instagram could not prepare the photo (container status {status}). "
                    "Check that the photo link works and the photo is a JPEG within Instagram's limits.",
                    retryable=False,
                    code=f"container_{status.lower()}",
                )
            if attempt + 1 < self.poll_attempts:
                self._sleep(self.poll_interval)
        raise PublisherError(
            "Instagram is still preparing the photo; it will be tried again.",
            retryable=True,
            code="container_timeout",
        )

    # -- HTTP -------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, params: dict[str, str | None] | None = None
    ) -> dict[str, Any]:
        params = dict(params or {})
        params["access_token"] = self._token
        encoded = urllib.parse.urlencode(params)
        url = f"{self.graph_url}/{urllib.parse.quote(path)}"
        data: bytes | None = None
        if method == "POST":
            data = encoded.encode("ascii")
        else:
            url = f"{url}?{encoded}"
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (configured https URL)
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            exc.close()
            raise graph_error(exc.code, raw) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PublisherError(
                f"Could not reach Meta ({reason}); it will be tried again.",
                retryable=True,
                code="network",
            ) from None
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise PublisherError(
                "Meta answered with something that is not JSON", retryable=True, code="bad_response"
            ) from None
        if not isinstance(body, dict):
            raise PublisherError(
                "Meta answered with an unexpected shape", retryable=True, code="bad_response"
            )
        if "error" in body:
            raise graph_error(200, raw)
        return body


def graph_error(status: int, raw: bytes) -> PublisherError:
    """Turn a Graph API error body into a PublisherError the owner can act on."""
    try:
        error = json.loads(raw).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = error.get("code")
    message = str(error.get("message") or f"HTTP {status}")
    if code in RATE_LIMIT_CODES:
        return PublisherError(
            f"Meta's rate limit was reached ({message}); it will be tried again later.",
            retryable=True,
            code="rate_limit",
        )
    if code == EXPIRED_TOKEN_CODE:
        return PublisherError(
            "Meta no longer accepts the saved access token (it expired or was revoked). "
            "Reconnect the account under Settings → Connections.",
            retryable=False,
            code="token_expired",
        )
    if status >= 500 or error.get("is_transient"):
        return PublisherError(
            f"Meta had a temporary problem: {message}", retryable=True, code="transient"
        )
    return PublisherError(
        f"Meta refused the request: {message} (code {code})", retryable=False, code=f"graph_{code}"
    )


def _required(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not value:
        raise PublisherError(f"Meta's answer has no {key!r}", retryable=False, code="bad_response")
    return str(value)
