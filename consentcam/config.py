"""The settings of an instance: one explicit list, each with a default and a help text."""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "CONSENTCAM_"
CONFIG_FILE = "config.toml"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    kind: type = str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SECRET_KEY", None, "Signs sessions and CSRF tokens. `consentcam init` writes a random one."
    ),
    Setting(
        "ENCRYPTION_KEY",
        None,
        "Fernet key that encrypts face templates, consent evidence and access tokens at rest. "
        "`consentcam init` writes one; `consentcam rotate-key` replaces it.",
    ),
    Setting(
        "DATABASE_URL",
        None,
        "SQLAlchemy URL. Default: SQLite file `consentcam.db` in the instance folder. "
        "PostgreSQL: `postgresql+psycopg://user@host/db`.",
    ),
    Setting(
        "QUEUE_URL",
        None,
        "Background job queue. Default: SQLite file `queue.db` in the instance folder. "
        "Several machines: `redis://host:6379/0`. `immediate` runs jobs inline (tests only).",
    ),
    Setting(
        "MEDIA_DIR",
        None,
        "Folder for originals, evidence, cleared copies and reports. Default: `media` in the instance folder.",
    ),
    Setting(
        "LANGUAGE", "en", "Default language when the browser states no preference: `sv` or `en`."
    ),
    Setting("BUSINESS_NAME", "", "The business's name, printed on consent forms and audits."),
    Setting(
        "TIME_ZONE",
        "Europe/Stockholm",
        "Time zone in which times are shown, e.g. `Europe/Stockholm` (stored times stay UTC).",
    ),
    Setting("RESPONSIBLE_PERSON", "", "The person responsible for the data (signs audits)."),
    Setting(
        "REMOVAL_DUE_DAYS",
        7,
        "Days to take a post down after consent is withdrawn (at most 31).",
        int,
    ),
    Setting(
        "RETENTION", "2y", "Inactive people are erased after this period (`2y`, `18m`, `90d`)."
    ),
    Setting(
        "MATCH_THRESHOLD",
        0.5,
        "Largest face distance still suggested as a match (lower is stricter).",
        float,
    ),
    Setting(
        "AUTO_CONFIRM_DISTANCE",
        0.0,
        "Auto-confirm suggestions closer than this distance; 0 turns it off (the default).",
        float,
    ),
    Setting("MAX_PIXELS", 100_000_000, "Largest image accepted, in pixels.", int),
    Setting("MAX_UPLOAD_MB", 64, "Largest request body accepted, in megabytes.", int),
    Setting(
        "DETECT_SIDE",
        2000,
        "Long side, in pixels, of the copy dlib's HOG detector scans (photos no larger are "
        "scanned at full size). HOG alone finds faces from about 80/DETECT_SIDE of the photo's "
        "long side (4% at 2000); BlazeFace's tiles find smaller ones, down to 2% of the long "
        "side (80 px on a 12 MP photo), whatever this setting. Raising it costs "
        "(DETECT_SIDE/2000)^2 times HOG's time.",
        int,
    ),
    Setting(
        "PUBLIC_URL",
        "",
        "Base URL where this instance is reachable (for QR codes and Meta's image fetch).",
    ),
    Setting(
        "WORKERS", 1, "Worker processes started by `consentcam serve` and `consentcam worker`.", int
    ),
    Setting(
        "QUEUE_NAME", "consentcam", "Name of the job queue (several instances may share one Redis)."
    ),
    Setting(
        "PUBLISH_RETRIES",
        5,
        "Tries of a publish job that failed for a passing reason (rate limit, network).",
        int,
    ),
    Setting(
        "PUBLISH_RETRY_DELAY",
        60,
        "Seconds before the first retry of a publish job; doubles each time.",
        int,
    ),
    Setting(
        "META_POLL_INTERVAL",
        2.0,
        "Seconds between checks of an Instagram container's status.",
        float,
    ),
    Setting(
        "META_POLL_ATTEMPTS", 30, "Checks of an Instagram container before giving up for now.", int
    ),
    Setting(
        "LOGIN_RATE_LIMIT",
        "5/minute;20/hour",
        "Failed sign-ins allowed per account (e-mail), from any address.",
    ),
    Setting(
        "LOGIN_ADDRESS_RATE_LIMIT",
        "20/minute;100/hour",
        "Failed sign-ins allowed per client address, whatever e-mail is tried (password spraying).",
    ),
    Setting(
        "RATE_LIMIT_STORAGE",
        "",
        "Where failed sign-ins are counted: empty for this process's memory (or the Redis queue, "
        "when QUEUE_URL is Redis), or a `redis://` URL shared by every web process.",
    ),
    Setting(
        "CONSENT_LINK_MINUTES",
        30,
        "Minutes a consent link (QR code or e-mail) stays valid; each link signs once.",
        int,
    ),
    Setting(
        "SMTP_URL",
        "",
        "Outgoing mail server: `smtp://user:password@host:587` (STARTTLS when the server offers "
        "it), `smtp+starttls://...` (STARTTLS required) or `smtps://host:465` (TLS). Empty: "
        "e-mail is off and links are shown as QR codes and text to copy.",
    ),
    Setting("MAIL_FROM", "", "Sender address of the e-mails (receipts, codes, notices)."),
    Setting("MAIL_RETRIES", 5, "Tries of an e-mail before it is shown as failed.", int),
    Setting(
        "MAIL_RETRY_DELAY",
        60,
        "Seconds before the first retry of an e-mail; doubles each time.",
        int,
    ),
    Setting(
        "CUSTOMER_RATE_LIMIT",
        "30/minute;300/hour",
        "Requests allowed per address to the customers' link pages.",
    ),
    Setting(
        "CODE_RATE_LIMIT",
        "5/minute;20/hour",
        "E-mail codes asked for or tried per address on a customer's page.",
    ),
    Setting(
        "SECURE_COOKIES",
        "",
        "Send cookies over HTTPS only: `true`/`false`; empty means when PUBLIC_URL is https.",
    ),
    Setting(
        "TRUSTED_HOSTS",
        "",
        "Host names this instance answers to, comma-separated (other Host headers get 400); "
        "empty: the host of PUBLIC_URL, else any.",
    ),
    Setting(
        "TRUSTED_PROXIES",
        0,
        "Reverse proxies in front of the app whose X-Forwarded-* headers are trusted.",
        int,
    ),
)

DEFAULTS = {s.name: s.default for s in SETTINGS}
KINDS = {s.name: s.kind for s in SETTINGS}


def coerce(name: str, value: Any) -> Any:
    """Convert a raw value (from the environment or TOML) to the setting's type."""
    kind = KINDS.get(name, str)
    if value is None or isinstance(value, kind):
        return value
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"setting {name}: {value!r} is not a valid {kind.__name__}") from exc


#: Where a Runtime keeps the modification stamp of the config.toml it read.
STAMP_KEY = "settings.config_stamp"


def file_stamp(instance_path: Path) -> int | None:
    """config.toml's modification time in nanoseconds, or None when there is none."""
    try:
        return (instance_path / CONFIG_FILE).stat().st_mtime_ns
    except OSError:
        return None


def load(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the settings: defaults, then instance config.toml, then CONSENTCAM_* env, then overrides."""
    cfg: dict[str, Any] = dict(DEFAULTS)
    path = instance_path / CONFIG_FILE
    if path.exists():
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        for key, value in data.items():
            cfg[key.upper()] = coerce(key.upper(), value)
    for key, value in os.environ.items():
        if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "INSTANCE":
            name = key[len(ENV_PREFIX) :]
            cfg[name] = coerce(name, value)
    for key, value in (overrides or {}).items():
        cfg[key] = value
    if not cfg.get("DATABASE_URL"):
        cfg["DATABASE_URL"] = f"sqlite:///{instance_path / 'consentcam.db'}"
    if not cfg.get("QUEUE_URL"):
        cfg["QUEUE_URL"] = f"sqlite:///{instance_path / 'queue.db'}"
    if not cfg.get("MEDIA_DIR"):
        cfg["MEDIA_DIR"] = str(instance_path / "media")
    if cfg["REMOVAL_DUE_DAYS"] > 31 or cfg["REMOVAL_DUE_DAYS"] < 1:
        raise ValueError(
            "setting REMOVAL_DUE_DAYS must be between 1 and 31 (GDPR allows at most one month)"
        )
    return cfg


def instance_path_from_env(default: Path | None = None) -> Path:
    """Return the instance folder: CONSENTCAM_INSTANCE, else ./instance."""
    value = os.environ.get(ENV_PREFIX + "INSTANCE")
    if value:
        return Path(value).resolve()
    return (default or Path.cwd() / "instance").resolve()


def write_instance_config(instance_path: Path, values: dict[str, Any]) -> Path:
    """Write config.toml with the given values (readable by the owner only)."""
    import tomli_w

    instance_path.mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        if isinstance(value, str) and has_control_characters(value):
            raise ValueError(f"setting {key.upper()}: control characters are not allowed")
    text = "# consentcam instance settings; see README.md for every setting.\n" + tomli_w.dumps(
        {key.lower(): value for key, value in values.items() if value is not None}
    )
    path = instance_path / CONFIG_FILE
    replace_file(path, text.encode("utf-8"))
    return path


def replace_file(path: Path, content: bytes) -> None:
    """Put ``content`` in ``path`` whole or not at all (readable by the owner only): written to a
    file beside it, synced, then renamed over it."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a line break, tab or other control character (Unicode Cc)."""
    import unicodedata

    return any(unicodedata.category(ch) == "Cc" for ch in text)


def new_secret() -> str:
    """Return a fresh random secret key."""
    return secrets.token_urlsafe(48)
