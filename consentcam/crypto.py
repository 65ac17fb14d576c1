"""Encryption at rest for face templates, consent evidence and access tokens (Fernet, keyed per instance)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class VaultError(RuntimeError):
    pass


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


class Vault:
    """Encrypt with the newest key; decrypt with any key still listed (for rotation)."""

    def __init__(self, keys: str | list[str]) -> None:
        if isinstance(keys, str):
            keys = [k for k in keys.split(",") if k.strip()]
        if not keys:
            raise VaultError(
                "no ENCRYPTION_KEY is set: run `consentcam init` or set CONSENTCAM_ENCRYPTION_KEY"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode("ascii")) for k in keys])
        except ValueError as exc:
            raise VaultError("ENCRYPTION_KEY is not a valid Fernet key") from exc

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise VaultError("data cannot be decrypted with the configured ENCRYPTION_KEY") from exc

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt a token under the newest key."""
        return self._fernet.rotate(token)
