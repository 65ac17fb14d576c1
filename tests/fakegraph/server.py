"""A small threaded fake of Meta's Graph API on 127.0.0.1 that records every request."""

from __future__ import annotations

import itertools
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "rate_limit": (
        403,
        {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4},
    ),
    "page_rate_limit": (
        403,
        {"message": "(#32) Page request limit reached", "type": "OAuthException", "code": 32},
    ),
    "expired_token": (
        400,
        {
            "message": "Error validating access token: Session has expired.",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 463,
        },
    ),
    "bad_param": (
        400,
        {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100},
    ),
}


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]


@dataclass
class Fetch:
    url: str
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class State:
    calls: list[Call] = field(default_factory=list)
    fetches: list[Fetch] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    container_statuses: dict[str, list[str]] = field(default_factory=dict)
    container_script: list[str] = field(default_factory=lambda: ["FINISHED"])
    quota_usage: int = 0
    quota_total: int = 100
    deleted: set[str] = field(default_factory=set)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    token: str = "good-token"


class FakeGraph:
    """Start with `with FakeGraph() as graph:`; point a connection's graph_url at `graph.url`."""

    def __init__(self, token: str = "good-token") -> None:
        self.state = State(token=token)
        self._ids = itertools.count(17841400000000001)
        self._lock = threading.Lock()
        handler = self._handler_class()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- scenario switches ---------------------------------------------------------------------

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Answer the next `times` requests with a Graph error: rate_limit, expired_token, ..."""
        if kind not in ERRORS:
            raise ValueError(kind)
        with self._lock:
            self.state.failures.extend([kind] * times)

    def container_statuses(self, *statuses: str) -> None:
        """The status_code answers of the next container, in order (the last one repeats)."""
        self.state.container_script = list(statuses)

    def set_quota(self, used: int, total: int = 100) -> None:
        self.state.quota_usage = used
        self.state.quota_total = total

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}/v21.0"

    def __enter__(self) -> FakeGraph:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    @property
    def calls(self) -> list[Call]:
        return list(self.state.calls)

    @property
    def fetches(self) -> list[Fetch]:
        return list(self.state.fetches)

    def calls_to(self, method: str, suffix: str) -> list[Call]:
        return [c for c in self.state.calls if c.method == method and c.path.endswith(suffix)]

    # -- the server --------------------------------------------------------------------------

    def new_id(self) -> str:
        with self._lock:
            return str(next(self._ids))

    def fetch(self, url: str) -> Fetch:
        """Fetch the image the way Meta does, and remember what came back."""
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (test server)
                fetched = Fetch(url, resp.status, resp.headers.get("Content-Type", ""), resp.read())
                fetched.headers = dict(resp.headers)
        except urllib.error.HTTPError as exc:
            fetched = Fetch(url, exc.code, exc.headers.get("Content-Type", ""), exc.read())
            exc.close()
        except OSError as exc:
            fetched = Fetch(url, 0, "", str(exc).encode())
        self.state.fetches.append(fetched)
        return fetched

    def handle(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        state = self.state
        state.calls.append(Call(method, path, params))
        with self._lock:
            failure = state.failures.pop(0) if state.failures else None
        if failure:
            status, error = ERRORS[failure]
            return status, {"error": {**error, "fbtrace_id": "AbCdEf" + self.new_id()[-6:]}}
        if params.get("access_token") != state.token:
            status, error = ERRORS["expired_token"]
            return status, {"error": {**error, "fbtrace_id": "AbCdEf"}}
        parts = [p for p in path.split("/") if p][1:]  # drop the version
        if method == "POST" and len(parts) == 2 and parts[1] == "photos":
            fetched = self.fetch(params.get("url", ""))
            if fetched.status != 200 or not fetched.body.startswith(b"\xff\xd8"):
                return 400, {
                    "error": {
                        "message": "(#324) Missing or invalid image file",
                        "type": "OAuthException",
                        "code": 324,
                        "fbtrace_id": "x",
                    }
                }
            photo_id = self.new_id()
            post_id = f"{parts[0]}_{photo_id}"
            state.objects[photo_id] = {
                "kind": "fb_photo",
                "message": params.get("message"),
                "post_id": post_id,
            }
            return 200, {"id": photo_id, "post_id": post_id}
        if method == "POST" and len(parts) == 2 and parts[1] == "media":
            fetched = self.fetch(params.get("image_url", ""))
            container = self.new_id()
            script = list(state.container_script)
            if fetched.status != 200 or not fetched.body.startswith(b"\xff\xd8"):
                script = ["ERROR"]
            state.container_statuses[container] = script
            state.objects[container] = {
                "kind": "container",
                "caption": params.get("caption"),
                "user": parts[0],
            }
            return 200, {"id": container}
        if method == "POST" and len(parts) == 2 and parts[1] == "media_publish":
            container = params.get("creation_id", "")
            published = state.container_statuses.get(container)
            if published is None or published[0] != "FINISHED":
                return 400, {
                    "error": {
                        "message": "(#9007) Media ID is not available",
                        "type": "OAuthException",
                        "code": 9007,
                        "error_subcode": 2207027,
                        "fbtrace_id": "x",
                    }
                }
            media_id = self.new_id()
            state.quota_usage += 1
            state.objects[media_id] = {"kind": "ig_media", "container": container}
            return 200, {"id": media_id}
        if method == "GET" and len(parts) == 2 and parts[1] == "content_publishing_limit":
            return 200, {
                "data": [
                    {
                        "quota_usage": state.quota_usage,
                        "config": {"quota_total": state.quota_total, "quota_duration": 86400},
                    }
                ]
            }
        if method == "GET" and len(parts) == 1:
            object_id = parts[0]
            fields = params.get("fields", "")
            if object_id in state.container_statuses and "status_code" in fields:
                steps = state.container_statuses[object_id]
                step = steps.pop(0) if len(steps) > 1 else steps[0]
                return 200, {"status_code": step, "id": object_id}
            if object_id in state.objects and "permalink" in fields:
                return 200, {
                    "permalink": f"https://www.instagram.com/p/Fake{object_id[-6:]}/",
                    "id": object_id,
                }
            return 404, {
                "error": {
                    "message": "Unsupported get request",
                    "type": "GraphMethodException",
                    "code": 100,
                    "error_subcode": 33,
                    "fbtrace_id": "x",
                }
            }
        if method == "DELETE" and len(parts) == 1:
            object_id = parts[0]
            if object_id not in state.objects or object_id in state.deleted:
                return 400, {
                    "error": {
                        "message": "Unsupported delete request",
                        "type": "GraphMethodException",
                        "code": 100,
                        "error_subcode": 33,
                        "fbtrace_id": "x",
                    }
                }
            state.deleted.add(object_id)
            return 200, {"success": True}
        return 400, {
            "error": {
                "message": f"Unknown path {path}",
                "type": "OAuthException",
                "code": 2500,
                "fbtrace_id": "x",
            }
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        graph = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _params(self) -> tuple[str, dict[str, str]]:
                split = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(split.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    body = self.rfile.read(length).decode("utf-8")
                    params.update({k: v[-1] for k, v in parse_qs(body).items()})
                return split.path, params

            def _answer(self, method: str) -> None:
                path, params = self._params()
                status, body = graph.handle(method, path, params)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._answer("DELETE")

        return Handler
