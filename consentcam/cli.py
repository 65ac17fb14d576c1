"""The `consentcam` command: set up an instance, run it, and work with photos and people."""

from __future__ import annotations

import json
import mimetypes
import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from consentcam import config as config_mod


class Context:
    def __init__(self, instance: Path) -> None:
        self.instance = instance
        self._rt: Any = None

    def runtime(self) -> Any:
        if self._rt is None:
            if not (self.instance / config_mod.CONFIG_FILE).exists():
                raise click.ClickException(
                    f"no instance at {self.instance}: run `consentcam init` first "
                    "(or set CONSENTCAM_INSTANCE / --instance)"
                )
            from consentcam.runtime import Runtime

            self._rt = Runtime.build(self.instance)
        return self._rt

    def close(self) -> None:
        """Return the database connections when the command ends (also under test runners)."""
        if self._rt is not None:
            self._rt.close()
            self._rt = None


# Typed, so that commands in other modules (consentcam.commands) stay typed under it.
pass_ctx: Callable[[Callable[..., Any]], Callable[..., Any]] = click.make_pass_decorator(Context)


#: waitress limits of `consentcam serve`: a connection idle for 30 s is closed (waitress: 120 s),
#: checked every 5 s (30 s); 200 connections per process (100). See _evict_idle_when_full.
SERVER_LIMITS: dict[str, int] = {
    "connection_limit": 200,
    "channel_timeout": 30,
    "cleanup_interval": 5,
    "backlog": 1024,
}


@click.group()
@click.option(
    "--instance",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CONSENTCAM_INSTANCE",
    default="instance",
    show_default=True,
    help="The instance folder (config, database, media).",
)
@click.pass_context
def main(ctx: click.Context, instance: Path) -> None:
    """consentcam: no face goes online without a signed permission."""
    # Everything the app creates (database, WAL, queue, media, reports) is its user's alone.
    previous = os.umask(0o077)
    ctx.call_on_close(lambda: os.umask(previous))
    ctx.obj = Context(instance.resolve())
    ctx.call_on_close(ctx.obj.close)


def require_engine(load: bool = True) -> None:
    """Stop with one clear message when the face models cannot be loaded (or found, without load).

    Both models a scan needs: dlib's (landmarks and encodings) and BlazeFace's (detection).
    """
    from consentcam.faces.blazeface import get_detector, locate_model
    from consentcam.faces.engine import EngineUnavailable, get_engine, locate_models

    try:
        if load:
            get_engine().load()
            get_detector().load()
        else:
            locate_models()
            locate_model()
    except EngineUnavailable as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option(
    "--owner-email", default=None, help="E-mail of the first owner account (else asked for)."
)
@click.option("--owner-name", default=None, help="The owner's own name (else asked for).")
@click.option(
    "--owner-password",
    default=None,
    envvar="CONSENTCAM_OWNER_PASSWORD",
    help="At least 12 characters (else asked for, twice, without showing it).",
)
@click.option("--business", default=None, help="The business's name, printed on forms and audits.")
@click.option(
    "--responsible",
    default=None,
    help="The person responsible for the data, named on the form (default: the owner).",
)
@click.option(
    "--language",
    type=click.Choice(["en", "sv"]),
    default=None,
    help="Default language of the app and the form: sv or en.",
)
@click.option("--database-url", default=None, help="Default: SQLite in the instance folder.")
@click.option("--queue-url", default=None, help="Default: SQLite queue in the instance folder.")
@pass_ctx
def init(
    ctx: Context,
    owner_email: str | None,
    owner_name: str | None,
    owner_password: str | None,
    business: str | None,
    responsible: str | None,
    language: str | None,
    database_url: str | None,
    queue_url: str | None,
) -> None:
    """Create the instance: config with fresh keys, migrated database, first owner.

    Given the owner's e-mail and password as options it asks nothing (what is not given keeps
    its default); otherwise it asks for each detail in turn, with a suggestion Enter accepts.
    """
    from consentcam.crypto import new_key
    from consentcam.services import users

    cfg_path = ctx.instance / config_mod.CONFIG_FILE
    if cfg_path.exists():
        raise click.ClickException(f"{cfg_path} exists already: this instance is set up")
    interactive = owner_email is None or owner_password is None
    if interactive:
        click.echo("Setting up consentcam. Press Enter to keep the suggestion in [brackets].")
        owner_email = owner_email or _ask_text("Your e-mail (you sign in with it)", None)
        owner_name = owner_name or _ask_text(
            "Your own name (shown on what you do in the app)", None
        )
        if owner_password is None:
            owner_password = _ask_password(users.password_problem)
        business = business or _ask_text("The business's name (printed on the consent form)", None)
        responsible = responsible or _ask_text(
            "Who is responsible for the customers' data (named on the form)", owner_name
        )
        language = language or click.prompt(
            "Language of the app and the form (sv = Swedish, en = English)",
            default=_suggested_language(),
            type=click.Choice(["sv", "en"]),
        )
    assert owner_email is not None and owner_password is not None
    owner_name = (owner_name or "").strip() or "Owner"
    for label, text in (("name", owner_name), ("business", business), ("responsible", responsible)):
        if text and config_mod.has_control_characters(text):
            raise click.ClickException(f"the {label} may not contain line breaks or tabs")
    problem = users.password_problem(owner_password)
    if problem:
        raise click.ClickException(problem)
    values: dict[str, Any] = {
        "secret_key": config_mod.new_secret(),
        "encryption_key": new_key(),
        "business_name": (business or "").strip(),
        "responsible_person": (responsible or "").strip() or owner_name,
        "language": language or "en",
    }
    if database_url:
        values["database_url"] = database_url
    if queue_url:
        values["queue_url"] = queue_url
    config_mod.write_instance_config(ctx.instance, values)
    rt = ctx.runtime()
    from consentcam.db import upgrade

    upgrade(rt.engine)
    with rt.sessions() as session:
        users.create_user(session, owner_email, owner_name, owner_password, role="owner")
        session.commit()
    from consentcam.storage import make_private

    make_private(ctx.instance, deep=True)
    click.echo(f"Instance ready at {ctx.instance}. Start it with: consentcam serve")
    if not values["business_name"]:
        click.echo(
            "No business name yet: set it under Settings before recording consents "
            "(the consent form names the business)."
        )


def _ask_text(question: str, default: str | None) -> str:
    """Ask until a non-empty answer comes (Enter accepts ``default`` when there is one)."""
    while True:
        answer = str(click.prompt(question, default=default or None, show_default=bool(default)))
        answer = answer.strip()
        if answer and not config_mod.has_control_characters(answer):
            return answer
        click.echo("Please write an answer on one line.")


def _ask_password(problem: Callable[[str], str | None]) -> str:
    """Ask for the password twice until it is long enough and both agree."""
    while True:
        password = str(click.prompt("Choose a password (12 characters or more)", hide_input=True))
        why = problem(password)
        if why:
            click.echo(f"{why[:1].upper()}{why[1:]}. Try again.")
            continue
        again = str(click.prompt("The same password again", hide_input=True))
        if again == password:
            return password
        click.echo("The two passwords differ. Try again.")


def _suggested_language() -> str:
    """Swedish on a Swedish system, else English."""
    lang = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "sv" if lang.lower().startswith("sv") else "en"


@main.command()
@pass_ctx
def migrate(ctx: Context) -> None:
    """Bring the database schema up to date."""
    from consentcam.db import upgrade

    upgrade(ctx.runtime().engine)
    click.echo("database is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Web processes sharing the port (one per core serves pages in parallel; POSIX only).",
)
@click.option(
    "--connection-limit",
    default=SERVER_LIMITS["connection_limit"],
    show_default=True,
    type=click.IntRange(10, 10_000),
    help="Open connections per process; when full, the longest-waiting idle ones are closed.",
)
@click.option("--no-worker", is_flag=True, help="Do not start the background worker.")
@pass_ctx
def serve(
    ctx: Context,
    host: str,
    port: int,
    threads: int,
    processes: int,
    connection_limit: int,
    no_worker: bool,
) -> None:
    """Run the web app (waitress) with a background worker beside it."""
    import waitress

    from consentcam.db import upgrade
    from consentcam.web import create_app

    # The web process only checks the models are there: dlib is loaded by the worker alone.
    require_engine(load=False)
    rt = ctx.runtime()
    upgrade(rt.engine)
    from consentcam.storage import make_private

    make_private(ctx.instance)  # an instance made before this version: its files too
    worker = None
    if not no_worker:
        # The worker is its own process, so face detection never runs in a web thread.
        env = dict(os.environ, CONSENTCAM_INSTANCE=str(ctx.instance))
        worker = subprocess.Popen(
            [sys.executable, "-m", "consentcam", "worker"], env=env, preexec_fn=_end_with_parent
        )
    click.echo(f"consentcam on http://{host}:{port}/ (instance {ctx.instance})")
    # A service manager stops the server with SIGTERM, which would end Python at once and skip
    # stopping the worker below; as an exit instead, waitress closes down and `finally` runs.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        if processes > 1:
            # Connections made before the fork must not be shared by the children.
            rt.engine.dispose()
            _serve_forked(ctx.instance, host, port, threads, processes, connection_limit)
        else:
            app = create_app(instance_path=ctx.instance)
            server = waitress.create_server(
                app,
                host=host,
                port=port,
                threads=threads,
                ident="consentcam",
                **{**SERVER_LIMITS, "connection_limit": connection_limit},
            )
            _evict_idle_when_full(server)
            server.run()
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


def _evict_idle_when_full(server: Any) -> None:
    """At the connection limit, close the connections that wait longest without a request.

    waitress stops accepting at its connection limit until an idle connection times out, so a
    few hundred sockets that send half a header (or nothing) would shut everyone else out for
    the whole timeout. Instead, when the limit is reached, the connections that are not being
    answered are closed, oldest first: first those still sending their header (by when they
    opened: a slow drip does not make one younger), then kept-alive idle ones (by last use).
    A request being answered or a body being uploaded is never closed. A reverse proxy in front
    (README, Security) is still the place to limit clients on an open network.
    """
    readable = server.readable
    limit = int(server.adj.connection_limit)
    slack = max(1, limit // 10)

    def evicting_readable() -> bool:
        if len(server._map) >= limit:
            candidates = []
            for channel in list(server.active_channels.values()):
                if channel.requests or channel.total_outbufs_len or channel.will_close:
                    continue
                partial = channel.request
                if partial is not None and partial.headers_finished:
                    continue  # a body on its way (an upload): leave it
                waiting_header = (
                    partial is not None or channel.last_activity == channel.creation_time
                )
                since = channel.creation_time if waiting_header else channel.last_activity
                candidates.append((0 if waiting_header else 1, since, channel))
            candidates.sort(key=lambda c: (c[0], c[1]))
            for _rank, _since, channel in candidates[:slack]:
                # Closed by waitress itself on the loop's next pass (it is writable now).
                channel.will_close = True
        return bool(readable())

    server.readable = evicting_readable


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _end_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send the worker SIGTERM when `consentcam serve` dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _serve_forked(
    instance: Path, host: str, port: int, threads: int, processes: int, connection_limit: int
) -> None:
    """Several waitress processes accepting on one listening socket (the pre-fork model).

    Python runs one thread at a time per process, so a page's CPU work (queries, templates) uses
    one core however many threads waitress has; one process per core uses them all. Each child
    builds its own app after the fork, so no database connection crosses a process boundary.
    """
    import socket

    import waitress

    from consentcam.web import create_app

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    # Open connections per child, in memory shared across the fork (see _accept_when_least_busy).
    load = multiprocessing.RawArray("i", processes)
    children: list[int] = []
    for index in range(processes):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                app = create_app(instance_path=instance)
                server = waitress.create_server(
                    app,
                    sockets=[listener],
                    threads=threads,
                    ident="consentcam",
                    **{**SERVER_LIMITS, "connection_limit": connection_limit},
                )
                _evict_idle_when_full(server)
                _accept_when_least_busy(server, load, index)
                server.run()
            except BaseException:  # noqa: BLE001 - the child reports and ends, never returns
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    listener.close()

    def stop(signum: int, _frame: Any) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    running = set(children)
    while running:
        try:
            pid, _status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            break
        if pid in running:
            running.discard(pid)
            # A child that ended must not look idle to the others, or they would stop accepting.
            load[children.index(pid)] = 2**30


#: Longest wait of an idle worker between two looks at the job queue.
IDLE_POLL_SECONDS = 1.0


def _accept_when_least_busy(server: Any, load: Any, index: int) -> None:
    """Let only the child with the fewest open connections accept the next one.

    All children accept on one listening socket, and the kernel wakes them together; whichever
    runs first takes the connection. Browsers and load balancers keep connections open and send
    request after request on them, so an early imbalance (11 connections on one process, 5 on
    the other was seen under 16 clients) lasts, and the busier process's queue sets the tail
    latency while the other has idle time. Each child publishes its count of open connections
    before every wait for events and listens only while no other child has fewer, so one child
    (the least busy) always accepts and there is no cap on connections.
    """
    baseline = len(server._map)  # the listening socket and waitress's wake-up pipe
    readable = server.readable
    # Another child's count changing does not wake this one: look again every 20 ms (waitress
    # waits up to a second), so a burst of connections (hundreds of idle sockets opened at once
    # by an attacker) is taken in within a second, not one per child per second.
    server.adj.asyncore_loop_timeout = 0.02

    def least_busy_readable() -> bool:
        mine = len(server._map) - baseline
        load[index] = mine
        # waitress's own check first: it also runs its periodic clean-up of idle connections.
        # One connection of slack lets both children accept while they are level.
        return bool(readable()) and mine <= min(load) + 1

    server.readable = least_busy_readable


@main.command()
@click.option(
    "--workers", "-w", default=None, type=int, help="Worker processes (default: WORKERS)."
)
@pass_ctx
def worker(ctx: Context, workers: int | None) -> None:
    """Run background jobs (scans, publishing, removals) until stopped."""
    from huey.consumer import Consumer

    from consentcam import jobs

    require_engine()
    rt = ctx.runtime()
    huey = jobs.start(rt).huey
    count = workers or int(rt.settings.get("WORKERS") or 1)
    consumer = Consumer(
        huey,
        workers=count,
        worker_type="process" if count > 1 else "thread",
        periodic=True,
        # An idle worker asks the queue for work at least once a second (huey's default backs
        # off to 10 s), so a photo uploaded after a quiet spell starts scanning at once.
        max_delay=IDLE_POLL_SECONDS,
    )
    counts = jobs.on_worker_start(rt)
    click.echo(
        f"worker ready: swept {counts['swept']} leftover file(s), queued again "
        f"{counts['scans']} unfinished scan(s) and {counts['removals']} API removal(s)",
        err=True,
    )
    if count > 1:
        # The worker processes are forked from this one. The start-up above left an open
        # database connection in the pool; a forked child must not use its parent's SQLite
        # connection, so close them here and let each worker open its own.
        rt.engine.dispose()
    consumer.run()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_ctx
def scan(ctx: Context, as_json: bool, paths: tuple[Path, ...]) -> None:
    """Scan image files for faces, without a server, and name the people enrolled here."""
    from consentcam.faces.decode import ImageRejected
    from consentcam.faces.match import Matcher
    from consentcam.faces.pipeline import ScanSettings, scan_image

    require_engine()
    matcher = Matcher(__import__("numpy").zeros((0, 128)), [])
    names: dict[int, str] = {}
    settings = ScanSettings()
    if (ctx.instance / config_mod.CONFIG_FILE).exists():
        from consentcam.models import Person
        from consentcam.services.scanning import enrolled_matcher, scan_settings

        rt = ctx.runtime()
        settings = scan_settings(rt)
        with rt.sessions() as session:
            matcher = enrolled_matcher(session, rt)
            names = dict(session.execute(sa.select(Person.id, Person.name)).all())
    failed = False
    for path in paths:
        try:
            if not path.is_file():
                raise ImageRejected(f"{path}: no such file")
            result = scan_image(path, settings, name=str(path))
        except ImageRejected as exc:
            failed = True
            if as_json:
                click.echo(json.dumps({"path": str(path), "error": str(exc)}))
            else:
                click.echo(f"{path}: error: {exc}", err=True)
            continue
        faces: list[dict[str, Any]] = []
        matches = (
            matcher.match_many(__import__("numpy").stack([f.encoding for f in result.faces]))
            if result.faces
            else []
        )
        for found, match in zip(result.faces, matches, strict=True):
            person = None
            if match.person_id is not None:
                person = {"id": int(match.person_id), "name": names.get(int(match.person_id), "")}
            faces.append(
                {
                    "box": [int(v) for v in found.box],
                    "person": person,
                    "distance": None if match.distance is None else round(float(match.distance), 4),
                }
            )
        if as_json:
            record = {
                "path": str(path),
                "width": result.width,
                "height": result.height,
                "faces": faces,
                "seconds": round(result.seconds, 4),
            }
            click.echo(json.dumps(record))
        else:
            click.echo(
                f"{path}: {result.width}x{result.height}, {len(faces)} face(s), {result.seconds:.2f} s"
            )
            for n, face in enumerate(faces, start=1):
                who = face["person"]["name"] if face["person"] else "nobody enrolled"
                click.echo(f"  face {n} at {face['box']}: {who}")
    if failed:
        sys.exit(1)


@main.group()
def user() -> None:
    """Accounts: reset a forgotten password."""


@user.command("password")
@click.argument("email")
@click.password_option(help="The new password (at least 12 characters).")
@pass_ctx
def user_password(ctx: Context, email: str, password: str) -> None:
    """Set a new password for an account and end all its sessions (a forgotten password)."""
    import sqlalchemy as sa

    from consentcam.db import session_scope
    from consentcam.models import User
    from consentcam.services import users

    problem = users.password_problem(password)
    if problem:
        raise click.ClickException(problem)
    with session_scope(ctx.runtime().sessions) as s:
        account = s.scalar(sa.select(User).where(User.email == email.strip().lower()))
        if account is None:
            raise click.ClickException(f"no account for {email}")
        account.password_hash = users.hash_password(password)
        users.sign_out_everywhere(s, account)
    click.echo(f"new password set for {email}; every session of it is ended")


@main.group()
def person() -> None:
    """People and their consent."""


@person.command("add")
@click.argument("name")
@click.option(
    "--channels", required=True, help="Comma-separated: instagram,facebook,website,print."
)
@click.option(
    "--evidence",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signed form: a scan or photo (JPEG, PNG) or a PDF.",
)
@click.option("--biometric", is_flag=True, help="The person agreed to automatic face recognition.")
@click.option(
    "--reference",
    "references",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A photo showing only this person's face (needs --biometric); repeat for more.",
)
@click.option("--email", default=None)
@click.option("--minor", is_flag=True, help="The person is under 18: --guardian signs.")
@click.option("--guardian", default=None, help="Name of the guardian who signed.")
@click.option("--expires", default=None, help="Expiry date, YYYY-MM-DD.")
@click.option(
    "--language",
    type=click.Choice(["en", "sv"]),
    default="en",
    show_default=True,
    help="Language of the form that was signed.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def person_add(
    ctx: Context,
    name: str,
    channels: str,
    evidence: Path,
    biometric: bool,
    references: tuple[Path, ...],
    email: str | None,
    minor: bool,
    guardian: str | None,
    expires: str | None,
    language: str,
    as_json: bool,
) -> None:
    """Add a person with a signed consent, and enrol reference faces under biometric consent."""
    from datetime import UTC, datetime

    from consentcam.services import people

    if references and not biometric:
        raise click.ClickException(
            "--reference needs --biometric: reference faces are stored only with biometric consent"
        )
    if minor and not guardian:
        raise click.ClickException("--minor needs --guardian: a guardian signs for a minor")
    mime = mimetypes.guess_type(evidence.name)[0] or ""
    expires_at = None
    if expires:
        try:
            expires_at = datetime.strptime(expires, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError as exc:
            raise click.ClickException(f"--expires {expires!r}: use YYYY-MM-DD") from exc
    if references:
        require_engine()
    rt = ctx.runtime()
    with rt.sessions() as session:
        try:
            p = people.add_person(session, name, email=email, is_minor=minor)
            record = people.give_consent(
                session,
                rt,
                p,
                channels=[channels],
                evidence=evidence.read_bytes(),
                evidence_mime=mime,
                evidence_kind="scan",
                signer_name=guardian or name,
                guardian=bool(guardian),
                expires_at=expires_at,
                biometric=biometric,
                language=language,
            )
            refs = [
                people.enrol_reference(session, rt, p, ref.read_bytes(), ref.name)
                for ref in references
            ]
        except (people.ConsentError, ValueError) as exc:
            session.rollback()
            raise click.ClickException(str(exc)) from exc
        session.commit()
        if as_json:
            click.echo(
                json.dumps(
                    {"id": p.id, "name": p.name, "consent": record.id, "references": len(refs)}
                )
            )
        else:
            click.echo(
                f"added {p.name} (person {p.id}) with consent {record.id}; {len(refs)} reference face(s)"
            )


@person.command("link")
@click.argument("person_id", type=int)
@click.option(
    "--language",
    type=click.Choice(["en", "sv"]),
    default="sv",
    show_default=True,
    help="Language of the form the link opens.",
)
@click.option(
    "--qr",
    "qr_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the link's QR code to this file (.svg or .png).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def person_link(
    ctx: Context, person_id: int, language: str, qr_file: Path | None, as_json: bool
) -> None:
    """Make a one-time consent link the person signs on their own phone (needs PUBLIC_URL)."""
    import segno

    from consentcam.models import Person
    from consentcam.services import links
    from consentcam.web import create_app

    rt = ctx.runtime()
    base = str(rt.settings.get("PUBLIC_URL") or "").rstrip("/")
    if not base:
        raise click.ClickException("set PUBLIC_URL: the link must say where this instance is")
    if qr_file is not None and qr_file.suffix.lower() not in (".svg", ".png"):
        raise click.ClickException("--qr: name a .svg or .png file")
    with rt.sessions() as session:
        found = session.get(Person, person_id)
        if found is None or found.erased_at is not None:
            raise click.ClickException(f"no person {person_id}")
        issued = links.create_consent_link(session, rt, found, language=language)
        session.commit()
        link_id, expires = issued.link.id, issued.link.expires_at
    app = create_app(instance_path=ctx.instance)
    try:
        with app.test_request_context(base_url=base):
            from flask import url_for

            url = base + url_for("mine.sign", token=issued.token)
    finally:
        app.extensions["runtime"].close()
    if qr_file is not None:
        segno.make(url, error="m").save(str(qr_file), scale=8, border=2)
    if as_json:
        click.echo(json.dumps({"id": link_id, "url": url, "expires_at": expires.isoformat()}))
    else:
        click.echo(
            f"consent link {link_id} for {found.name}, valid once until {expires:%Y-%m-%d %H:%M} UTC:"
        )
        click.echo(url)


@person.command("link-state")
@click.argument("link_id", type=int)
@pass_ctx
def person_link_state(ctx: Context, link_id: int) -> None:
    """Say whether a consent link is waiting, used or expired."""
    from consentcam.models import ConsentLink
    from consentcam.services import links

    rt = ctx.runtime()
    with rt.sessions() as session:
        link = session.get(ConsentLink, link_id)
        if link is None:
            raise click.ClickException(f"no consent link {link_id}")
        click.echo(json.dumps(links.consent_link_json(link)))


from consentcam.commands import register as _register_commands  # noqa: E402

_register_commands(main)

from consentcam.maintenance import register as _register_maintenance  # noqa: E402

_register_maintenance(main)


def run() -> None:
    main(prog_name="consentcam")


if __name__ == "__main__":  # pragma: no cover
    run()
