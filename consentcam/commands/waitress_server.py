"""The single web process: waitress, closing the idlest connections when it is full."""

from __future__ import annotations

from typing import Any

from waitress.server import TcpWSGIServer


class EvictingServer(TcpWSGIServer):  # type: ignore[misc]
    """A waitress server that, at its connection limit, closes the connections that wait longest
    without a request instead of no longer accepting.

    waitress stops accepting at its connection limit until an idle connection times out, so a
    few hundred sockets that send half a header (or nothing) would shut everyone else out for
    the whole timeout. Instead, when the limit is reached, the connections that are not being
    answered are closed, oldest first: first those still sending their header (by when they
    opened: a slow drip does not make one younger), then kept-alive idle ones (by last use).
    A request being answered or a body being uploaded is never closed. A reverse proxy in front
    (README, Security) is still the place to limit clients on an open network.
    """

    def readable(self) -> bool:
        limit = int(self.adj.connection_limit)
        if len(self._map) >= limit:
            for channel in self._idlest(max(1, limit // 10)):
                # Closed by waitress itself on the loop's next pass (it is writable now).
                channel.will_close = True
        return bool(super().readable())

    def _idlest(self, count: int) -> list[Any]:
        """Up to ``count`` channels nobody is being answered on, the longest-waiting first."""
        candidates = []
        for channel in list(self.active_channels.values()):
            if channel.requests or channel.total_outbufs_len or channel.will_close:
                continue
            partial = channel.request
            if partial is not None and partial.headers_finished:
                continue  # a body on its way (an upload): leave it
            waiting_header = partial is not None or channel.last_activity == channel.creation_time
            since = channel.creation_time if waiting_header else channel.last_activity
            candidates.append((0 if waiting_header else 1, since, channel))
        candidates.sort(key=lambda c: (c[0], c[1]))
        return [channel for _rank, _since, channel in candidates[:count]]
