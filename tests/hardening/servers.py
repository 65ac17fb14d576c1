"""Real processes for fault and scale-out tests: instances made by the CLI, servers, workers, uploads."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from PIL import Image

from tests.conftest import FACES, OWNER_PASSWORD
from tests.hardening.helpers import multipart
from tests.waits import wait_until

#: Base photos with clear faces, for variants whose face count is known from the base.
BASES = (
    "unknown/obama1.jpg",
    "unknown/two_people.jpg",
    "unknown/kit_with_rose.jpg",
    "unknown/alex_lacamoire1.jpg",
    "unknown/johnsnow_test1.jpg",
    "unknown/obama3.jpg",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTCAM_")}
    env.update(extra)
    return env


def cli(
    instance: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "consentcam", "--instance", str(instance), *args],
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def init_instance(instance: Path, *extra: str, env: dict[str, str] | None = None) -> None:
    """`consentcam init` through the real command line, in this process (no interpreter to
    start): the environment is ``env`` (default: this one without CONSENTCAM_ variables)."""
    from click.testing import CliRunner

    from consentcam.cli import main

    wanted = env or clean_env()
    # CliRunner sets the variables given and unsets those mapped to None, for the call only.
    scoped: dict[str, str | None] = {k: None for k in os.environ if k not in wanted}
    scoped.update({k: v for k, v in wanted.items() if os.environ.get(k) != v})
    args = ["--owner-email", "owner@example.com", "--owner-password", OWNER_PASSWORD]
    # The printed consent form names the business, so consents need its name first.
    args += ["--business", "Kraftkällan", *extra]
    result = CliRunner().invoke(main, ["--instance", str(instance), "init", *args], env=scoped)
    assert result.exit_code == 0, result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    args: list[str], instance: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `consentcam ...` in its own process group (so a kill reaches its worker child too)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "consentcam", "--instance", str(instance), *args],
            env=env or clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def answers(url: str) -> bool:
    """Whether the server at url answers its sign-in page."""
    try:
        with urllib.request.urlopen(url + "/login", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def wait_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()[-3000:]}")
        return answers(url)

    wait_until(up, timeout=timeout, interval=0.3, message=lambda: log.read_text()[-3000:])


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server and everything it started (its worker), like a power cut."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_group(proc)


def variant(base: str, n: int, side: int = 700) -> bytes:
    """A distinct small JPEG of a base photo: same faces, one corner pixel differs."""
    with Image.open(FACES / base) as source:
        im = source.convert("RGB")
        im.thumbnail((side, side))
        # A whole 8x8 block (one JPEG block), so quantisation cannot hide the difference.
        im.paste((n * 37 % 256, (n // 7) * 53 % 256, 200), (0, 0, 8, 8))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=92, comment=f"variant {n}".encode())
        return out.getvalue()


def token_for_owner(instance: Path) -> str:
    """A new API token of the instance's owner (made in this process)."""
    import sqlalchemy as sa

    from consentcam.models import User
    from consentcam.runtime import Runtime
    from consentcam.services import users

    rt = Runtime.build(instance)
    try:
        with rt.sessions() as s:
            owner = s.scalars(sa.select(User).where(User.role == "owner")).first()
            assert owner is not None
            clear = users.create_token(s, owner, "tests")[1]
            s.commit()
        return clear
    finally:
        rt.close()


def api(
    url: str, token: str, method: str = "GET", body: Any = None, timeout: float = 60
) -> tuple[int, Any]:
    data = None
    headers = {"Authorization": f"Bearer {token}"}
    if isinstance(body, tuple):
        data, headers["Content-Type"] = body
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def upload(url: str, token: str, name: str, data: bytes) -> tuple[int, Any]:
    return api(url + "/api/v1/photos", token, "POST", multipart(files=[("photos", name, data)]))
