"""Customers acting for themselves: one-time consent links, the personal link, e-mail codes.

A consent link lets a customer sign on their own phone: it is used once, expires after
CONSENT_LINK_MINUTES, and only the SHA-256 of its token is stored. Signing gives the customer a
personal link to their own page, where they see their consent and posts, withdraw (through the
same withdrawal service as the owner), get a copy of their data after a one-time e-mail code,
and ask for erasure. Every invalid token is refused with the same error, whatever the reason.
Everything here works in the caller's unit of work and never commits.
"""

from __future__ import annotations

from consentcam.services.links.codes import check_code, new_code
from consentcam.services.links.common import (
    CODE_MINUTES,
    CODE_TRIES,
    CUSTOMER,
    TOKEN_BYTES,
    USER_AGENT_MAX,
    CodeRefused,
    LinkError,
    LinkRefused,
    hash_token,
    link_minutes,
    new_token,
)
from consentcam.services.links.consent import (
    IssuedLink,
    Signed,
    consent_link_json,
    create_consent_link,
    link_state,
    open_consent_link,
    sign_by_link,
)
from consentcam.services.links.customer_requests import (
    channel_rows,
    close_request,
    forget_person,
    open_requests,
)
from consentcam.services.links.personal import (
    ChannelConsent,
    MyRecord,
    Post,
    active_personal_link,
    issue_personal_link,
    my_record,
    open_personal_link,
    own_consent,
    request_erasure,
    revoke_personal_links,
    withdraw_by_customer,
)

__all__ = [
    "CODE_MINUTES",
    "CODE_TRIES",
    "CUSTOMER",
    "TOKEN_BYTES",
    "USER_AGENT_MAX",
    "ChannelConsent",
    "CodeRefused",
    "IssuedLink",
    "LinkError",
    "LinkRefused",
    "MyRecord",
    "Post",
    "Signed",
    "active_personal_link",
    "channel_rows",
    "check_code",
    "close_request",
    "consent_link_json",
    "create_consent_link",
    "forget_person",
    "hash_token",
    "issue_personal_link",
    "link_minutes",
    "link_state",
    "my_record",
    "new_code",
    "new_token",
    "open_consent_link",
    "open_personal_link",
    "open_requests",
    "own_consent",
    "request_erasure",
    "revoke_personal_links",
    "sign_by_link",
    "withdraw_by_customer",
]
