"""Find the publisher for a channel from its saved connection (manual unless Meta is set up)."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import ChannelConnection
from consentcam.publishers.base import Publisher, PublisherError
from consentcam.publishers.manual import ManualPublisher
from consentcam.publishers.meta import DEFAULT_GRAPH_URL, MetaPublisher, graph_url_problem
from consentcam.runtime import Runtime


def connection_for(session: so.Session, channel: str) -> ChannelConnection | None:
    return session.scalar(sa.select(ChannelConnection).where(ChannelConnection.channel == channel))


def get_publisher(session: so.Session, rt: Runtime, channel: str) -> Publisher:
    """Return the publisher that reaches `channel`: Meta when connected, otherwise manual posting.

    Used by publishing and by removals (`can_delete(channel)` says whether an API delete works).
    Raises PublisherError when a Meta connection is incomplete, so nothing is silently manual.
    """
    conn = connection_for(session, channel)
    if conn is None or conn.kind != "meta":
        return ManualPublisher(channel)
    if channel not in ("facebook", "instagram"):
        raise PublisherError(f"Meta cannot publish to {channel}", code="not_supported")
    if not conn.account_id or not conn.access_token_enc:
        raise PublisherError(
            f"The {channel} connection has no account id or access token: finish it under Connections.",
            code="not_connected",
        )
    problem = graph_url_problem(conn.graph_url or DEFAULT_GRAPH_URL)
    if problem:
        raise PublisherError(f"The {channel} connection: {problem}.", code="bad_graph_url")
    token = rt.vault.decrypt(conn.access_token_enc).decode("utf-8")
    settings = rt.settings
    return MetaPublisher(
        channel,
        conn.account_id,
        token,
        graph_url=conn.graph_url,
        can_delete_posts=conn.can_delete,
        poll_interval=float(settings.get("META_POLL_INTERVAL", 2.0)),
        poll_attempts=int(settings.get("META_POLL_ATTEMPTS", 30)),
    )
