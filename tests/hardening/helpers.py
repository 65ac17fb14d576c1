"""Small helpers shared by the hardening tests."""

from __future__ import annotations

from flask import Flask


def owner_token(app: Flask, users: dict[str, int], role: str = "owner") -> str:
    """Create a bearer token for the owner (or staff) and return its clear text."""
    from consentcam.models import User
    from consentcam.services import users as users_service

    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        user = s.get(User, users[role])
        _, clear = users_service.create_token(s, user, "hardening tests")
        s.commit()
    return clear


def multipart(
    fields: dict[str, str] | None = None, files: list[tuple[str, str, bytes]] | None = None
) -> tuple[bytes, str]:
    """A multipart/form-data body in memory (the test client would spool a large one to disk)."""
    boundary = "----consentcam-test-boundary"
    parts: list[bytes] = []
    for name, value in (fields or {}).items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for field, filename, data in files or []:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
