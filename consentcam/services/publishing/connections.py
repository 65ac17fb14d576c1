"""How each channel is reached: posted by hand, or through Meta's Graph API with an account."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import ChannelConnection, User
from consentcam.publishers.meta import DEFAULT_GRAPH_URL, graph_url_problem
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.wording import N_, WordedError


class ConnectionSetupError(WordedError, ValueError):
    """A connection that cannot be saved as asked, worded for the owner."""


@dataclass(frozen=True)
class ConnectionChoice:
    """What the owner asked for one channel (empty texts: not given)."""

    channel: str
    kind: str = "manual"
    account_id: str = ""
    access_token: str = ""
    graph_url: str = ""
    can_delete: bool = False


def connections_by_channel(session: so.Session) -> dict[str, ChannelConnection]:
    return {c.channel: c for c in session.scalars(sa.select(ChannelConnection)).all()}


def save_connection(
    session: so.Session, rt: Runtime, choice: ConnectionChoice, actor: User
) -> ChannelConnection:
    """Save how a channel is reached, and record it (the token itself never goes in the log).

    A Meta connection needs an account id, an https Graph API address and an access token (a
    saved one is kept when none is given); ConnectionSetupError says which is missing.
    """
    conn = session.scalar(
        sa.select(ChannelConnection).where(ChannelConnection.channel == choice.channel)
    )
    if conn is None:
        conn = ChannelConnection(channel=choice.channel)
        session.add(conn)
    conn.kind = choice.kind or "manual"
    if conn.kind == "meta":
        _set_meta_account(rt, conn, choice)
    conn.can_delete = choice.can_delete and conn.kind == "meta"
    session.flush()
    events.record(
        session,
        "connection.saved",
        f"connection:{choice.channel}",
        {
            "kind": conn.kind,
            "account_id": conn.account_id if conn.kind == "meta" else None,
            "graph_url": conn.graph_url if conn.kind == "meta" else None,
            "can_delete": conn.can_delete,
            "token_changed": bool(choice.access_token),
        },
        actor=actor.email,
    )
    return conn


def _set_meta_account(rt: Runtime, conn: ChannelConnection, choice: ConnectionChoice) -> None:
    """The Meta account, Graph API address and (encrypted) token of a connection."""
    account_id = choice.account_id.strip()
    if not account_id:
        raise ConnectionSetupError(N_("A Meta connection needs the account id."))
    graph = choice.graph_url.strip() or DEFAULT_GRAPH_URL
    if graph_url_problem(graph):
        raise ConnectionSetupError(N_("The Graph API address must start with https://"))
    conn.account_id = account_id
    conn.graph_url = graph
    if choice.access_token:
        conn.access_token_enc = rt.vault.encrypt(choice.access_token.strip().encode())
    if conn.access_token_enc is None:
        raise ConnectionSetupError(N_("A Meta connection needs an access token."))
