"""Password hashing: full-strength scrypt in the app; only the test suite uses a cheaper cost."""

from __future__ import annotations

import subprocess
import sys

import pytest

from consentcam.services import users
from tests.conftest import TEST_PASSWORD_METHOD


def test_a_process_of_the_app_hashes_with_full_strength_scrypt() -> None:
    # A fresh interpreter, as `consentcam serve` or `consentcam init` would start: nothing there
    # calls use_password_method, so it hashes with werkzeug's scrypt defaults.
    code = (
        "from consentcam.services import users; print(users.hash_password('a-long-owner-password'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    stored = done.stdout.strip().splitlines()[-1]
    assert stored.startswith("scrypt:32768:8:1$"), stored
    assert users.PASSWORD_METHOD == "scrypt"


def test_the_suite_hashes_cheaply_and_checks_either_kind() -> None:
    cheap = users.hash_password("a-long-owner-password")
    assert cheap.startswith(TEST_PASSWORD_METHOD + "$"), cheap
    from werkzeug.security import check_password_hash, generate_password_hash

    strong = generate_password_hash("a-long-owner-password", method=users.PASSWORD_METHOD)
    assert check_password_hash(cheap, "a-long-owner-password")
    assert check_password_hash(strong, "a-long-owner-password")
    assert not check_password_hash(cheap, "a-long-owner-passwort")


def test_only_scrypt_can_be_chosen() -> None:
    with pytest.raises(ValueError, match="scrypt"):
        users.use_password_method("pbkdf2:sha256:1")
    assert users.hash_password("a-long-owner-password").startswith(TEST_PASSWORD_METHOD)
