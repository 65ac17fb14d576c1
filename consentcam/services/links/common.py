"""What every customer link shares: tokens kept only as hashes, the one refusal, the limits."""

from __future__ import annotations

import hashlib
import secrets

from consentcam.runtime import Runtime
from consentcam.wording import N_, WordedError

TOKEN_BYTES = 32
CODE_MINUTES = 15
CODE_TRIES = 5
USER_AGENT_MAX = 300
#: The actor the event log names for what a customer does through their own links.
CUSTOMER = "customer (own link)"


class LinkRefused(WordedError, ValueError):
    """A link that cannot be used; the same words for an unknown, used, expired or revoked one."""

    def __init__(self) -> None:
        super().__init__(
            N_(
                "This link cannot be used: it has been used already, has expired or is not "
                "valid. Ask the business for a new one."
            )
        )


class LinkError(WordedError, ValueError):
    """A request on a valid link that cannot be carried out as asked; the message says why."""


class CodeRefused(WordedError, ValueError):
    """A wrong, expired or used-up e-mail code."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def code_hash(link_id: int, code: str) -> str:
    return hashlib.sha256(f"{link_id}:{code}".encode()).hexdigest()


def link_minutes(rt: Runtime) -> int:
    return max(1, int(rt.settings.get("CONSENT_LINK_MINUTES") or 30))
