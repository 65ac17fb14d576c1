"""Absolute addresses of this instance: only from PUBLIC_URL, never from a request's Host header."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

__all__ = ["is_loopback", "public_base", "trusted_hosts"]

_LOOPBACK_HOSTS = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    if host in _LOOPBACK_HOSTS or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def public_base(config: Any, *, loopback: bool = False) -> str | None:
    """PUBLIC_URL without its trailing slash, or None when unset, not http(s) or a loopback host.

    The only source of absolute URLs (QR codes, links for Meta): the Host header of a request is
    the sender's to choose. A loopback PUBLIC_URL is refused for what a phone must open (a QR
    code); ``loopback=True`` allows it where a program on this machine fetches (a test Graph API).
    """
    base = str(config.get("PUBLIC_URL") or "").strip().rstrip("/")
    try:
        parts = urlsplit(base)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if is_loopback(parts.hostname) and not loopback:
        return None
    return base


def trusted_hosts(config: Any) -> list[str] | None:
    """The Host names to answer (TRUSTED_HOSTS, else PUBLIC_URL's host), or None for any."""
    listed = [h.strip().lower() for h in str(config.get("TRUSTED_HOSTS") or "").split(",")]
    hosts = [h for h in listed if h]
    if not hosts:
        try:
            public = urlsplit(str(config.get("PUBLIC_URL") or "")).hostname
        except ValueError:
            public = None
        if public and not is_loopback(public):
            hosts = [public]
    if not hosts:
        return None
    # The app itself on this machine (service checks, the worker's own calls) always answers.
    return [*hosts, "127.0.0.1", "localhost", "[::1]"]
